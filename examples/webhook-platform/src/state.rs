//! The platform's records: live assets, first answers by operation ID, and the data file.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::signature::hex;

/// A target: environment and OU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The environment, such as `prod-eu`.
    pub environment: String,
    /// The organisational unit, such as `acme`.
    pub ou: String,
}

/// The device facts an `onboard` call carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Device {
    pub(crate) device_id: String,
    pub(crate) serial: String,
    pub(crate) model_id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// A webhook request body, by its `call`: a single call, or a batch of them. A single
/// mutating call is also what the data file keeps, to tell a repeat from another request
/// under the same operation ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub(crate) enum Request {
    ModelExists {
        #[allow(dead_code)]
        target: Target,
        model_id: String,
    },
    Onboard {
        operation_id: String,
        target: Target,
        device: Device,
    },
    Offboard {
        operation_id: String,
        target: Target,
        asset_id: String,
    },
    Reissue {
        operation_id: String,
        target: Target,
        asset_id: String,
        new_serial: String,
    },
    Endpoints {
        #[allow(dead_code)]
        target: Target,
    },
    OnboardMany {
        target: Target,
        items: Vec<OnboardItem>,
    },
    OffboardMany {
        target: Target,
        items: Vec<OffboardItem>,
    },
    ReissueMany {
        target: Target,
        items: Vec<ReissueItem>,
    },
}

impl Request {
    /// The operation ID of a single mutating call.
    pub(crate) fn operation_id(&self) -> Option<&str> {
        match self {
            Request::Onboard { operation_id, .. }
            | Request::Offboard { operation_id, .. }
            | Request::Reissue { operation_id, .. } => Some(operation_id),
            _ => None,
        }
    }

    /// The single calls of a batch call, each with the batch's target; `None` for a single
    /// call.
    pub(crate) fn into_singles(self) -> Option<Vec<Request>> {
        Some(match self {
            Request::OnboardMany { target, items } => items
                .into_iter()
                .map(|i| Request::Onboard {
                    operation_id: i.operation_id,
                    target: target.clone(),
                    device: i.device,
                })
                .collect(),
            Request::OffboardMany { target, items } => items
                .into_iter()
                .map(|i| Request::Offboard {
                    operation_id: i.operation_id,
                    target: target.clone(),
                    asset_id: i.asset_id,
                })
                .collect(),
            Request::ReissueMany { target, items } => items
                .into_iter()
                .map(|i| Request::Reissue {
                    operation_id: i.operation_id,
                    target: target.clone(),
                    asset_id: i.asset_id,
                    new_serial: i.new_serial,
                })
                .collect(),
            _ => return None,
        })
    }

    /// The operation IDs a batch call's items carry.
    pub(crate) fn item_operations(&self) -> Vec<&str> {
        match self {
            Request::OnboardMany { items, .. } => {
                items.iter().map(|i| i.operation_id.as_str()).collect()
            }
            Request::OffboardMany { items, .. } => {
                items.iter().map(|i| i.operation_id.as_str()).collect()
            }
            Request::ReissueMany { items, .. } => {
                items.iter().map(|i| i.operation_id.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// One item of `onboard_many`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OnboardItem {
    operation_id: String,
    device: Device,
}

/// One item of `offboard_many`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OffboardItem {
    operation_id: String,
    asset_id: String,
}

/// One item of `reissue_many`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReissueItem {
    operation_id: String,
    asset_id: String,
    new_serial: String,
}

/// A device the platform holds, as `GET /_platform/state` shows it (without its secret).
///
/// `Debug` leaves the device secret out too.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Asset {
    /// The target the asset lives in.
    pub target: Target,
    /// dps's device ID.
    pub device_id: String,
    /// The device's serial number (the latest `new_serial` after a reissue).
    pub serial: String,
    /// The device's model.
    pub model_id: String,
    /// The device's name, if it has one.
    pub name: Option<String>,
    /// The current product key.
    pub product_key: String,
    /// The current device key.
    pub device_key: String,
    /// The current device secret (never shown by `GET /_platform/state`).
    #[serde(skip_serializing)]
    pub(crate) device_secret: String,
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asset")
            .field("target", &self.target)
            .field("device_id", &self.device_id)
            .field("serial", &self.serial)
            .field("model_id", &self.model_id)
            .field("name", &self.name)
            .field("product_key", &self.product_key)
            .field("device_key", &self.device_key)
            .finish_non_exhaustive()
    }
}

/// The fresh credentials of an onboard or a reissue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Keys {
    pub(crate) product_key: String,
    pub(crate) device_key: String,
    pub(crate) device_secret: String,
}

impl Keys {
    pub(crate) fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A new asset ID with its keys, from one draw of the random source.
    pub(crate) fn random_asset() -> Result<(String, Self), getrandom::Error> {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes)?;
        let (asset, keys) = bytes.split_at(16);
        Ok((format!("asset-{}", hex(asset)), Self::from_bytes(keys)))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let (product, rest) = bytes.split_at(8);
        let (device, secret) = rest.split_at(8);
        Self {
            product_key: format!("pk-{}", hex(product)),
            device_key: format!("dk-{}", hex(device)),
            device_secret: hex(secret),
        }
    }
}

/// What an applied mutation changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub(crate) enum Effect {
    Onboarded {
        asset_id: String,
        asset: StoredAsset,
    },
    Offboarded {
        target: Target,
        asset_id: String,
    },
    Reissued {
        target: Target,
        asset_id: String,
        serial: String,
        keys: Keys,
    },
}

/// An asset as the data file holds it: with its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAsset {
    target: Target,
    device_id: String,
    serial: String,
    model_id: String,
    name: Option<String>,
    keys: Keys,
}

impl StoredAsset {
    pub(crate) fn new(target: Target, device: Device, keys: Keys) -> Self {
        Self {
            target,
            device_id: device.device_id,
            serial: device.serial,
            model_id: device.model_id,
            name: device.name,
            keys,
        }
    }
}

/// The answer to a mutating call, as it was first given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Answer {
    /// `onboard`'s: the asset and its credentials.
    Onboarded {
        asset_id: String,
        #[serde(flatten)]
        keys: Keys,
    },
    /// `reissue`'s: the new credentials.
    Reissued(Keys),
    /// `offboard`'s: `{}`.
    Offboarded {},
}

/// One line of the data file: an applied mutation and its first answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The `Idempotency-Key` (the operation ID).
    pub(crate) key: String,
    /// The request (a single call), to tell a repeat from a different request under the
    /// same key.
    pub(crate) request: Request,
    /// The first answer's body.
    pub(crate) answer: Answer,
    /// What the request changed.
    #[serde(flatten)]
    pub(crate) effect: Effect,
}

/// The first answer given under an operation ID.
#[derive(Debug, Clone)]
pub(crate) struct FirstAnswer {
    pub(crate) request: Request,
    pub(crate) answer: Answer,
}

/// Everything the platform knows, guarded by one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) assets: HashMap<String, Asset>,
    pub(crate) answers: HashMap<String, FirstAnswer>,
    pub(crate) applied: HashMap<String, u64>,
    pub(crate) requested: HashMap<String, u64>,
    pub(crate) log: Option<DataFile>,
}

impl State {
    /// Records `entry` as applied: its effect, its first answer, one more application.
    pub(crate) fn apply(&mut self, entry: Entry) {
        match entry.effect {
            Effect::Onboarded { asset_id, asset } => {
                self.assets.insert(
                    asset_id,
                    Asset {
                        target: asset.target,
                        device_id: asset.device_id,
                        serial: asset.serial,
                        model_id: asset.model_id,
                        name: asset.name,
                        product_key: asset.keys.product_key,
                        device_key: asset.keys.device_key,
                        device_secret: asset.keys.device_secret,
                    },
                );
            }
            Effect::Offboarded { target, asset_id } => {
                if self
                    .assets
                    .get(&asset_id)
                    .is_some_and(|a| a.target == target)
                {
                    self.assets.remove(&asset_id);
                }
            }
            Effect::Reissued {
                target,
                asset_id,
                serial,
                keys,
            } => {
                if let Some(asset) = self
                    .assets
                    .get_mut(&asset_id)
                    .filter(|a| a.target == target)
                {
                    asset.serial = serial;
                    asset.product_key = keys.product_key;
                    asset.device_key = keys.device_key;
                    asset.device_secret = keys.device_secret;
                }
            }
        }
        *self.applied.entry(entry.key.clone()).or_default() += 1;
        self.answers.insert(
            entry.key,
            FirstAnswer {
                request: entry.request,
                answer: entry.answer,
            },
        );
    }
}

/// The append-only data file: one JSON [`Entry`] a line.
#[derive(Debug)]
pub(crate) struct DataFile {
    path: PathBuf,
    file: File,
    /// The length of the file's complete lines, where the next line goes.
    len: u64,
}

impl DataFile {
    /// Opens (or creates) the file at `path` and replays it into `state`.
    ///
    /// A last line without its newline is a write that was never answered: it is cut off.
    pub(crate) fn open(path: &Path, state: &mut State) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut reader = BufReader::new(&file);
        let mut len = 0u64;
        let mut line = String::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io)?;
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            number += 1;
            let entry: Entry = serde_json::from_str(&line).map_err(|e| Error::Corrupt {
                path: path.to_owned(),
                line: number,
                reason: e.to_string(),
            })?;
            state.apply(entry);
            len += read as u64;
        }
        drop(reader);
        if file.metadata().map_err(io)?.len() != len {
            file.set_len(len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        if !existed {
            sync_parent(path).map_err(io)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            len,
        })
    }

    /// Appends `entry` as one line and waits until it is on disk.
    ///
    /// On failure the file is cut back to its complete lines, so a later append starts clean.
    pub(crate) fn append(&mut self, entry: &Entry) -> Result<(), String> {
        let mut line = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(format!(
                    "cannot write the data file {}: {e}",
                    self.path.display()
                ))
            }
        }
    }
}

/// Makes a newly created file's directory entry durable, as its synced lines are.
#[cfg(unix)]
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Directories cannot be opened for syncing here; the file's own sync is what there is.
#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
