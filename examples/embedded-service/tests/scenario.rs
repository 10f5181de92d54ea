//! The whole scenario through the router, in process: a group with an attribute, a CSV import
//! with one bad row, allocation, a replacement, a filtered listing paged by cursor, a QR ZIP
//! and the event log, with every answer checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use embedded_service::{app, provisioner};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An answer: its status, its content type and its body.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(app: &Router, request: Request<Body>) -> Result<Answer, Box<dyn std::error::Error>> {
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

async fn get(app: &Router, uri: &str) -> Result<Answer, Box<dyn std::error::Error>> {
    send(app, Request::get(uri).body(Body::empty())?).await
}

async fn post_json(
    app: &Router,
    uri: &str,
    body: Value,
) -> Result<Answer, Box<dyn std::error::Error>> {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?;
    send(app, request).await
}

async fn post_csv(
    app: &Router,
    uri: &str,
    csv: &str,
) -> Result<Answer, Box<dyn std::error::Error>> {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv.to_owned()))?;
    send(app, request).await
}

/// Every page of a listing from `first`, following `next` as `after`.
async fn all_pages(
    app: &Router,
    first: &str,
) -> Result<Vec<Vec<Value>>, Box<dyn std::error::Error>> {
    let mut pages = Vec::new();
    let mut uri = first.to_owned();
    loop {
        let answer = get(app, &uri).await?;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        let page = answer.json();
        pages.push(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => uri = format!("{first}&after={next}"),
            None => return Ok(pages),
        }
    }
}

const DEVICES: &str = "\
Device Serial No.,Model ID,Batch Tag,floor
SN-0001,thermostat,b1,1
SN-0002,thermostat,b1,2
SN-0003,thermostat,b1,two
SN-0004,gateway,b2,3
SN-0005,thermostat,b2,
SN-0006,sensor,b2,4
";

#[tokio::test]
async fn the_embedders_scenario_answers_every_step() -> TestResult {
    let dir = tempfile::tempdir()?;
    let app = app(Arc::new(provisioner(&dir.path().join("dps.sqlite"))?));

    // A group with a default target and an integer attribute.
    let created = post_json(
        &app,
        "/groups",
        json!({
            "name": "Building 7",
            "default_target": "prod-eu/acme",
            "attributes": [{ "id": "floor", "type": "integer" }],
        }),
    )
    .await?;
    assert_eq!(created.status, StatusCode::CREATED);
    let group = created.json();
    assert_eq!(group["name"], "Building 7");
    assert_eq!(group["default_target"], "prod-eu/acme");
    assert_eq!(
        group["attributes"],
        json!([{ "id": "floor", "type": "integer", "required": false }])
    );
    let id = group["id"].as_str().ok_or("no group id")?.to_owned();

    // The CSV import: five rows land, the third data row is refused with its line and code.
    let imported = post_csv(&app, &format!("/groups/{id}/import"), DEVICES).await?;
    assert_eq!(imported.status, StatusCode::OK);
    let report = imported.json();
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["created"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(6), Some(5), Some(1))
    );
    let errors = report["errors"].as_array().ok_or("no errors")?;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["line"], 4);
    assert_eq!(errors[0]["column"], "floor");
    assert_eq!(errors[0]["value"], "two");
    assert_eq!(errors[0]["code"], "invalid_attribute");

    let group = get(&app, &format!("/groups/{id}")).await?;
    assert_eq!(group.status, StatusCode::OK);
    assert_eq!(group.json()["devices"], 5);

    // A file the service cannot read at all is refused as a whole.
    let unusable = post_csv(&app, &format!("/groups/{id}/import"), "Name\nlobby\n").await?;
    assert_eq!(unusable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unusable.json()["code"], "missing_column");

    // Allocation: one outcome per device; the model `sensor` does not exist in the target.
    let allocated = post_json(&app, &format!("/groups/{id}/allocate"), json!({})).await?;
    assert_eq!(allocated.status, StatusCode::OK);
    let batch = allocated.json();
    assert_eq!(
        (batch["succeeded"].as_u64(), batch["failed"].as_u64()),
        (Some(4), Some(1))
    );
    for outcome in batch["outcomes"].as_array().ok_or("no outcomes")? {
        if outcome["serial"] == "SN-0006" {
            assert_eq!(outcome["ok"], false);
            assert_eq!(outcome["error"]["code"], "model_missing");
            assert_eq!(outcome["status"], Value::Null);
        } else {
            assert_eq!(outcome["status"], "allocated", "{outcome}");
            assert_eq!(outcome["error"], Value::Null);
        }
    }

    // An allocated device: target, asset and keys, its attribute, and no secret.
    let device = get(&app, &format!("/groups/{id}/devices/SN-0001")).await?;
    assert_eq!(device.status, StatusCode::OK);
    let before = device.json();
    assert_eq!(before["status"], "allocated");
    assert_eq!(before["attributes"], json!({ "floor": "1" }));
    assert_eq!(before["allocation"]["target"], "prod-eu/acme");
    let asset = before["allocation"]["asset_id"]
        .as_str()
        .ok_or("no asset")?
        .to_owned();
    assert!(asset.starts_with("asset-"));
    assert!(!String::from_utf8_lossy(&device.body).contains("secret"));

    // Broken hardware: a new serial, the same asset.
    let replaced = post_json(
        &app,
        &format!("/groups/{id}/devices/SN-0001/replace"),
        json!({ "new_serial": "SN-0001-B", "batch_tag": "rma-17" }),
    )
    .await?;
    assert_eq!(replaced.status, StatusCode::OK);
    let after = replaced.json();
    assert_eq!(after["serial"], "SN-0001-B");
    assert_eq!(after["replaced_serials"], json!(["SN-0001"]));
    assert_eq!(after["allocation"]["asset_id"], asset.as_str());
    assert_eq!(after["id"], before["id"]);

    // The old serial is gone: not found is 404 with its code.
    let gone = get(&app, &format!("/groups/{id}/devices/SN-0001")).await?;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["code"], "not_found");

    // The allocated devices, two a page: every one exactly once, in serial order.
    let pages = all_pages(
        &app,
        &format!("/groups/{id}/devices?status=allocated&limit=2"),
    )
    .await?;
    assert!(pages.iter().all(|p| p.len() <= 2));
    let serials: Vec<String> = pages
        .iter()
        .flatten()
        .map(|d| d["serial"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(serials, ["SN-0001-B", "SN-0002", "SN-0004", "SN-0005"]);
    // Any filter pages alike: one a page, the last page full or short.
    let batch_b2 = all_pages(&app, &format!("/groups/{id}/devices?batch_tag=b2&limit=1")).await?;
    assert!(batch_b2.iter().all(|p| p.len() <= 1));
    let b2: Vec<&Value> = batch_b2.iter().flatten().map(|d| &d["serial"]).collect();
    assert_eq!(b2, ["SN-0004", "SN-0005", "SN-0006"]);

    // The labels of the allocated devices as a ZIP with its manifest.
    let zip = get(&app, &format!("/groups/{id}/labels.zip?status=allocated")).await?;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.content_type, "application/zip");
    assert!(zip.body.starts_with(b"PK\x03\x04"));
    // Entries are stored, not deflated, so names and the manifest are readable in the bytes.
    let bytes = String::from_utf8_lossy(&zip.body);
    assert!(bytes.contains(dps::qr::MANIFEST_NAME));
    assert!(bytes.contains(dps::qr::MANIFEST_HEADER));
    for serial in &serials {
        assert!(
            bytes.contains(&format!("{serial}.png,{id},{serial},")),
            "{serial}"
        );
    }
    assert!(!bytes.contains("SN-0006.png"));

    // The event log, three a page: every change once, cursors rising.
    let pages = all_pages(&app, "/events?limit=3").await?;
    let events: Vec<&Value> = pages.iter().flatten().collect();
    let cursors: Vec<u64> = events.iter().filter_map(|e| e["cursor"].as_u64()).collect();
    assert_eq!(cursors.len(), events.len());
    assert!(cursors.windows(2).all(|w| w[0] < w[1]));
    let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("group_created"), 1);
    assert_eq!(count("registered"), 5);
    assert_eq!(count("allocated"), 4);
    assert_eq!(count("allocation_failed"), 1);
    assert_eq!(count("replaced"), 1);
    let replaced_event = events
        .iter()
        .find(|e| e["kind"] == "replaced")
        .ok_or("no replaced event")?;
    assert_eq!(replaced_event["serial"], "SN-0001-B");
    assert_eq!(replaced_event["group_id"], id.as_str());
    Ok(())
}

#[tokio::test]
async fn bad_requests_answer_their_status_and_code() -> TestResult {
    let dir = tempfile::tempdir()?;
    let app = app(Arc::new(provisioner(&dir.path().join("dps.sqlite"))?));

    let unknown = get(&app, "/groups/0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7").await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["code"], "not_found");

    let malformed = get(&app, "/groups/building-7").await?;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.json()["code"], "invalid_id");

    let unnamed = post_json(&app, "/groups", json!({ "name": "" })).await?;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unnamed.json()["code"], "invalid_group_name");

    let odd_type = post_json(
        &app,
        "/groups",
        json!({ "name": "lab", "attributes": [{ "id": "floor", "type": "float" }] }),
    )
    .await?;
    assert_eq!(odd_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(odd_type.json()["code"], "invalid_attribute_type");

    let lab = post_json(&app, "/groups", json!({ "name": "lab" })).await?;
    let id = lab.json()["id"].as_str().ok_or("no group id")?.to_owned();
    // No default target: allocation is refused per device, not for the call.
    post_csv(
        &app,
        &format!("/groups/{id}/import"),
        "Device Serial No.,Model ID\nSN-1,thermostat\n",
    )
    .await?;
    let allocated = post_json(
        &app,
        &format!("/groups/{id}/allocate"),
        json!({ "serials": ["SN-1", "SN-404"] }),
    )
    .await?;
    assert_eq!(allocated.status, StatusCode::OK);
    let codes: BTreeSet<String> = allocated.json()["outcomes"]
        .as_array()
        .ok_or("no outcomes")?
        .iter()
        .map(|o| o["error"]["code"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from(["no_target".to_owned(), "not_found".to_owned()])
    );

    let bad_status = get(&app, &format!("/groups/{id}/devices?status=lost")).await?;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_status.json()["code"], "invalid_status");
    Ok(())
}
