//! A provisioning service embedded in an axum application, built on the `dps` facade alone.
//!
//! [`provisioner`] opens a SQLite file and a [`StaticEnvironment`] configured in code;
//! [`app`] is the router that serves it as JSON:
//!
//! | method and path | what it does |
//! |---|---|
//! | `POST /groups` | create a group (`name`, `default_target`, `attributes`) |
//! | `GET /groups/{group}` | a group and its number of devices |
//! | `POST /groups/{group}/import` | import a CSV body; answers the counts and every refused row |
//! | `POST /groups/{group}/allocate` | allocate the `serials` given, or every device; one outcome per device |
//! | `GET /groups/{group}/devices` | a page of devices, filtered by `status`, `batch_tag`, `model_id`, `serial_prefix`; `after` is the cursor |
//! | `GET /groups/{group}/devices/{serial}` | one device |
//! | `POST /groups/{group}/devices/{serial}/replace` | replace broken hardware (`new_serial` or a generated one, `batch_tag`) |
//! | `GET /groups/{group}/labels.zip` | the QR labels of the devices that match the same filters, as a ZIP |
//! | `GET /events` | a page of the event log; `after` is the cursor |
//!
//! Errors answer `{"code": …, "message": …}` with a status from the error's category
//! ([`ApiError`]). Responses are this service's own view types, so no secret reaches them.

mod error;
mod handlers;
mod views;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use dps::inject::OsSecrets;
use dps::key_file::KeyFile;
use dps::sqlite::{SqliteOptions, SqliteStore};
use dps::{Provisioner, StaticConfig, StaticEnvironment, TargetConfig};

pub use error::ApiError;

/// The provisioner this service runs: devices in a SQLite file, targets from configuration.
pub type Dps = Provisioner<SqliteStore, StaticEnvironment>;

/// The most devices or events one page may hold, whatever a client asks for.
pub const MAX_PAGE: usize = 1000;

/// The platform's targets, configured in code: `prod-eu/acme` with the models `thermostat`
/// and `gateway`.
///
/// # Errors
///
/// A [`dps::ValidationError`] if a configured name breaks its rule.
pub fn targets() -> Result<StaticConfig, dps::ValidationError> {
    Ok(StaticConfig {
        targets: vec![TargetConfig {
            environment: "prod-eu".parse()?,
            ou: "acme".parse()?,
            models: vec!["thermostat".parse()?, "gateway".parse()?],
            mqtt_endpoint: Some("mqtts://mqtt.eu.example.com:8883".parse()?),
            http_endpoint: None,
        }],
    })
}

/// The provisioner over the SQLite file at `db` (created when missing) and the
/// [`targets`], with the system clock, identifiers and randomness, sealing its secrets with
/// the key file beside it (`<db>.keys`, created with the database).
///
/// # Errors
///
/// The store's error when the file cannot be opened as a dps database; the key file's when it
/// cannot be read or created.
pub fn provisioner(db: &Path) -> Result<Dps, StartError> {
    let store = SqliteStore::open(db, SqliteOptions::default()).map_err(dps::Error::from)?;
    let mut key_path = db.as_os_str().to_owned();
    key_path.push(".keys");
    let keys = KeyFile::open_or_create(key_path, &OsSecrets).map_err(StartError::Keys)?;
    let env = StaticEnvironment::new(targets().map_err(dps::Error::from)?, Arc::new(OsSecrets));
    Ok(Provisioner::new(store, env).with_keys(keys))
}

/// Why [`provisioner`] could not start.
#[derive(Debug)]
pub enum StartError {
    /// The database could not be opened, or a target is misconfigured.
    Dps(dps::Error),
    /// The key file could not be read or created.
    Keys(dps::key_file::KeyFileError),
}

impl From<dps::Error> for StartError {
    fn from(e: dps::Error) -> Self {
        StartError::Dps(e)
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Dps(e) => e.fmt(f),
            StartError::Keys(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// The service's routes over one shared provisioner.
pub fn app(dps: Arc<Dps>) -> Router {
    Router::new()
        .route("/groups", post(handlers::create_group))
        .route("/groups/{group}", get(handlers::group))
        .route("/groups/{group}/import", post(handlers::import))
        .route("/groups/{group}/allocate", post(handlers::allocate))
        .route("/groups/{group}/devices", get(handlers::devices))
        .route("/groups/{group}/devices/{serial}", get(handlers::device))
        .route(
            "/groups/{group}/devices/{serial}/replace",
            post(handlers::replace),
        )
        .route("/groups/{group}/labels.zip", get(handlers::labels))
        .route("/events", get(handlers::events))
        .with_state(dps)
}
