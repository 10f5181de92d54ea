//! `dps keys`: list the sealing keys, rotate to a new one, delete an old one.

use std::sync::Arc;

use dps_core::inject::OsSecrets;
use dps_core::{Config, KeyId, Provisioner, ResealReport, SecretsByKey};
use dps_keys_file::KeyFile;
use serde::Serialize;

use crate::cli::KeysCommand;
use crate::context::{Dps, Targets};
use crate::database::{Database, key_file_failure};
use crate::output::print_json;
use crate::{CliResult, Failure};

/// One key as `dps keys list` prints it.
#[derive(Debug, Serialize)]
struct KeyOut<'a> {
    id: &'a str,
    current: bool,
    /// How many stored secrets it seals.
    secrets: u64,
}

/// What `dps keys list` prints.
#[derive(Debug, Serialize)]
struct KeysOut<'a> {
    file: String,
    keys: Vec<KeyOut<'a>>,
    /// Secrets that the key file holds no key for, by the key that sealed them.
    unknown: Vec<KeyOut<'a>>,
    /// Secrets still in clear.
    in_clear: u64,
}

/// What `dps keys rotate` prints.
#[derive(Debug, Serialize)]
struct RotateOut<'a> {
    current: &'a str,
    /// Whether this run added the current key (rather than finishing an earlier rotation).
    added: bool,
    resealed: &'a ResealReport,
    /// Old keys that seal nothing now and may be deleted.
    deletable: Vec<&'a str>,
}

/// Runs `dps keys …`.
pub(crate) async fn run(db: &Database, command: KeysCommand, json: bool) -> CliResult<u8> {
    // The hint at the key file is added where every key_unavailable refusal gets it.
    let keys = db
        .keys
        .clone()
        .ok_or_else(|| Failure::invalid("key_unavailable", "key unavailable: no key file"))?;
    match command {
        KeysCommand::List => list(db, &keys, json).await,
        KeysCommand::Rotate { page_size } => rotate(db, keys, true, page_size, json).await,
        KeysCommand::Reseal { page_size } => rotate(db, keys, false, page_size, json).await,
        KeysCommand::Delete { key } => delete(db, keys, &key, json).await,
    }
}

/// A provisioner over the database with `keys` that reads and reseals `page_size` records at
/// a time, for resealing and counting.
fn provisioner(db: &Database, keys: &KeyFile, page_size: usize) -> CliResult<Dps> {
    let env = Targets::default().environment(false)?;
    Ok(Provisioner::builder(Arc::clone(&db.store), env)
        .config(Config::default().with_page_size(page_size))
        .keys(keys.clone())
        .build())
}

/// How many records `dps keys list` and `dps keys delete` read at a time.
const PAGE: usize = 1000;

async fn list(db: &Database, keys: &KeyFile, json: bool) -> CliResult<u8> {
    let counts = provisioner(db, keys, PAGE)?.secrets_by_key().await?;
    let out = KeysOut {
        file: keys.path().display().to_string(),
        keys: keys
            .ids()
            .iter()
            .map(|id| KeyOut {
                id: id.as_str(),
                current: id == keys.current_id(),
                secrets: counts.sealed_with(id),
            })
            .collect(),
        unknown: counts
            .sealed
            .iter()
            .filter(|(id, _)| !keys.ids().contains(id))
            .map(|(id, n)| KeyOut {
                id: id.as_str(),
                current: false,
                secrets: *n,
            })
            .collect(),
        in_clear: counts.in_clear,
    };
    if json {
        print_json(&out)?;
        return Ok(0);
    }
    println!("key file {}", out.file);
    for k in &out.keys {
        let mark = if k.current { " (current)" } else { "" };
        println!("  {}{mark}: seals {} secrets", k.id, k.secrets);
    }
    for k in &out.unknown {
        println!(
            "  {} (not in the key file): seals {} secrets",
            k.id, k.secrets
        );
    }
    if out.in_clear > 0 {
        println!("  {} secrets in clear", out.in_clear);
    }
    Ok(0)
}

/// Old keys of `keys` that seal nothing according to `counts`.
fn deletable<'k>(keys: &'k KeyFile, counts: &SecretsByKey) -> Vec<&'k KeyId> {
    keys.ids()
        .iter()
        .filter(|id| *id != keys.current_id() && counts.sealed_with(id) == 0)
        .collect()
}

/// `dps keys rotate` (`add`: a new key, unless an earlier rotation is unfinished) and
/// `dps keys reseal` (no new key).
async fn rotate(
    db: &Database,
    mut keys: KeyFile,
    add: bool,
    page_size: usize,
    json: bool,
) -> CliResult<u8> {
    // A key file with old keys still in it is a rotation to finish, not one to start.
    let added = add && keys.ids().len() == 1;
    if added {
        let new = keys.rotate(&OsSecrets).map_err(key_file_failure)?;
        if !json {
            eprintln!("added key {new} to {}; resealing", keys.path().display());
        }
    } else if !json {
        eprintln!("resealing with key {}", keys.current_id());
    }
    let dps = provisioner(db, &keys, page_size)?;
    let report = dps
        .reseal(|r| {
            if !json {
                eprintln!("resealed {} secrets", r.secrets());
            }
        })
        .await?;
    db.compact().await?;
    let counts = dps.secrets_by_key().await?;
    let deletable = deletable(&keys, &counts);
    if json {
        print_json(&RotateOut {
            current: keys.current_id().as_str(),
            added,
            resealed: &report,
            deletable: deletable.iter().map(|k| k.as_str()).collect(),
        })?;
    } else {
        let elsewhere: u64 = counts
            .sealed
            .iter()
            .filter(|(id, _)| *id != keys.current_id())
            .map(|(_, n)| n)
            .sum::<u64>()
            + counts.in_clear;
        if elsewhere == 0 {
            println!(
                "every secret is sealed with key {} ({} resealed now)",
                keys.current_id(),
                report.secrets()
            );
        } else {
            println!(
                "{} secrets resealed with key {}; {elsewhere} are not (they changed meanwhile or do not open): run dps keys reseal again",
                report.secrets(),
                keys.current_id()
            );
        }
        for old in &deletable {
            println!("key {old} seals nothing now and may be deleted: dps keys delete {old}");
        }
        if add && !added {
            println!("a new rotation starts once the old keys are deleted");
        }
    }
    Ok(u8::from(report.skipped > 0))
}

async fn delete(db: &Database, mut keys: KeyFile, key: &str, json: bool) -> CliResult<u8> {
    let id: KeyId = key.parse()?;
    let counts = provisioner(db, &keys, PAGE)?.secrets_by_key().await?;
    let sealed = counts.sealed_with(&id);
    if sealed > 0 {
        return Err(Failure::invalid(
            "key_in_use",
            format!("key {id} still seals {sealed} secrets: run dps keys rotate first"),
        ));
    }
    keys.remove(&id).map_err(key_file_failure)?;
    if json {
        print_json(&serde_json::json!({ "deleted": id.as_str() }))?;
    } else {
        println!("deleted key {id} from {}", keys.path().display());
    }
    Ok(0)
}
