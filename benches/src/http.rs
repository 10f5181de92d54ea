//! The `http_bootstrap`, `http_list` and `http_export` scenarios of the `ratios` binary: the
//! HTTP API of dps-http over loopback, against the library calls that it makes, on SQLite
//! stores in a temporary directory, in the same run.
//!
//! The in-process server is dps-http's [`TestServer`] (its `serve` on a free loopback port).
//! It runs on the benchmark's single-threaded runtime, beside its clients: the server's and
//! the clients' work both count against "ours", on the one thread that the baseline has too.
//!
//! Each client keeps one HTTP/1.1 connection open ([`Connection`]), as a device or a script
//! with any HTTP library does. `dps_http::testing::Client` opens a connection per request
//! instead: `http_bootstrap` runs one round with it as well and prints its rate to stderr
//! (`http_bootstrap one_connection_per_request=…`), so that the cost of the connections
//! stays in view. It is the slower of the two (1676 against 2647 bootstraps/s with
//! `--quick` on a busy 2-core machine: a connect, an accept and a close per request cost
//! more than a third of the rate), which is why the ratio uses keep-alive.
#![allow(clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dps_core::access::{AccessToken, Role};
use dps_core::bootstrap::{BootstrapClaims, BootstrapRequest, DeviceBootstrapKey};
use dps_core::inject::OsSecrets;
use dps_core::{
    Atomicity, DeviceQuery, Environment, GroupId, NewDevice, Provisioner, Selection, SerialNumber,
    Store, Timestamp,
};
use dps_env_static::StaticEnvironment;
use dps_http::testing::TestServer;
use dps_http::{Api, Options, RateLimit};
use dps_store_sqlite::{SqliteOptions, SqliteStore};
use futures_util::future::join_all;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::{Measured, rate, runtime, seeded_group, static_env};

/// The concurrent clients of `http_bootstrap`.
const CLIENTS: usize = 32;

/// The devices of one page of `http_list`.
const PAGE: usize = 1000;

/// The devices that one `register_many` call of the set-up registers.
const SEED_CHUNK: usize = 50_000;

/// One HTTP/1.1 connection to a server, kept open: its requests go one after another.
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    authorization: Option<String>,
}

impl Connection {
    /// Connects to `addr`; every request sends `Authorization: Bearer <token>` when a token
    /// is given.
    ///
    /// # Panics
    ///
    /// When the server does not accept the connection.
    pub async fn open(addr: SocketAddr, token: Option<&str>) -> Self {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| panic!("handshake with {addr}: {e}"));
        // Ends when the sender is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Self {
            sender,
            host: addr.to_string(),
            authorization: token.map(|t| format!("Bearer {t}")),
        }
    }

    /// Sends a request, with `body` as JSON when there is one, and answers the response,
    /// whose body the caller reads before the next request.
    ///
    /// # Panics
    ///
    /// When the connection breaks.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Response<Incoming> {
        self.sender
            .ready()
            .await
            .unwrap_or_else(|e| panic!("connection: {e}"));
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if let Some(a) = &self.authorization {
            request = request.header(AUTHORIZATION, a);
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .unwrap_or_else(|e| panic!("request: {e}"));
        self.sender
            .send_request(request)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// The whole body of `response`, which must be `200 OK`.
async fn ok_body(response: Response<Incoming>) -> Bytes {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"))
        .to_bytes();
    assert_eq!(
        status,
        StatusCode::OK,
        "answer: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

/// A SQLite store in `dir`.
fn sqlite(dir: &Path, name: &str) -> SqliteStore {
    SqliteStore::open(dir.join(name), SqliteOptions::default())
        .unwrap_or_else(|e| panic!("open: {e}"))
}

/// As [`seeded_group`], registering the devices in chunks of [`SEED_CHUNK`], so that a
/// million of them need not be held at once.
async fn seeded<S: Store>(store: S, n: usize) -> (Provisioner<S, StaticEnvironment>, GroupId) {
    let first = n.min(SEED_CHUNK);
    let (dps, group) = seeded_group(store, first).await;
    let model: dps_core::ModelId = "m1".parse().unwrap_or_else(|e| panic!("{e}"));
    let mut from = first;
    while from < n {
        let to = (from + SEED_CHUNK).min(n);
        let devices = (from..to)
            .map(|i| {
                let serial = format!("SN-{i:08}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}"));
                NewDevice::new(serial, model.clone())
            })
            .collect();
        let report = dps
            .register_many(group, devices, Atomicity::AllOrNothing)
            .await
            .unwrap_or_else(|e| panic!("register: {e}"));
        assert_eq!(report.registered(), to - from, "set-up registered a chunk");
        from = to;
    }
    (dps, group)
}

/// The service over `store` with `options`, as `dps serve` builds it.
fn api(store: SqliteStore, options: Options) -> Api {
    let store: Arc<dyn Store> = Arc::new(store);
    let env: Arc<dyn Environment> = Arc::new(static_env());
    Api::with_options(
        Provisioner::new(store, env).with_keys(crate::keys()),
        options,
    )
}

/// A viewer's token, issued straight into `store`; answers its text.
async fn viewer_token(store: &SqliteStore) -> String {
    let (token, text) = AccessToken::issue(
        "bench".parse().unwrap_or_else(|e| panic!("{e}")),
        Role::Viewer,
        Vec::new(),
        &OsSecrets,
        Timestamp::from_unix_millis(0),
    );
    store
        .insert_token(&token)
        .await
        .unwrap_or_else(|e| panic!("insert token: {e}"));
    text
}

/// The signed bootstrap request of each serial, timestamped now.
fn signed(
    group: GroupId,
    serials: &[SerialNumber],
    keys: &[DeviceBootstrapKey],
) -> Vec<BootstrapRequest> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    serials
        .iter()
        .zip(keys)
        .map(|(serial, key)| BootstrapClaims::new(group, serial.clone(), now).sign(key))
        .collect()
}

/// [`CLIENTS`] tasks calling `Provisioner::bootstrap`, task `c` with requests `c`, `c +
/// CLIENTS`, …; returns the time they took.
async fn bootstrap_direct<S: Store>(
    dps: &Provisioner<S, StaticEnvironment>,
    requests: &[BootstrapRequest],
) -> Duration {
    let start = Instant::now();
    join_all((0..CLIENTS).map(|c| async move {
        for request in requests.iter().skip(c).step_by(CLIENTS) {
            dps.bootstrap(request)
                .await
                .unwrap_or_else(|e| panic!("bootstrap: {e}"));
        }
    }))
    .await;
    start.elapsed()
}

/// Each client sends its share of `bodies` as `POST /v1/bootstrap` on its connection, one
/// after another, all clients at once; returns the time they took.
async fn bootstrap_over_http(clients: &mut [Connection], bodies: &[Bytes]) -> Duration {
    let k = clients.len();
    let start = Instant::now();
    join_all(clients.iter_mut().enumerate().map(|(c, conn)| async move {
        for body in bodies.iter().skip(c).step_by(k) {
            let response = conn
                .send(Method::POST, "/v1/bootstrap", Some(body.clone()))
                .await;
            ok_body(response).await;
        }
    }))
    .await;
    start.elapsed()
}

/// As [`bootstrap_over_http`] with `dps_http::testing::Client`: a new connection for each
/// request.
async fn bootstrap_per_connection(addr: SocketAddr, bodies: &[Bytes]) -> Duration {
    let client = dps_http::testing::Client::new(addr);
    let headers = [("content-type", "application/json")];
    let start = Instant::now();
    join_all((0..CLIENTS).map(|c| {
        let client = client.clone();
        async move {
            for body in bodies.iter().skip(c).step_by(CLIENTS) {
                let reply = client
                    .send(Method::POST, "/v1/bootstrap", &headers, body.clone())
                    .await
                    .unwrap_or_else(|e| panic!("bootstrap: {e}"));
                assert_eq!(reply.status, StatusCode::OK, "answer: {}", reply.text());
            }
        }
    }))
    .await;
    start.elapsed()
}

/// `http_bootstrap`: 32 clients sending signed `POST /v1/bootstrap` requests, each on
/// its own keep-alive connection, to an `Api` without rate limits on SQLite whose group
/// holds `n` allocated devices, against as many tasks calling `Provisioner::bootstrap` on the
/// same store. Each round bootstraps every device once; the two alternate, after a first
/// round of each that is not counted (every device's first bootstrap, and warm caches).
/// Items are bootstraps.
pub fn http_bootstrap(quick: bool) -> Option<Measured> {
    let (n, rounds) = if quick { (2_000, 3) } else { (10_000, 5) };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = sqlite(dir.path(), "bootstrap.sqlite");
    let rt = runtime();
    rt.block_on(async {
        let (dps, group) = seeded(store.clone(), n).await;
        let report = dps
            .allocate(group, &Selection::all())
            .await
            .unwrap_or_else(|e| panic!("allocate: {e}"));
        assert_eq!(report.succeeded(), n, "every device was allocated");
        let g = dps
            .group(group)
            .await
            .unwrap_or_else(|e| panic!("group: {e}"));
        let serials: Vec<SerialNumber> = (0..n)
            .map(|i| {
                format!("SN-{i:08}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let keys: Vec<_> = serials
            .iter()
            .map(|s| {
                dps.bootstrap_key_for(&g, s)
                    .unwrap_or_else(|e| panic!("bootstrap key: {e}"))
            })
            .collect();
        let unlimited = Options::default()
            .with_bootstrap_limits(RateLimit::unlimited(), RateLimit::unlimited());
        let server = TestServer::start(api(store, unlimited).router())
            .await
            .unwrap_or_else(|e| panic!("server: {e}"));
        let mut clients = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            clients.push(Connection::open(server.addr(), None).await);
        }
        let bodies = |requests: &[BootstrapRequest]| -> Vec<Bytes> {
            requests
                .iter()
                .map(|r| Bytes::from(serde_json::to_vec(r).unwrap_or_else(|e| panic!("{e}"))))
                .collect()
        };
        let mut ours = Duration::MAX;
        let mut baseline = Duration::MAX;
        // The first round of each is a warm-up.
        for round in 0..=rounds {
            let requests = signed(group, &serials, &keys);
            let b = bootstrap_direct(&dps, &requests).await;
            let o = bootstrap_over_http(&mut clients, &bodies(&requests)).await;
            if round > 0 {
                baseline = baseline.min(b);
                ours = ours.min(o);
            }
        }
        let per_request =
            bootstrap_per_connection(server.addr(), &bodies(&signed(group, &serials, &keys))).await;
        eprintln!(
            "http_bootstrap one_connection_per_request={:.0} keep_alive={:.0}",
            rate(n, per_request),
            rate(n, ours)
        );
        drop(clients);
        server.stop().await;
        Some(Measured {
            ours: rate(n, ours),
            baseline: rate(n, baseline),
        })
    })
}

/// A page of a device listing, as the client reads it: the items are counted, not kept.
#[derive(Deserialize)]
struct ListedPage {
    items: Vec<IgnoredAny>,
    next_cursor: Option<String>,
}

/// Every device of `group` through `Provisioner::devices`, [`PAGE`] at a time; returns the
/// time it took.
async fn list_direct<S: Store>(
    dps: &Provisioner<S, StaticEnvironment>,
    group: GroupId,
    n: usize,
) -> Duration {
    let query = DeviceQuery::group(group);
    let start = Instant::now();
    let mut after = None;
    let mut seen = 0;
    loop {
        let page = dps
            .devices(&query, after, PAGE)
            .await
            .unwrap_or_else(|e| panic!("devices: {e}"));
        seen += std::hint::black_box(page.items).len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(seen, n, "the listing held every device");
    elapsed
}

/// Every device of `group` through `GET /v1/groups/{group}/devices`, [`PAGE`] at a time,
/// each page parsed for its count and cursor; returns the time it took.
async fn list_over_http(conn: &mut Connection, group: GroupId, n: usize) -> Duration {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let start = Instant::now();
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut path = format!("/v1/groups/{group}/devices?limit={PAGE}");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.extend(utf8_percent_encode(c, NON_ALPHANUMERIC));
        }
        let body = ok_body(conn.send(Method::GET, &path, None).await).await;
        let page: ListedPage =
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("page: {e}"));
        seen += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(seen, n, "the listing held every device");
    elapsed
}

/// `http_list`: every device of a group of 100k (quick: 20k) on SQLite read in pages of
/// 1000 through `GET /v1/groups/{group}/devices` on one keep-alive connection, each
/// page's JSON parsed, against the same pages of `Provisioner::devices`. The two alternate;
/// each keeps its best run. Items are devices.
pub fn http_list(quick: bool) -> Option<Measured> {
    let (n, rounds) = if quick { (20_000, 3) } else { (100_000, 3) };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = sqlite(dir.path(), "list.sqlite");
    let rt = runtime();
    rt.block_on(async {
        let (dps, group) = seeded(store.clone(), n).await;
        let token = viewer_token(&store).await;
        let server = TestServer::start(api(store, Options::default()).router())
            .await
            .unwrap_or_else(|e| panic!("server: {e}"));
        let mut conn = Connection::open(server.addr(), Some(&token)).await;
        let mut ours = Duration::MAX;
        let mut baseline = Duration::MAX;
        for _ in 0..rounds {
            baseline = baseline.min(list_direct(&dps, group, n).await);
            ours = ours.min(list_over_http(&mut conn, group, n).await);
        }
        drop(conn);
        server.stop().await;
        Some(Measured {
            ours: rate(n, ours),
            baseline: rate(n, baseline),
        })
    })
}

/// An async writer that keeps nothing and counts the bytes written to it.
#[derive(Debug, Default)]
struct Counted(usize);

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().0 += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The CSV export of every device of `group` through `dps_csv::export_async` into a
/// [`Counted`] sink; returns the time it took and the bytes written.
async fn export_direct<S: Store>(
    dps: &Provisioner<S, StaticEnvironment>,
    group: GroupId,
    n: usize,
) -> (Duration, usize) {
    let options = dps_csv::ExportOptions::default();
    let start = Instant::now();
    let (sink, summary) =
        dps_csv::export_async(dps, group, &Selection::all(), Counted::default(), &options)
            .await
            .unwrap_or_else(|e| panic!("export: {e}"));
    let elapsed = start.elapsed();
    assert_eq!(summary.rows, n as u64, "the export held every device");
    (elapsed, sink.0)
}

/// `GET /v1/groups/{group}/devices:export`, its body read as it comes and discarded; returns
/// the time it took and the bytes read.
async fn export_over_http(conn: &mut Connection, group: GroupId) -> (Duration, usize) {
    let path = format!("/v1/groups/{group}/devices:export");
    let start = Instant::now();
    let response = conn.send(Method::GET, &path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "export answered");
    let mut body = response.into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap_or_else(|e| panic!("export body: {e}"));
        if let Some(data) = frame.data_ref() {
            bytes += data.len();
        }
    }
    (start.elapsed(), bytes)
}

/// The release `dps` binary of this workspace, when it is built.
fn release_dps() -> Option<PathBuf> {
    let in_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/dps");
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .filter(|dir| dir.ends_with("release"))
        .map(|dir| dir.join("dps"));
    beside.into_iter().chain([in_tree]).find(|p| p.is_file())
}

/// The server of `http_export`: a `dps serve` process, or a server in process with a
/// viewer's token.
enum Server {
    Process(Served),
    InProcess(TestServer, String),
}

/// A `dps serve` process over a database, killed on drop.
struct Served {
    child: Child,
    /// Kept open: the server may still write to its stdout.
    _stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    token: String,
}

impl Served {
    /// Starts `dps serve` on a free loopback port over `db`, with a targets file in `dir`,
    /// and reads its address and first admin token from its first line of JSON.
    fn start(dps: &Path, dir: &Path, db: &Path) -> Self {
        let targets = dir.join("targets.toml");
        let init = Command::new(dps)
            .arg("--targets")
            .arg(&targets)
            .args(["targets", "init"])
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("dps targets init: {e}"));
        assert!(init.success(), "dps targets init: {init}");
        let mut child = Command::new(dps)
            .arg("--db")
            .arg(db)
            .arg("--targets")
            .arg(&targets)
            // The export streamed in its request: above this many devices it would run as a
            // job, whose file is the same bytes.
            .args([
                "--json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--job-threshold",
                "100000000",
            ])
            .env("DPS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("dps serve: {e}"));
        let mut stdout = BufReader::new(
            child
                .stdout
                .take()
                .unwrap_or_else(|| panic!("dps serve has a stdout")),
        );
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("dps serve: {e}"));
        #[derive(Deserialize)]
        struct First {
            url: String,
            token: Option<String>,
        }
        let first: First =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("dps serve said {line:?}: {e}"));
        let addr = first
            .url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("dps serve's url {}", first.url));
        let token = first
            .token
            .unwrap_or_else(|| panic!("dps serve made the first token of a fresh database"));
        Self {
            child,
            _stdout: stdout,
            addr,
            token,
        }
    }

    /// The process's peak resident set so far (`VmHWM`), in MB.
    fn peak_rss_mb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http_export`: the CSV export of a group of 1M (quick: 100k) devices on SQLite streamed
/// through `GET /v1/groups/{group}/devices:export` and discarded by the client, against
/// `dps_csv::export_async` into a sink on the same file. The server is the release `dps serve`
/// when `target/release/dps` is built (`cargo build --release -p dps-cli`), and its peak RSS
/// after the exports is printed to stderr as `http_export server_peak_rss_mb=<n>`; otherwise
/// the server runs in process, and no RSS is printed. The database is seeded through the
/// library before the server starts. The two alternate; each keeps its best run. Items are
/// devices.
pub fn http_export(quick: bool) -> Option<Measured> {
    let (n, rounds) = if quick { (100_000, 3) } else { (1_000_000, 3) };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("export.sqlite");
    let store = sqlite(dir.path(), "export.sqlite");
    let rt = runtime();
    let (dps, group) = rt.block_on(seeded(store.clone(), n));
    let server = match release_dps() {
        Some(bin) => Server::Process(Served::start(&bin, dir.path(), &db)),
        None => {
            eprintln!(
                "http_export: no release dps binary (cargo build --release -p dps-cli); \
                 serving in process, without the server's peak RSS"
            );
            rt.block_on(async {
                let token = viewer_token(&store).await;
                let streamed = Options::default().with_job_threshold(usize::MAX);
                let server = TestServer::start(api(store.clone(), streamed).router())
                    .await
                    .unwrap_or_else(|e| panic!("server: {e}"));
                Server::InProcess(server, token)
            })
        }
    };
    let (addr, token) = match &server {
        Server::Process(s) => (s.addr, s.token.as_str()),
        Server::InProcess(s, token) => (s.addr(), token.as_str()),
    };
    let (ours, baseline) = rt.block_on(async {
        let mut conn = Connection::open(addr, Some(token)).await;
        let mut ours = Duration::MAX;
        let mut baseline = Duration::MAX;
        for _ in 0..rounds {
            let (b, expected) = export_direct(&dps, group, n).await;
            let (o, bytes) = export_over_http(&mut conn, group).await;
            assert_eq!(bytes, expected, "the HTTP export is the library's");
            baseline = baseline.min(b);
            ours = ours.min(o);
        }
        (ours, baseline)
    });
    match server {
        Server::Process(s) => match s.peak_rss_mb() {
            Some(mb) => eprintln!("http_export server_peak_rss_mb={mb}"),
            None => eprintln!("http_export: cannot read the server's VmHWM"),
        },
        Server::InProcess(s, _) => rt.block_on(s.stop()),
    }
    Some(Measured {
        ours: rate(n, ours),
        baseline: rate(n, baseline),
    })
}
