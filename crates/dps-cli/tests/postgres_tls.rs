//! The built `dps` binary on PostgreSQL URLs with and without TLS parameters, when
//! `DPS_TEST_POSTGRES_URL` is set.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::{Command, Output};

/// A database of its own on the test server, dropped afterwards.
struct Database {
    admin_url: String,
    name: String,
    /// The database's URL without any query: no `sslmode`, so `prefer`.
    url: String,
}

impl Database {
    fn create(admin_url: &str, tag: &str) -> Self {
        let name = format!("dps_cli_tls_{tag}_{}", std::process::id());
        let (base, _) = admin_url.rsplit_once('/').unwrap_or((admin_url, ""));
        let db = Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        };
        db.admin(&format!("DROP DATABASE IF EXISTS {}", db.name));
        db.admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn admin(&self, sql: &str) {
        let out = Command::new("psql")
            .arg(&self.admin_url)
            .arg("-qAtc")
            .arg(sql)
            .output()
            .expect("psql");
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn dps(dir: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dps"))
        .current_dir(dir)
        .env_remove("DPS_DATABASE_URL")
        .env_remove("DPS_TARGETS")
        .env("DPS_KEY_FILE", dir.join("dps.keys"))
        .arg("--db")
        .arg(db)
        .arg("--targets")
        .arg(dir.join("targets.toml"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn test_url() -> Option<String> {
    match std::env::var("DPS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: DPS_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

#[test]
fn a_url_without_sslmode_connects() {
    let Some(admin) = test_url() else { return };
    let db = Database::create(&admin, "prefer");
    let dir = tempfile::tempdir().unwrap();
    let init = dps(dir.path(), &db.url, &["targets", "init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let created = dps(dir.path(), &db.url, &["group", "create", "--name", "Lab"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let shown = dps(dir.path(), &db.url, &["--json", "group", "show", "Lab"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let doc: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(doc["name"], "Lab", "{doc}");
}

#[test]
fn a_missing_sslrootcert_exits_2_with_one_line_and_writes_nothing() {
    let Some(admin) = test_url() else { return };
    let db = Database::create(&admin, "rootcert");
    let dir = tempfile::tempdir().unwrap();
    let init = dps(dir.path(), &db.url, &["targets", "init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert=/nonexistent/dps/root.crt",
        db.url
    );
    let out_file = dir.path().join("export.csv");
    let out = dps(
        dir.path(),
        &url,
        &[
            "device",
            "export",
            "--group",
            "Lab",
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: database: storage misconfigured: sslrootcert file /nonexistent/dps/root.crt does not exist\n"
    );
    assert!(out.stdout.is_empty());
    assert!(!out_file.exists(), "no output file");
}
