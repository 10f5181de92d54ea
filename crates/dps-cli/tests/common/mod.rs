//! What the end-to-end tests share: a temporary directory with a database and a targets file,
//! and the built `dps` binary run in it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) mod serve;

/// A temporary directory, and the database the binary is run on.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: String,
}

impl Env {
    /// A new SQLite database in a new directory.
    pub(crate) fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("dps.sqlite").display().to_string();
        Self { dir, db }
    }

    /// A database at `db` (a PostgreSQL URL), with a new directory for the files.
    pub(crate) fn on(db: String) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            db,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `dps ARGS` on the database with the directory's targets file.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.on_database(Command::new(env!("CARGO_BIN_EXE_dps")), args)
    }

    /// Where the database's key file is: beside a SQLite file (the default), in the
    /// directory for PostgreSQL (given with `DPS_KEY_FILE`).
    pub(crate) fn key_file(&self) -> PathBuf {
        if self.db.starts_with("postgres") {
            self.path("dps.keys")
        } else {
            PathBuf::from(format!("{}.keys", self.db))
        }
    }

    /// `command` in the directory, on the database and its targets file, with `args`; run.
    fn on_database(&self, mut command: Command, args: &[&str]) -> Output {
        command.env_remove("DPS_KEY_FILE");
        if self.db.starts_with("postgres") {
            command.env("DPS_KEY_FILE", self.key_file());
        }
        command
            .current_dir(self.dir.path())
            .env_remove("DPS_DATABASE_URL")
            .env_remove("DPS_TARGETS")
            .arg("--db")
            .arg(&self.db)
            .arg("--targets")
            .arg(self.path("targets.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `dps ARGS` as [`Env::run`] does, under the file-creation mask `umask` (octal).
    #[cfg(unix)]
    pub(crate) fn run_under_umask(&self, umask: &str, args: &[&str]) -> Output {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_dps"));
        self.on_database(sh, args)
    }

    /// Runs with `--json`; returns the exit code and the one JSON document on stdout.
    pub(crate) fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let doc: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON document ({e}): {stdout:?}; stderr {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), doc)
    }

    /// Runs with `--json`, asserts exit code 0 and returns the document.
    pub(crate) fn ok_json(&self, args: &[&str]) -> Value {
        let (code, doc) = self.json(args);
        assert_eq!(code, 0, "{args:?} -> {doc}");
        doc
    }

    /// Writes the targets file and creates the group `Lab` on `prod-eu/acme` with `extra`
    /// arguments.
    pub(crate) fn with_lab(self, extra: &[&str]) -> Self {
        self.ok_json(&["targets", "init"]);
        let mut args = vec![
            "group",
            "create",
            "--name",
            "Lab",
            "--environment",
            "prod-eu",
            "--ou",
            "acme",
        ];
        args.extend_from_slice(extra);
        self.ok_json(&args);
        self
    }
}

/// A PostgreSQL database of its own on the `DPS_TEST_POSTGRES_URL` server, dropped with it.
pub(crate) struct PgDatabase {
    url: String,
    name: String,
    /// The URL of the database.
    pub(crate) db: String,
}

impl PgDatabase {
    /// A new database named after `tag` and the process; `None` (the test is skipped, with a
    /// note) when `DPS_TEST_POSTGRES_URL` is not set.
    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    pub(crate) fn create(tag: &str) -> Option<Self> {
        let Ok(url) = std::env::var("DPS_TEST_POSTGRES_URL") else {
            eprintln!("skipped: DPS_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("dps_{tag}_{}", std::process::id());
        let (base, query) = match url.rsplit_once('/') {
            Some((base, rest)) => (base, rest.split_once('?').map(|(_, q)| q)),
            None => (url.as_str(), None),
        };
        let db = match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        };
        let created = Self { url, name, db };
        created.admin(&format!("DROP DATABASE IF EXISTS {}", created.name));
        created.admin(&format!("CREATE DATABASE {}", created.name));
        Some(created)
    }

    fn admin(&self, sql: &str) {
        let out = Command::new("psql")
            .arg(&self.url)
            .arg("-qAtc")
            .arg(sql)
            .output()
            .expect("psql");
        assert!(out.status.success(), "{sql}: {}", stderr(&out));
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.url)
            .arg("-qAtc")
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
