//! **dps**: device provisioning for Rust services.
//!
//! Registration groups of devices known by serial number; an allocation state machine that
//! hands devices to a target environment/OU, resets, reallocates, replaces and deletes them
//! with one outcome per device; a crash-safe conversation with the platform; CSV import and
//! export; QR labels as a ZIP; and stores in memory, in one SQLite file, or in PostgreSQL for
//! several service instances.
//!
//! This crate re-exports [`dps_core`] (the domain: [`Provisioner`], [`Store`],
//! [`Environment`], the records and their validated fields) and [`dps_env_static`] (the
//! [`StaticEnvironment`] that serves targets from configuration) at its root, and each adapter
//! as a module behind a feature:
//!
//! | feature        | default | module       | what it adds |
//! |----------------|---------|--------------|--------------|
//! | `memory`       | yes     | [`memory`]   | `InMemoryStore`, the reference store |
//! | `system`       | yes     |              | the system clock, UUID v7 identifiers and OS randomness ([`Provisioner::new`]) |
//! | `sqlite`       | no      | `sqlite`     | `SqliteStore`, one embedded SQLite file |
//! | `postgres`     | no      | `postgres`   | `PgStore`, PostgreSQL for several service instances |
//! | `postgres-tls` | no      |              | TLS for `PgStore` (rustls) |
//! | `csv`          | no      | `csv`        | the CSV template, streaming import with per-row errors, export |
//! | `qr`           | no      | `qr`         | QR label payloads, PNG/SVG rendering, streamed ZIP archives |
//! | `mock`         | no      |              | `MockStore` and `MockEnvironment` (mockall) |
//!
//! # Example
//!
//! The whole flow: a group with a default target, devices imported from CSV, allocated, a QR
//! label archive, a replacement and the event log. It needs the `csv` and `qr` features; any
//! store works the same way.
//!
//! ```
//! # #[cfg(all(feature = "memory", feature = "csv", feature = "qr", feature = "system"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use dps::inject::OsSecrets;
//! use dps::memory::InMemoryStore;
//! use dps::state::AllocationStatus;
//! use dps::*;
//!
//! // Where devices go: one target with one model.
//! let targets: StaticConfig = StaticConfig {
//!     targets: vec![TargetConfig {
//!         environment: "prod-eu".parse()?,
//!         ou: "acme".parse()?,
//!         models: vec!["thermostat".parse()?],
//!         mqtt_endpoint: None,
//!         http_endpoint: None,
//!     }],
//! };
//! let dps = Provisioner::new(
//!     InMemoryStore::new(),
//!     StaticEnvironment::new(targets, Arc::new(OsSecrets)),
//! );
//!
//! let mut settings = NewGroup::new("Building 7".parse()?);
//! settings.default_target = Some("prod-eu/acme".parse()?);
//! let group = dps.create_group(settings).await?;
//!
//! // Import a spreadsheet's CSV; bad rows are reported with line, column and code.
//! let file = "Device Serial No.,Model ID\nSN-0001,thermostat\nSN-0002,thermostat\nSN 3,thermostat\n";
//! let imported = dps::csv::import(&dps, group.id(), file.as_bytes(), &Default::default()).await?;
//! assert_eq!(imported.summary.created, 2);
//! let bad = imported.errors().next().unwrap();
//! assert_eq!((bad.line, bad.code), (4, "invalid_serial"));
//!
//! // Allocate everything: one outcome per device.
//! let report = dps.allocate(group.id(), &Selection::all()).await?;
//! assert_eq!(report.succeeded(), 2);
//!
//! // QR labels for the installers, as a ZIP.
//! let mut zip = Vec::new();
//! dps::qr::export_zip(&dps, group.id(), &Selection::all(), &mut zip, Default::default()).await?;
//! assert!(zip.starts_with(b"PK"));
//!
//! // Broken hardware: a new serial, the same asset, new credentials.
//! let replaced = dps
//!     .replace(
//!         group.id(),
//!         &"SN-0001".parse()?,
//!         ReplaceRequest {
//!             new_serial: NewSerial::Given("SN-0001-B".parse()?),
//!             batch_tag: "rma-17".parse()?,
//!             description: None,
//!         },
//!     )
//!     .await?;
//! assert_eq!(replaced.status(), AllocationStatus::Allocated);
//!
//! // Every change is in the event log.
//! let events = dps.events(EventCursor::START, 100).await?;
//! assert!(events.len() >= 8);
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "memory", feature = "csv", feature = "qr", feature = "system")))]
//! # fn main() {}
//! ```
#![deny(missing_docs)]

#[doc(inline)]
pub use dps_core::*;
#[doc(inline)]
pub use dps_env_static::{StaticConfig, StaticEnvironment, TargetConfig};

/// The in-memory store (feature `memory`).
#[cfg(feature = "memory")]
pub mod memory {
    #[doc(inline)]
    pub use dps_store_memory::*;
}

/// The embedded SQLite store (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub mod sqlite {
    #[doc(inline)]
    pub use dps_store_sqlite::*;
}

/// The PostgreSQL store (feature `postgres`).
#[cfg(feature = "postgres")]
pub mod postgres {
    #[doc(inline)]
    pub use dps_store_postgres::*;
}

/// The CSV codec (feature `csv`).
#[cfg(feature = "csv")]
pub mod csv {
    #[doc(inline)]
    pub use dps_csv::*;
}

/// QR labels (feature `qr`).
#[cfg(feature = "qr")]
pub mod qr {
    #[doc(inline)]
    pub use dps_qr::*;
}
