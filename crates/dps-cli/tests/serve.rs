//! `dps serve` over a real socket: the lifecycle of the CLI acceptance done over HTTP only,
//! on SQLite and on PostgreSQL, a device that bootstraps with a request written from
//! `docs/bootstrap.md`, and a revoked token refused by two servers at once.

mod common;

use std::io::{Cursor, Read};

use axum::http::{Method, StatusCode};
use common::Env;
use common::serve::{Server, bootstrap_key, call, signed};
use dps_http::testing::{Client, Reply};
use serde_json::json;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn csv(c: &Client, path: &str, body: String) -> Reply {
    c.send(Method::POST, path, &[("content-type", "text/csv")], body)
        .await
        .unwrap()
}

/// The texts of the QR codes of every PNG in a ZIP.
fn decode_labels(zip: &[u8]) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let mut texts = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        if !entry.name().unwrap().ends_with(".png") {
            continue; // the manifest
        }
        let mut png = Vec::new();
        entry.read_to_end(&mut png).unwrap();
        let mut reader = png::Decoder::new(Cursor::new(png)).read_info().unwrap();
        let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        let (w, h, line) = (frame.width as usize, frame.height as usize, frame.line_size);
        // One bit a pixel, most significant first; 1 is white.
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            if (buf[y * line + x / 8] >> (7 - x % 8)) & 1 == 1 {
                255
            } else {
                0
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "one code per label");
        texts.push(grids[0].decode().unwrap().1);
    }
    texts
}

/// A CSV with one good row per model, a bad serial, a duplicate and a missing model ID.
const MESSY: &str = "\u{feff}Device Serial No.,Model ID,Device Name,Batch Tag\r\n\
H-1,thermostat,Lobby,b1\r\n\
H-2,meter,,b1\r\n\
H-3,ghost,,b1\r\n\
bad serial,thermostat,,b1\r\n\
H-1,thermostat,again,b1\r\n\
H-5,,,b1\r\n";

fn lifecycle(env: &Env) {
    env.ok_json(&["targets", "init"]);
    let server = Server::start(env);
    let token = server.token.clone().expect("a first admin token");
    let c = server.client(&token);
    rt().block_on(async {
        let a = call(
            &c,
            Method::POST,
            "/v1/groups",
            Some(json!({"name": "Lab", "default_target": "prod-eu/acme"})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let g = a.json()["id"].as_str().unwrap().to_owned();
        let devices = format!("/v1/groups/{g}/devices");

        // A messy import: three rows land, three are refused with their lines.
        let a = csv(&c, &format!("{devices}:import"), MESSY.into()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let report = a.json();
        assert_eq!(
            (report["created"].clone(), report["rejected"].clone()),
            (json!(3), json!(3))
        );
        let lines: Vec<u64> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [5, 6, 7]);

        // Allocate all: the model that the target lacks fails alone.
        let a = call(
            &c,
            Method::POST,
            &format!("{devices}:allocate"),
            Some(json!({"all": true})),
        )
        .await;
        let report = a.json();
        assert_eq!(
            (report["succeeded"].clone(), report["failed"].clone()),
            (json!(2), json!(1)),
            "{report}"
        );
        let failed = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ok"] == false)
            .unwrap();
        assert_eq!(
            (failed["serial"].clone(), failed["error"]["code"].clone()),
            (json!("H-3"), json!("model_missing"))
        );

        // Replace keeps the asset.
        let before = call(&c, Method::GET, &format!("{devices}/H-1"), None)
            .await
            .json();
        let a = call(
            &c,
            Method::POST,
            &format!("{devices}/H-1/replace"),
            Some(json!({"new_serial": "H-1b", "batch_tag": "rma"})),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["asset_id"], before["asset_id"]);
        assert_ne!(a.json()["device_key"], before["device_key"]);

        // The QR labels decode to each device's payload.
        let a = c
            .send(Method::GET, &format!("{devices}:qr"), &[], "")
            .await
            .unwrap();
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header("content-type"), "application/zip");
        let mut labels: Vec<(String, String)> = decode_labels(&a.body)
            .iter()
            .map(|t| dps_qr::Payload::parse(t).unwrap())
            .map(|p| (p.group().to_string(), p.serial().to_string()))
            .collect();
        labels.sort();
        let expected: Vec<(String, String)> = ["H-1b", "H-2", "H-3"]
            .iter()
            .map(|s| (g.clone(), (*s).to_owned()))
            .collect();
        assert_eq!(labels, expected);

        // A device bootstraps with its factory key, over HTTP only.
        let key = bootstrap_key(
            &c,
            &format!("{devices}:export?include_bootstrap_keys=true&serial_prefix=H-2"),
        )
        .await;
        let key = key.as_str();
        let device = Client::new(server.addr);
        let a = call(
            &device,
            Method::POST,
            "/v1/bootstrap",
            Some(signed(&g, "H-2", key)),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["serial"], "H-2");
        assert!(a.json()["credentials"]["device_secret"].as_str().is_some());
        let a = call(
            &device,
            Method::POST,
            "/v1/bootstrap",
            Some(signed(&g, "H-2", "AAAA")),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);

        // Reset, then delete twice.
        let a = call(
            &c,
            Method::POST,
            &format!("{devices}:reset"),
            Some(json!({"serials": ["H-1b"]})),
        )
        .await;
        assert_eq!(a.json()["succeeded"], 1, "{}", a.text());
        assert_eq!(
            call(&c, Method::DELETE, &format!("{devices}/H-1b"), None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&c, Method::DELETE, &format!("{devices}/H-1b"), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        // The export imports again into another group.
        let all = c
            .send(Method::GET, &format!("{devices}:export"), &[], "")
            .await
            .unwrap();
        let a = call(
            &c,
            Method::POST,
            "/v1/groups",
            Some(json!({"name": "Copy"})),
        )
        .await;
        let copy = a.json()["id"].as_str().unwrap().to_owned();
        let a = csv(&c, &format!("/v1/groups/{copy}/devices:import"), all.text()).await;
        assert_eq!(
            (a.json()["created"].clone(), a.json()["rejected"].clone()),
            (json!(2), json!(0)),
            "{}",
            a.text()
        );

        // Every change names the token's name as its actor.
        let events = call(&c, Method::GET, "/v1/events?limit=1000", None)
            .await
            .json();
        let actors: std::collections::BTreeSet<String> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["actor"].as_str().map(str::to_owned))
            .collect();
        assert!(actors.contains("admin"), "{actors:?}");
        assert!(!actors.contains("cli"));
    });
    // SIGTERM stops it cleanly.
    assert!(server.stop().success());
}

#[test]
fn the_lifecycle_over_http_on_sqlite() {
    lifecycle(&Env::sqlite());
}

#[test]
fn the_lifecycle_over_http_on_postgres() {
    let Some(pg) = common::PgDatabase::create("serve") else {
        return;
    };
    lifecycle(&Env::on(pg.db.clone()));
}

#[test]
fn a_revoked_token_is_refused_by_every_server_at_once() {
    let Some(pg) = common::PgDatabase::create("revoke") else {
        return;
    };
    let env = Env::on(pg.db.clone());
    env.ok_json(&["targets", "init"]);
    let created = env.ok_json(&["token", "create", "--name", "ci", "--role", "viewer"]);
    assert_eq!(
        (created["name"].clone(), created["role"].clone()),
        (json!("ci"), json!("viewer"))
    );
    let token = created["token"].as_str().unwrap().to_owned();
    let one = Server::start(&env);
    let two = Server::start(&env);
    assert!(
        one.token.is_none() && two.token.is_none(),
        "a database with a token gets no new one"
    );
    rt().block_on(async {
        for s in [&one, &two] {
            let a = call(&s.client(&token), Method::GET, "/v1/groups", None).await;
            assert_eq!(a.status, StatusCode::OK);
        }
        env.ok_json(&["token", "revoke", "ci"]);
        for s in [&one, &two] {
            let a = call(&s.client(&token), Method::GET, "/v1/groups", None).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        }
    });
    let (code, doc) = env.json(&["token", "revoke", "ci"]);
    assert_eq!(
        (code, doc["error"]["code"].clone()),
        (2, json!("not_found"))
    );
}

#[test]
fn tokens_are_listed_without_their_text() {
    let env = Env::sqlite();
    let g = env.with_lab(&[]);
    let created = g.ok_json(&[
        "token", "create", "--name", "lab-ops", "--role", "operator", "--group", "Lab",
    ]);
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("dps_"));
    assert_eq!(created["groups"].as_array().unwrap().len(), 1);
    assert_eq!(created["bulk_import"], false);
    let bulk = g.ok_json(&[
        "token",
        "create",
        "--name",
        "loader",
        "--role",
        "operator",
        "--bulk-import",
    ]);
    assert_eq!(bulk["bulk_import"], true);
    let listed = g.ok_json(&["token", "list"]);
    assert_eq!(listed["items"][0]["name"], "lab-ops");
    assert_eq!(
        (
            listed["items"][0]["bulk_import"].clone(),
            listed["items"][1]["bulk_import"].clone()
        ),
        (json!(false), json!(true))
    );
    assert!(!listed.to_string().contains(&token));
    let (code, doc) = g.json(&["token", "create", "--name", "lab-ops", "--role", "viewer"]);
    assert_eq!(
        (code, doc["error"]["code"].clone()),
        (2, json!("already_exists"))
    );
    let (code, doc) = g.json(&["token", "create", "--name", "cli", "--role", "viewer"]);
    assert_eq!(
        (code, doc["error"]["code"].clone()),
        (2, json!("invalid_actor"))
    );
    // The database file holds no token text.
    let bytes = std::fs::read(&g.db).unwrap();
    assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
}

#[test]
fn serve_without_a_targets_file_serves_the_console_and_the_api() {
    let env = Env::sqlite();
    assert!(!env.path("targets.toml").exists());
    let server = Server::start(&env);
    let token = server.token.clone().unwrap();
    rt().block_on(async {
        let page = Client::new(server.addr)
            .send(Method::GET, "/sign-in", &[], "")
            .await
            .unwrap();
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("Access token"));
        let groups = call(&server.client(&token), Method::GET, "/v1/groups", None).await;
        assert_eq!(groups.status, StatusCode::OK);
    });
    assert!(server.stop().success());
}
