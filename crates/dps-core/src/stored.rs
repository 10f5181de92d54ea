//! The stored form of records, for [`Store`](crate::Store) implementers: what a backend
//! persists for a group, a device, an event and an access token, with an explicit format
//! version.
//!
//! The domain types ([`Device`](crate::Device), [`RegistrationGroup`](crate::RegistrationGroup),
//! [`NewEvent`](crate::NewEvent)) may change their fields from one release to the next; the
//! stored form does not. [`StoredDevice`], [`StoredGroup`], [`StoredEvent`] and
//! [`StoredToken`] have their own serde field names and convert to and from the domain types,
//! so a database written by one release reads back in the next.
//!
//! Unlike the domain types, whose JSON leaves every secret out, the stored form keeps the
//! group secrets and device secrets, since a store must persist them, but only
//! [sealed](crate::seal): `{"key": …, "nonce": …, "sealed": …}`, the key's identifier beside
//! the nonce and the ciphertext in base64, neither of which reveals the secret without the
//! key. An access token is stored by the hash of its text only (as 64 hex digits), never by
//! its text.
//!
//! # Format versions
//!
//! Every record carries `"format"`, the version of the stored form it was written in;
//! [`FORMAT_VERSION`] is the version this code writes and the newest it reads. A record
//! without the field was written before the field existed and is version 1, the form that
//! version 1 still is. Version 2 seals secrets; version 1 kept them as text, which still
//! reads, as a secret in clear that is not used until
//! [`Provisioner::reseal`](crate::Provisioner::reseal) seals it; a record that still holds one
//! is written back as version 1, and a record of version 2 with a secret in clear is refused
//! as corrupt. A record of a newer version is refused with
//! [`StoreError::Corrupt`] whose source is an [`UnsupportedFormat`] naming the version found
//! and the one supported, rather than being read in part. Any change to what is stored
//! raises [`FORMAT_VERSION`], and decoding keeps reading every older version.
//!
//! Leaf values (identifiers, validated texts such as serial numbers, timestamps as Unix
//! milliseconds, dates, secrets) are stored in the text or number form that their
//! `Display`/`FromStr` or `unix_millis` define, and are validated again when read.
//!
//! # SQL rows
//!
//! [`DeviceColumns`] and [`GroupColumns`] are the rows that the SQL backends keep: the
//! stored record as JSON (`data`) beside the columns that queries filter and sort on, and
//! [`device_conditions`] turns a [`DeviceQuery`](crate::DeviceQuery) into conditions on those
//! columns, so that every SQL backend indexes and filters the same way.
//!
//! ```
//! use dps::stored::{self, StoredDevice};
//! # use std::sync::Arc;
//! # use dps::*;
//! # use dps::seal::{Keys, SealingKey, Sealer, SecretOf};
//! # let keys = Keys::new("k1".parse()?, SealingKey::from_bytes([7; 32]));
//! # let sealer = Sealer::new(Arc::new(keys), Arc::new(dps::inject::OsSecrets));
//! # let id = GroupId::from_uuid(Uuid::from_u128(1));
//! # let secret = sealer.seal(&Secret::new("s")?, SecretOf::Group(id))?;
//! # let group = RegistrationGroup::new(id, NewGroup::new("g".parse()?), secret,
//! #     Timestamp::from_unix_millis(0));
//! # let device = Device::register(DeviceId::from_uuid(Uuid::from_u128(2)), &group,
//! #     NewDevice::new("SN-1".parse()?, "m1".parse()?), Timestamp::from_unix_millis(0))?;
//! let json = StoredDevice::from(&device).to_json()?;
//! assert!(json.starts_with(r#"{"format":2,"#));
//! assert_eq!(Device::from(StoredDevice::from_json(&json)?), device);
//! assert_eq!(stored::decode_device(&json)?, device);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod device;
mod event;
mod group;
mod job;
mod row;
mod secret;
mod token;

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;

pub use device::{StoredDevice, decode_device};
pub use event::{StoredEvent, decode_event, encode_event};
pub use group::{StoredGroup, decode_group};
pub use job::{StoredJob, decode_job};
pub(crate) use job::{decode_outcomes, encode_outcomes};
pub use row::{
    ColumnValue, Comparison, Condition, DeviceColumns, GroupColumns, device_conditions,
    status_code, version_column,
};
pub use token::{StoredToken, decode_token};

/// The version of the stored form that this code writes, and the newest one it reads.
pub const FORMAT_VERSION: u64 = 2;

/// The version of records written before records named their version.
const UNVERSIONED: u64 = 1;

fn unversioned() -> u64 {
    UNVERSIONED
}

/// The kinds of stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Record {
    /// A registration group.
    Group,
    /// A device.
    Device,
    /// An event of the log.
    Event,
    /// An access token.
    Token,
    /// A [job](crate::job).
    Job,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Record::Group => "group",
            Record::Device => "device",
            Record::Event => "event",
            Record::Job => "job",
            Record::Token => "token",
        })
    }
}

/// A stored record in a format version this code does not read: written by a newer release
/// (or damaged). The source of the [`StoreError::Corrupt`] that decoding returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{record} record is in stored format version {found}; this version of dps reads versions 1 to {supported}"
)]
pub struct UnsupportedFormat {
    /// The kind of record.
    pub record: Record,
    /// The format version the record names.
    pub found: u64,
    /// The newest format version this code reads ([`FORMAT_VERSION`]).
    pub supported: u64,
}

impl UnsupportedFormat {
    fn into_store_error(self) -> StoreError {
        let newer = if self.found > self.supported {
            ", written by a newer version of dps"
        } else {
            ""
        };
        StoreError::Corrupt {
            message: format!("{self}{newer}"),
            source: Some(Box::new(self)),
        }
    }
}

/// Only the format version of a record, to name it when the record does not decode.
#[derive(Deserialize)]
struct FormatOnly {
    #[serde(default = "unversioned")]
    format: u64,
}

/// A stored record type that names its format version.
trait Versioned: DeserializeOwned {
    const RECORD: Record;
    fn format(&self) -> u64;
    /// Whether the record holds a secret in clear, which only format version 1 may.
    fn holds_clear_secret(&self) -> bool {
        false
    }
}

/// The first format version that seals secrets; records of earlier versions kept them in
/// clear.
const SEALED_SINCE: u64 = 2;

/// The format version to write a record in: the current one, or version 1 while the record
/// still holds a secret in clear (it came from a database of an earlier release and no
/// reseal has sealed it yet), so that a secret in clear is never read from a record of a
/// version that seals.
fn format_for(clear_secret: bool) -> u64 {
    if clear_secret {
        UNVERSIONED
    } else {
        FORMAT_VERSION
    }
}

/// Checks a record's format version.
fn check_format(record: Record, found: u64) -> Result<(), StoreError> {
    if (1..=FORMAT_VERSION).contains(&found) {
        Ok(())
    } else {
        Err(UnsupportedFormat {
            record,
            found,
            supported: FORMAT_VERSION,
        }
        .into_store_error())
    }
}

/// Decodes a stored record from JSON, refusing format versions this code does not read.
fn decode<T: Versioned>(data: &str) -> Result<T, StoreError> {
    match serde_json::from_str::<T>(data) {
        Ok(record) => {
            check_format(T::RECORD, record.format())?;
            if record.format() >= SEALED_SINCE && record.holds_clear_secret() {
                return Err(StoreError::Corrupt {
                    message: format!(
                        "{} record of format version {} holds a secret in clear",
                        T::RECORD,
                        record.format()
                    ),
                    source: None,
                });
            }
            Ok(record)
        }
        Err(e) => {
            // A newer format need not decode as this one: name its version, not the symptom.
            if let Ok(FormatOnly { format }) = serde_json::from_str(data) {
                check_format(T::RECORD, format)?;
            }
            Err(StoreError::Corrupt {
                message: format!("{} record does not decode: {e}", T::RECORD),
                source: Some(Box::new(e)),
            })
        }
    }
}

/// Encodes a stored record as JSON.
fn encode<T: serde::Serialize>(record: Record, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::backend(format!("encode {record}"), e))
}

/// The error for a stored value that decodes but does not make a valid domain value.
fn invalid(record: Record, e: impl fmt::Display) -> StoreError {
    StoreError::Corrupt {
        message: format!("{record} record holds an invalid value: {e}"),
        source: None,
    }
}

/// The stored form of a target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct StoredTarget {
    environment: crate::text::EnvironmentId,
    ou: crate::text::OuId,
}

impl From<crate::text::Target> for StoredTarget {
    fn from(t: crate::text::Target) -> Self {
        Self {
            environment: t.environment,
            ou: t.ou,
        }
    }
}

impl From<StoredTarget> for crate::text::Target {
    fn from(t: StoredTarget) -> Self {
        crate::text::Target::new(t.environment, t.ou)
    }
}

#[cfg(test)]
mod tests;
