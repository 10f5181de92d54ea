//! Secrets sealed at rest, end to end: no secret in clear in the SQLite file after the demo or
//! in a `pg_dump`, a database of the earlier release sealed on first open, refusals without
//! the key, and a key rotation killed half-way and resumed.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{Env, PgDatabase, stderr};
use dps_core::bootstrap::DeviceBootstrapKey;
use dps_core::inject::OsSecrets;
use dps_core::seal::{KeyError, KeyProvider, Keys, SealedSecret, Sealer, SecretOf};
use dps_core::{DeviceQuery, Provisioner, RoutingEnvironment, Secret, Store};
use dps_keys_file::KeyFile;
use dps_store_postgres::{PgOptions, PgStore};
use dps_store_sqlite::{SqliteOptions, SqliteStore};

/// `sealed` opened with `sealer`; a secret still in clear (an earlier release's) as it is.
fn open_any(sealer: &Sealer, sealed: &SealedSecret, of: SecretOf) -> Secret {
    match sealer.open(sealed, of) {
        Err(KeyError::InClear { .. }) => {
            // Sealed with a scratch key only to read it: nothing is written.
            let scratch = Keys::generate("scratch".parse().unwrap(), &OsSecrets);
            let scratch = Sealer::new(Arc::new(scratch), Arc::new(OsSecrets));
            let resealed = scratch.reseal(sealed, of).unwrap().unwrap();
            scratch.open(&resealed, of).unwrap()
        }
        opened => opened.unwrap(),
    }
}

/// Every secret the database holds, opened: group secrets (current and previous), device
/// secrets and the devices' bootstrap keys; and the sealing keys themselves.
async fn secrets_of(store: Arc<dyn Store>, keys: Option<KeyFile>) -> Vec<String> {
    let dps = Provisioner::new(store, RoutingEnvironment::new());
    let (dps, mut secrets) = match keys {
        Some(file) => {
            let hex = file
                .ids()
                .iter()
                .map(|id| file.keys().key(id).unwrap().to_hex());
            let hex = hex.collect();
            (dps.with_keys(file), hex)
        }
        None => (dps.with_keys(Keys::none()), Vec::new()),
    };
    let sealer = dps.sealer().clone();
    for g in dps.groups(None, 1000).await.unwrap().items {
        let of = SecretOf::Group(g.id());
        let group_secret = open_any(&sealer, g.secret(), of);
        secrets.push(group_secret.expose().to_owned());
        if let Some(previous) = g.previous_secret() {
            secrets.push(open_any(&sealer, previous, of).expose().to_owned());
        }
        let mut after = None;
        loop {
            let page = dps
                .devices(&DeviceQuery::group(g.id()), after, 1000)
                .await
                .unwrap();
            for d in &page.items {
                if let Some(a) = d.state().allocated() {
                    let sealed = &a.credentials().device_secret;
                    let secret = open_any(&sealer, sealed, SecretOf::Device(d.id()));
                    secrets.push(secret.expose().to_owned());
                }
                let key = DeviceBootstrapKey::derive(&group_secret, d.serial());
                secrets.push(key.expose_base64());
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// [`secrets_of`] a SQLite file.
fn sqlite_secrets(db: &Path, keys: Option<&Path>) -> Vec<String> {
    let keys = keys.map(|k| KeyFile::open(k).unwrap());
    runtime().block_on(async {
        let store = SqliteStore::open(db, SqliteOptions::default()).unwrap();
        secrets_of(Arc::new(store), keys).await
    })
}

/// Every byte of a SQLite database: its file, and its WAL when there is one.
fn raw_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(PathBuf::from(wal)) {
        bytes.extend(more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The first eight bytes of `bytes` as a number.
fn prefix(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// The secrets of `secrets` (each at least 8 bytes long) that `bytes` holds in clear, found in
/// one pass over `bytes`: each position's first eight bytes are looked up among the secrets'.
fn in_clear<'s>(bytes: &[u8], secrets: &'s [String]) -> Vec<&'s str> {
    let mut by_prefix: HashMap<u64, Vec<&'s str>> = HashMap::new();
    for s in secrets {
        let p = prefix(s.as_bytes()).expect("a secret of at least 8 bytes");
        by_prefix.entry(p).or_default().push(s);
    }
    let mut found: Vec<&'s str> = Vec::new();
    for i in 0..bytes.len().saturating_sub(7) {
        let Some(candidates) = prefix(&bytes[i..]).and_then(|p| by_prefix.get(&p)) else {
            continue;
        };
        for s in candidates {
            if bytes[i..].starts_with(s.as_bytes()) && !found.contains(s) {
                found.push(s);
            }
        }
    }
    found
}

#[test]
fn the_database_holds_no_secret_in_clear_after_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dps"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .env_remove("DPS_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let db = dir.path().join("dps.sqlite");
    let key_file = dir.path().join("dps.sqlite.keys");
    let secrets = sqlite_secrets(&db, Some(&key_file));
    // A group secret, 1000 bootstrap keys, the allocated devices' secrets, and the key.
    assert!(secrets.len() > 1900, "{}", secrets.len());
    let bytes = raw_bytes(&db);
    assert_eq!(in_clear(&bytes, &secrets), Vec::<&str>::new());
    assert!(
        contains(&bytes, r#""nonce":"#),
        "the secrets are there, sealed"
    );
}

#[test]
fn a_database_of_the_earlier_release_is_sealed_on_first_open() {
    let env = Env::sqlite();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dps-store-sqlite/tests/fixtures/v1.sqlite"
    );
    std::fs::copy(fixture, &env.db).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let everyone = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(&env.db, everyone).unwrap();
    }
    let db = PathBuf::from(&env.db);
    let before = sqlite_secrets(&db, None);
    assert!(before.len() > 10, "{before:?}");
    let held = in_clear(&raw_bytes(&db), &before);
    assert!(
        !held.is_empty(),
        "the earlier release kept its secrets in clear"
    );

    let out = env.run(&["group", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("created the key file"), "{said}");
    assert!(
        said.contains("that an earlier release kept in clear"),
        "{said}"
    );

    let after = sqlite_secrets(&db, Some(&env.key_file()));
    let key_hex = KeyFile::open(env.key_file()).unwrap();
    let key_hex = key_hex.keys().key(key_hex.current_id()).unwrap().to_hex();
    let mut expected = before.clone();
    expected.push(key_hex);
    expected.sort();
    assert_eq!(after, expected, "every secret opens, unchanged");
    assert_eq!(in_clear(&raw_bytes(&db), &after), Vec::<&str>::new());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Opening again finds nothing left to seal.
    let again = env.run(&["group", "list"]);
    assert!(!stderr(&again).contains("in clear"), "{}", stderr(&again));
}

/// A group `Lab` with `n` allocated thermostats, on a new SQLite database.
fn allocated_lab(n: usize) -> Env {
    with_allocated_lab(Env::sqlite(), n)
}

/// A group `Lab` with `n` allocated thermostats in `env`'s database.
fn with_allocated_lab(env: Env, n: usize) -> Env {
    let env = env.with_lab(&[]);
    let count = n.to_string();
    let args = [
        "device",
        "generate",
        "--group",
        "Lab",
        "--count",
        &count,
        "--model",
        "thermostat",
    ];
    env.ok_json(&args);
    let allocated = env.ok_json(&["device", "allocate", "--group", "Lab", "--all"]);
    assert_eq!(allocated["succeeded"], n);
    env
}

fn export_secrets(env: &Env, name: &str) -> std::process::Output {
    let path = env.path(name);
    let path = path.to_str().unwrap();
    env.run(&[
        "device",
        "export",
        "--group",
        "Lab",
        "--all",
        "--include-secrets",
        "-o",
        path,
    ])
}

#[test]
fn without_its_key_a_database_lists_and_edits_but_refuses_what_needs_a_secret() {
    let env = allocated_lab(3);
    env.ok_json(&[
        "device", "generate", "--group", "Lab", "--count", "1", "--model", "meter",
    ]);
    std::fs::rename(env.key_file(), env.path("elsewhere.keys")).unwrap();

    let listed = env.ok_json(&["device", "list", "--group", "Lab"]);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let serial = items[0]["serial"].as_str().unwrap().to_owned();
    env.ok_json(&[
        "device", "edit", "--group", "Lab", &serial, "--name", "Boiler",
    ]);
    assert!(
        !env.key_file().exists(),
        "no key is made up for sealed secrets"
    );

    let refused = [
        export_secrets(&env, "secrets.csv"),
        env.run(&["device", "allocate", "--group", "Lab", "--all"]),
        env.run(&["device", "bootstrap", "--group", "Lab", &serial]),
        env.run(&["group", "rotate-secret", "Lab"]),
        env.run(&["group", "create", "--name", "Other"]),
        env.run(&["keys", "list"]),
    ];
    for out in &refused {
        let said = stderr(out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains("key unavailable") || said.contains("no key file"),
            "{said}"
        );
        assert!(said.contains("--key-file"), "{said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
    assert!(
        !env.path("secrets.csv").exists(),
        "nothing is written undecrypted"
    );
    let still = env.ok_json(&["device", "list", "--group", "Lab", "--status", "allocated"]);
    assert_eq!(still["items"].as_array().unwrap().len(), 3);

    // Another key under the same name is a wrong key: refused, naming the key it needs.
    KeyFile::create(env.key_file(), &OsSecrets).unwrap();
    let out = export_secrets(&env, "secrets.csv");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("which is not available"),
        "{}",
        stderr(&out)
    );
    std::fs::rename(env.path("elsewhere.keys"), env.key_file()).unwrap();
    assert!(export_secrets(&env, "secrets.csv").status.success());
}

/// How many secrets each key of the database's key file seals, by `dps keys list`.
fn sealed_by_key(env: &Env) -> Vec<(String, u64)> {
    let listed = env.ok_json(&["keys", "list"]);
    listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let id = k["id"].as_str().unwrap().to_owned();
            (id, k["secrets"].as_u64().unwrap())
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn a_rotation_killed_half_way_resumes_and_the_old_key_can_go() {
    use std::io::{BufRead, BufReader};

    let env = allocated_lab(3000);
    assert!(export_secrets(&env, "before.csv").status.success());
    let before = std::fs::read_to_string(env.path("before.csv")).unwrap();
    let old = sealed_by_key(&env)[0].0.clone();

    let mut child = Command::new(env!("CARGO_BIN_EXE_dps"))
        .current_dir(env.dir.path())
        .env_remove("DPS_KEY_FILE")
        .args(["--db", &env.db, "keys", "rotate", "--page-size", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Killed once the first page of secrets is sealed with the new key.
    loop {
        let line = lines.next().expect("a progress line").unwrap();
        if line.starts_with("resealed ") {
            break;
        }
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());

    let counts = sealed_by_key(&env);
    assert_eq!(counts.len(), 2, "{counts:?}");
    let (new, on_new) = counts[0].clone();
    let on_old = counts[1].1;
    assert_eq!(counts[1].0, old);
    assert!(on_new > 0 && on_old > 0, "killed half-way: {counts:?}");
    assert_eq!(
        on_new + on_old,
        3001,
        "every secret is sealed with one of the two"
    );
    assert!(export_secrets(&env, "halfway.csv").status.success());
    assert_eq!(
        std::fs::read_to_string(env.path("halfway.csv")).unwrap(),
        before
    );

    let resumed = env.ok_json(&["keys", "rotate"]);
    assert_eq!(resumed["added"], false, "{resumed}");
    assert_eq!(resumed["current"], new.as_str());
    assert_eq!(resumed["deletable"], serde_json::json!([old]));
    assert_eq!(
        sealed_by_key(&env),
        vec![(new.clone(), 3001), (old.clone(), 0)]
    );
    let again = env.ok_json(&["keys", "reseal"]);
    assert_eq!(again["resealed"]["device_secrets"], 0, "{again}");

    env.ok_json(&["keys", "delete", &old]);
    assert_eq!(sealed_by_key(&env), vec![(new, 3001)]);
    assert!(export_secrets(&env, "after.csv").status.success());
    assert_eq!(
        std::fs::read_to_string(env.path("after.csv")).unwrap(),
        before
    );
    let serial = before.lines().nth(1).unwrap().split(',').next().unwrap();
    let booted = env.ok_json(&["device", "bootstrap", "--group", "Lab", serial]);
    assert!(
        booted["credentials"]["device_secret"].is_string(),
        "{booted}"
    );
}

#[test]
fn a_key_that_still_seals_secrets_is_not_deleted() {
    let env = allocated_lab(2);
    let current = sealed_by_key(&env)[0].0.clone();
    let out = env.run(&["keys", "delete", &current]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("still seals 3 secrets"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["keys", "delete", "k-nothing"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_pg_dump_holds_no_secret_in_clear() {
    let Some(pg) = PgDatabase::create("sealing") else {
        return;
    };
    let env = Env::on(pg.db.clone()).with_lab(&[]);
    let args = [
        "device",
        "generate",
        "--group",
        "Lab",
        "--count",
        "50",
        "--model",
        "thermostat",
    ];
    env.ok_json(&args);
    env.ok_json(&["device", "allocate", "--group", "Lab", "--all"]);
    env.ok_json(&["group", "rotate-secret", "Lab"]);
    let secrets = runtime().block_on(async {
        let store = PgStore::connect(&pg.db, PgOptions::default())
            .await
            .unwrap();
        secrets_of(
            Arc::new(store),
            Some(KeyFile::open(env.key_file()).unwrap()),
        )
        .await
    });
    // Two group secrets, 50 device secrets and bootstrap keys, and the key.
    assert!(secrets.len() >= 103, "{}", secrets.len());
    let dump = Command::new("pg_dump").arg(&pg.db).output().unwrap();
    assert!(dump.status.success(), "{}", stderr(&dump));
    assert_eq!(in_clear(&dump.stdout, &secrets), Vec::<&str>::new());
    assert!(
        contains(&dump.stdout, r#""nonce""#),
        "the secrets are there, sealed"
    );
}
