#![doc = include_str!("../docs/crate.md")]
// Without every feature, links to the modules and items behind the missing ones cannot
// resolve; docs.rs and CI build with all features, where every link is checked.
#![cfg_attr(
    not(all(
        feature = "memory",
        feature = "sqlite",
        feature = "postgres",
        feature = "csv",
        feature = "xlsx",
        feature = "qr",
        feature = "system",
        feature = "mock",
        feature = "key-file"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[doc(inline)]
pub use dps_core::*;
#[doc(inline)]
pub use dps_env_static::{StaticConfig, StaticEnvironment, TargetConfig};

// Named again so that the pages of the mocks show the `mock` feature.
#[cfg(feature = "mock")]
#[doc(inline)]
pub use dps_core::{MockEnvironment, MockStore};

#[cfg(feature = "memory")]
pub mod memory {
    #![doc = include_str!("../docs/memory.md")]

    #[doc(inline)]
    pub use dps_store_memory::*;
}

#[cfg(feature = "sqlite")]
pub mod sqlite {
    #![doc = include_str!("../docs/sqlite.md")]

    #[doc(inline)]
    pub use dps_store_sqlite::*;
}

#[cfg(feature = "postgres")]
pub mod postgres {
    #![doc = include_str!("../docs/postgres.md")]

    #[doc(inline)]
    pub use dps_store_postgres::*;
}

#[cfg(feature = "csv")]
pub mod csv {
    #![doc = include_str!("../docs/csv.md")]

    #[doc(inline)]
    pub use dps_csv::*;
}

#[cfg(feature = "qr")]
pub mod qr {
    #![doc = include_str!("../docs/qr.md")]

    #[doc(inline)]
    pub use dps_qr::*;
}

#[cfg(feature = "http")]
pub mod http {
    #![doc = include_str!("../docs/http.md")]

    #[doc(inline)]
    pub use dps_http::*;
}

#[cfg(feature = "webhook")]
pub mod webhook {
    #![doc = include_str!("../docs/webhook.md")]

    #[doc(inline)]
    pub use dps_env_webhook::*;
}

/// Sealing keys kept in a file (feature `key-file`): the [`KeyFile`](key_file::KeyFile)
/// provider of the [`seal`] port.
#[cfg(feature = "key-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "key-file")))]
pub mod key_file {
    #[doc(inline)]
    pub use dps_keys_file::*;
}

pub mod embedding {
    #![doc = include_str!("../docs/embedding.md")]
}
