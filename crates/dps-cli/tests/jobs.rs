//! A 100,000-device allocation job and a 20,000-record import job over HTTP that survive
//! `dps serve` being killed and restarted: they complete, and each device is allocated (or
//! registered) exactly once.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::Env;
use common::serve::{Server, call};
use dps_http::testing::Client;
use serde_json::{Value, json};

const DEVICES: usize = 100_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The job at `path` once `done` holds of it (polled; a job reports its progress a page at a
/// time).
async fn job_until(
    c: &Client,
    path: &str,
    done: impl Fn(&Value) -> bool,
    within: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        let reply = call(c, Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let job = reply.json();
        if done(&job) {
            return job;
        }
        assert!(start.elapsed() < within, "the job did not get there: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long a running job stays with a server without word from it, in these tests.
const LEASE: [&str; 2] = ["--lease", "2"];

/// Kills `server` once the job at `location` has done 1000 devices (the job as it was then),
/// starts another server on the same database, and answers it with the job once it ended.
async fn killed_midway(
    env: &Env,
    server: Server,
    token: &str,
    location: &str,
) -> (Value, Server, Value) {
    let partway = job_until(
        &server.client(token),
        location,
        |j| j["done"].as_u64().unwrap() >= 1000,
        Duration::from_secs(120),
    )
    .await;
    // The server dies in the middle of the job.
    server.kill();
    let server = Server::start_with_args(env, &[], &LEASE);
    let done = job_until(
        &server.client(token),
        location,
        |j| j["state"] != "running",
        Duration::from_secs(600),
    )
    .await;
    (partway, server, done)
}

#[test]
fn an_allocation_job_survives_a_killed_server_and_allocates_each_device_once() {
    let env = Env::sqlite().with_lab(&[]);
    let count = DEVICES.to_string();
    env.ok_json(&[
        "device",
        "generate",
        "--group",
        "Lab",
        "--count",
        &count,
        "--model",
        "thermostat",
    ]);
    let server = Server::start_with_args(&env, &[], &LEASE);
    let token = server.token.clone().unwrap();
    rt().block_on(async {
        let c = server.client(&token);
        let started = call(
            &c,
            Method::POST,
            "/v1/groups/Lab/devices:allocate",
            Some(json!({"all": true})),
        )
        .await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text());
        let location = started.header("location").to_owned();
        assert_eq!(started.json()["total"], DEVICES);
        assert_eq!(
            location,
            format!("/v1/jobs/{}", started.json()["id"].as_str().unwrap())
        );
        let (partway, server, done) = killed_midway(&env, server, &token, &location).await;
        assert_eq!(partway["state"], "running");
        let c = server.client(&token);
        assert_eq!(done["state"], "finished", "{done}");
        assert_eq!(
            (done["succeeded"].as_u64(), done["failed"].as_u64()),
            (Some(DEVICES as u64), Some(0))
        );
        for status in ["not_allocated", "pending"] {
            let left = call(
                &c,
                Method::GET,
                &format!("/v1/groups/Lab/devices?status={status}&limit=1"),
                None,
            )
            .await;
            assert_eq!(left.json()["items"], json!([]), "{status}");
        }
        // Each device has exactly one allocation in the event log.
        let allocated = events_per_device(&c, "allocated").await;
        assert_eq!(allocated.len(), DEVICES);
        assert!(
            allocated.values().all(|n| *n == 1),
            "a device was allocated twice"
        );
        server.stop();
    });
}

/// How many events of `kind` each device has in the log.
async fn events_per_device(c: &Client, kind: &str) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut after = "0".to_owned();
    loop {
        let page = call(
            c,
            Method::GET,
            &format!("/v1/events?after={after}&limit=1000"),
            None,
        )
        .await;
        let doc = page.json();
        let items = doc["items"].as_array().unwrap();
        for e in items.iter().filter(|e| e["kind"]["kind"] == kind) {
            *counts
                .entry(e["device_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match doc["next_cursor"].as_str() {
            Some(next) if !items.is_empty() => after = next.to_owned(),
            _ => break,
        }
    }
    counts
}

const RECORDS: usize = 20_000;

#[test]
fn an_import_job_survives_a_killed_server_and_registers_each_device_once() {
    let env = Env::sqlite().with_lab(&[]);
    let mut csv = String::from("Device Serial No.,Model ID,Description\n");
    for i in 0..RECORDS {
        csv.push_str(&format!("IMP-{i:06},thermostat,unit {i}\n"));
    }
    let server = Server::start_with_args(&env, &[], &LEASE);
    let token = server.token.clone().unwrap();
    rt().block_on(async {
        let c = server.client(&token);
        let started = c
            .send(
                Method::POST,
                "/v1/groups/Lab/devices:import",
                &[("content-type", "text/csv")],
                csv.clone(),
            )
            .await
            .unwrap();
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text());
        let location = started.header("location").to_owned();
        assert_eq!(started.json()["total"], RECORDS);
        let (partway, server, done) = killed_midway(&env, server, &token, &location).await;
        assert_eq!(partway["kind"], "import");
        let c = server.client(&token);
        assert_eq!(done["state"], "finished", "{done}");
        assert_eq!(
            (done["succeeded"].as_u64(), done["failed"].as_u64()),
            (Some(RECORDS as u64), Some(0)),
            "{done}"
        );
        let registered = events_per_device(&c, "registered").await;
        assert_eq!(registered.len(), RECORDS);
        assert!(
            registered.values().all(|n| *n == 1),
            "a device was registered twice"
        );
        // The report of refused records is its header alone.
        let file = call(&c, Method::GET, done["file"].as_str().unwrap(), None).await;
        assert_eq!(file.text().trim(), "Line,Column,Value,Code,Message");
        server.stop();
    });
}
