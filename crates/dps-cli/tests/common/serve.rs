//! `dps serve` as a child process, and what a device and an operator send it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use axum::http::Method;
use base64::Engine as _;
use dps_http::testing::{Client, Reply};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use super::Env;

/// A `dps serve` process on a free port; stopped with SIGTERM when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// The admin token it created, when the database had none.
    pub(crate) token: Option<String>,
}

impl Server {
    pub(crate) fn start(env: &Env) -> Self {
        Self::start_with(env, &[])
    }

    /// As [`Server::start`], with these environment variables.
    pub(crate) fn start_with(env: &Env, vars: &[(&str, &str)]) -> Self {
        Self::start_with_args(env, vars, &[])
    }

    /// As [`Server::start_with`], with these arguments of `dps serve`.
    pub(crate) fn start_with_args(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dps"))
            .envs(vars.iter().copied())
            .current_dir(env.dir.path())
            .env_remove("DPS_DATABASE_URL")
            .env_remove("DPS_TARGETS")
            .env("DPS_KEY_FILE", env.key_file())
            .env("DPS_LOG", "warn")
            .args(["--json", "--db", &env.db, "--targets"])
            .arg(env.path("targets.toml"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let doc: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        let url = doc["url"].as_str().unwrap();
        let addr = url.trim_start_matches("http://").parse().unwrap();
        Self {
            child,
            addr,
            token: doc["token"].as_str().map(str::to_owned),
        }
    }

    pub(crate) fn client(&self, token: &str) -> Client {
        Client::new(self.addr).with_token(token)
    }

    /// SIGKILL: the server stops at once, in the middle of whatever it does.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn call(c: &Client, method: Method, path: &str, body: Option<Value>) -> Reply {
    c.json(method, path, body.as_ref()).await.unwrap()
}

/// A device's request, signed as `docs/bootstrap.md` says and nothing else.
pub(crate) fn signed(group: &str, serial: &str, key_b64: &str) -> Value {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let canonical = format!("dps-bootstrap-v1\n{group}\n{serial}\n{timestamp}\n\n");
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(canonical.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    json!({"group_id": group, "serial": serial, "timestamp": timestamp, "signature": signature})
}

/// The `Device Bootstrap Key` of the first device that the export at `path` (asked for with
/// `include_bootstrap_keys=true`) lists.
pub(crate) async fn bootstrap_key(c: &Client, path: &str) -> String {
    let text = c.send(Method::GET, path, &[], "").await.unwrap().text();
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split(',')
        .collect();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let cell = row[header
        .iter()
        .position(|h| *h == "Device Bootstrap Key")
        .unwrap()];
    // A key that starts with `+` is written with the export's formula guard in front.
    dps_csv::formula::unguard(cell).to_owned()
}
