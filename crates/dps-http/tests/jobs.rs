//! Batches over the job threshold: `202 Accepted`, the job's URL, its progress and outcome,
//! its cancellation, and who may see it.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::Harness;
use dps_core::access::Role;
use dps_http::Options;
use serde_json::{Value, json};

async fn until_over(h: &Harness, path: &str) -> Value {
    for _ in 0..5000 {
        let a = h.admin(Method::GET, path, None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        if a.body["state"] != "running" {
            return a.body;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the job did not end");
}

#[tokio::test]
async fn a_batch_over_the_threshold_runs_as_a_job() {
    let h = Harness::with_options(Options::default().with_job_threshold(2)).await;
    let group = h.group("lab").await;
    for s in ["SN-1", "SN-2", "SN-3"] {
        h.device(&group, s, "m1").await;
    }
    h.device(&group, "SN-4", "gone").await;
    // At the threshold, the batch runs in its request.
    let small = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:reset"),
            Some(json!({"serials": ["SN-1", "SN-2"]})),
        )
        .await;
    assert_eq!(small.status, StatusCode::OK);
    assert_eq!(small.body["failed"], 2);

    let a = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:allocate"),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    let location = format!("/v1/jobs/{id}");
    assert_eq!(a.header("location"), location);
    assert_eq!(
        (a.body["kind"].as_str(), a.body["total"].as_u64()),
        (Some("allocate"), Some(4))
    );
    let job = until_over(&h, &location).await;
    assert_eq!(job["state"], "finished");
    assert_eq!(
        (job["succeeded"].as_u64(), job["failed"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(job["failures"][0]["serial"], "SN-4");
    assert_eq!(job["failures"][0]["code"], "model_missing");
    assert_eq!(job["actor"], "root");
    let device = h
        .admin(
            Method::GET,
            &format!("/v1/groups/{group}/devices/SN-3"),
            None,
        )
        .await;
    assert_eq!(device.body["status"], "allocated");

    // Cancelling an ended job answers it unchanged; the list shows it.
    let c = h
        .admin(Method::POST, &format!("{location}/cancel"), None)
        .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["state"], "finished");
    let list = h.admin(Method::GET, "/v1/jobs", None).await;
    assert_eq!(list.body["items"][0]["id"], id.as_str());

    // A viewer reads it and may not cancel it; a token of another group does not see it.
    let viewer = h.token("watcher", Role::Viewer, &[]).await;
    let v = h.call(Method::GET, &location, Some(&viewer), None).await;
    assert_eq!(v.status, StatusCode::OK);
    let v = h
        .call(
            Method::POST,
            &format!("{location}/cancel"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(v.status, StatusCode::FORBIDDEN);
    let other = h.group("other").await;
    let outsider = h
        .token("outsider", Role::Admin, &[other.parse().unwrap()])
        .await;
    let o = h.call(Method::GET, &location, Some(&outsider), None).await;
    assert_eq!(o.status, StatusCode::NOT_FOUND);
    let o = h.call(Method::GET, "/v1/jobs", Some(&outsider), None).await;
    assert_eq!(o.body["items"], json!([]));
    let missing = h.admin(Method::GET, "/v1/jobs/not-a-job", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The file a library export of the whole group writes, to compare a job's file with.
async fn library_export(h: &Harness, group: &str) -> Vec<u8> {
    let dps = h.api.provisioner();
    let group = dps_core::GroupId::from_uuid(group.parse().unwrap());
    let mut out = Vec::new();
    let options = dps_csv::ExportOptions::default();
    dps_csv::export_async(dps, group, &dps_core::Selection::all(), &mut out, &options)
        .await
        .unwrap();
    out
}

async fn library_labels(h: &Harness, group: &str) -> Vec<u8> {
    let dps = h.api.provisioner();
    let group = dps_core::GroupId::from_uuid(group.parse().unwrap());
    let mut out = Vec::new();
    let options = dps_qr::ArchiveOptions::default();
    dps_qr::export_zip_async(dps, group, &dps_core::Selection::all(), &mut out, options)
        .await
        .unwrap();
    out
}

#[tokio::test]
async fn an_export_over_the_threshold_runs_as_a_job_whose_file_is_the_export() {
    let h = Harness::with_options(Options::default().with_job_threshold(2)).await;
    let group = h.group("lab").await;
    for s in ["SN-1", "SN-2", "SN-3", "SN-4", "SN-5"] {
        h.device(&group, s, "m1").await;
    }
    let a = h
        .admin(
            Method::GET,
            &format!("/v1/groups/{group}/devices:export"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(a.body["kind"], "export");
    let location = a.header("location").to_owned();
    let job = until_over(&h, &location).await;
    assert_eq!(job["state"], "finished");
    assert_eq!(
        (job["succeeded"].as_u64(), job["failed"].as_u64()),
        (Some(5), Some(0))
    );
    let file = job["file"].as_str().unwrap();
    assert_eq!(file, format!("{location}/file"));
    let f = h.admin(Method::GET, file, None).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        f.bytes,
        library_export(&h, &group).await,
        "the job's file is the export"
    );
    // Each device's result.
    let r = h
        .admin(Method::GET, job["results"].as_str().unwrap(), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines[0], "Device Serial No.,Result,Code,Message");
    assert_eq!(
        &lines[1..],
        [
            "SN-1,succeeded,,",
            "SN-2,succeeded,,",
            "SN-3,succeeded,,",
            "SN-4,succeeded,,",
            "SN-5,succeeded,,"
        ]
    );

    // An export with secrets is never kept: it streams, whatever its size.
    let s = h
        .admin(
            Method::GET,
            &format!("/v1/groups/{group}/devices:export?include_secrets=true"),
            None,
        )
        .await;
    assert_eq!(s.status, StatusCode::OK);
    assert!(s.text.contains("Device Secret"));

    // A batch job makes no file; a running job's file is not there yet.
    let b = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:reset"),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(b.status, StatusCode::ACCEPTED);
    let b = until_over(&h, b.header("location")).await;
    assert!(b.get("file").is_none());
    let nf = h
        .admin(
            Method::GET,
            &format!("/v1/jobs/{}/file", b["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((nf.status, nf.code()), (StatusCode::NOT_FOUND, "no_file"));
    let gid = dps_core::GroupId::from_uuid(group.parse().unwrap());
    let waiting = h
        .api
        .provisioner()
        .start_job(
            dps_core::job::JobKind::Export,
            gid,
            dps_core::Selection::all(),
        )
        .await
        .unwrap();
    let w = h
        .admin(
            Method::GET,
            &format!("/v1/jobs/{}/file", waiting.id()),
            None,
        )
        .await;
    assert_eq!(
        (w.status, w.code()),
        (StatusCode::CONFLICT, "job_not_finished")
    );
    let viewer = h.token("watcher", Role::Viewer, &[]).await;
    let v = h.call(Method::GET, file, Some(&viewer), None).await;
    assert_eq!(v.status, StatusCode::OK, "a viewer downloads the file");
}

#[tokio::test]
async fn a_label_archive_over_the_threshold_runs_as_a_job_whose_file_is_the_archive() {
    let h = Harness::with_options(Options::default().with_job_threshold(2)).await;
    let group = h.group("lab").await;
    for s in ["SN-1", "SN-2", "SN-3", "SN-4"] {
        h.device(&group, s, "m1").await;
    }
    let a = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:qr"),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(a.body["kind"], "labels");
    let job = until_over(&h, a.header("location")).await;
    assert_eq!(
        (job["state"].as_str(), job["succeeded"].as_u64()),
        (Some("finished"), Some(4))
    );
    let f = h
        .admin(Method::GET, job["file"].as_str().unwrap(), None)
        .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.header("content-type"), "application/zip");
    assert_eq!(
        f.bytes,
        library_labels(&h, &group).await,
        "the job's file is the archive"
    );
    let zip = zip::ZipArchive::new(std::io::Cursor::new(f.bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "SN-1.png",
            "SN-2.png",
            "SN-3.png",
            "SN-4.png",
            "manifest.csv"
        ]
    );
}

/// Posts `csv` as a `text/csv` import to `uri` with `token`.
async fn import(h: &Harness, uri: &str, token: &str, csv: &str) -> common::Answer {
    h.send(
        Method::POST,
        uri,
        Some(token),
        &[("content-type", "text/csv")],
        Some(csv.to_owned()),
    )
    .await
}

#[tokio::test]
async fn a_bulk_import_over_the_threshold_runs_as_a_job_and_reports_each_record() {
    let h = Harness::with_options(Options::default().with_job_threshold(2)).await;
    let group = h.group("lab").await;
    // A quoted line break, a refused record and CRLF line ends: the report names the lines
    // as the file has them.
    let csv = "Device Serial No.,Model ID,Description\r\n\
               SN-1,m1,\"two\r\nlines\"\r\n\
               SN-2,m1,\r\n\
               SN 3,m1,\r\n\
               SN-4,m1,\r\n\
               \r\n\
               SN-5,m1,\r\n\
               \r\n";
    let a = import(
        &h,
        &format!("/v1/groups/{group}/devices:import"),
        &h.admin,
        csv,
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(
        (a.body["kind"].as_str(), a.body["total"].as_u64()),
        (Some("import"), Some(5))
    );
    let job = until_over(&h, a.header("location")).await;
    assert_eq!(job["state"], "finished", "{job}");
    assert_eq!(
        (job["succeeded"].as_u64(), job["failed"].as_u64()),
        (Some(4), Some(1))
    );
    for serial in ["SN-1", "SN-2", "SN-4", "SN-5"] {
        let d = h
            .admin(
                Method::GET,
                &format!("/v1/groups/{group}/devices/{serial}"),
                None,
            )
            .await;
        assert_eq!(d.status, StatusCode::OK, "{serial}");
    }
    let f = h
        .admin(Method::GET, job["file"].as_str().unwrap(), None)
        .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    let report: Vec<&str> = f.text.lines().collect();
    assert_eq!(report[0], "Line,Column,Value,Code,Message");
    assert_eq!(report.len(), 2, "{}", f.text);
    assert!(
        report[1].starts_with("5,Device Serial No.,SN 3,invalid_serial,"),
        "{}",
        report[1]
    );
    let r = h
        .admin(Method::GET, job["results"].as_str().unwrap(), None)
        .await;
    let results: Vec<&str> = r.text.lines().skip(1).collect();
    assert_eq!(
        results,
        [
            "SN-1,succeeded,,",
            "SN-2,succeeded,,",
            "SN-4,succeeded,,",
            "SN-5,succeeded,,"
        ]
    );

    // Imported again (create mode): every record is refused as already registered.
    let again = import(
        &h,
        &format!("/v1/groups/{group}/devices:import"),
        &h.admin,
        csv,
    )
    .await;
    let job = until_over(&h, again.header("location")).await;
    assert_eq!(
        (job["succeeded"].as_u64(), job["failed"].as_u64()),
        (Some(0), Some(5))
    );
    assert_eq!(job["failures"][0]["code"], "already_registered");

    // A bad header is refused before any job starts; an operator's import keeps the console's
    // limits and runs in its request.
    let bad = import(
        &h,
        &format!("/v1/groups/{group}/devices:import"),
        &h.admin,
        "Serial,Nope\nA,1\nB,2\nC,3\n",
    )
    .await;
    assert_eq!(bad.status.as_u16() / 100, 4, "{}", bad.text);
    let operator = h.token("op", Role::Operator, &[]).await;
    let small = import(
        &h,
        &format!("/v1/groups/{group}/devices:import?mode=upsert"),
        &operator,
        csv,
    )
    .await;
    assert_eq!(small.status, StatusCode::OK, "{}", small.text);
}
