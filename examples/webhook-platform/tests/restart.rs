//! With a data file, a restarted platform holds what it applied and answers repeats of earlier
//! operation IDs with their first answers.

mod common;

use std::fs;
use std::path::Path;

use common::{Client, config, offboard, onboard, reissue, serve};
use webhook_platform::{Error, Platform};

const OP1: &str = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a501";
const OP2: &str = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a502";
const OP3: &str = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a503";
const OP4: &str = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a504";

fn platform(data: &Path) -> Result<Platform, Error> {
    let mut config = config();
    config.data_file = Some(data.to_owned());
    Platform::new(config)
}

#[tokio::test]
async fn a_restarted_platform_answers_earlier_keys_with_their_first_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform.jsonl");
    let (onboarded, reissued, kept, before) = {
        let server = serve(platform(&data).unwrap()).await;
        let client = Client::new(&server.url);
        let onboarded = client
            .call(&onboard(OP1, "SN-1", "thermostat"))
            .await
            .unwrap();
        let asset = onboarded.json["asset_id"].as_str().unwrap().to_owned();
        let reissued = client.call(&reissue(OP2, &asset, "SN-2")).await.unwrap();
        let kept = client
            .call(&onboard(OP3, "SN-3", "thermostat"))
            .await
            .unwrap();
        client.call(&offboard(OP4, &asset)).await.unwrap();
        (onboarded, reissued, kept, server.platform.snapshot())
    };
    assert_eq!(fs::read_to_string(&data).unwrap().lines().count(), 4);

    let server = serve(platform(&data).unwrap()).await;
    let after = server.platform.snapshot();
    assert_eq!(after.assets, before.assets);
    assert_eq!(after.applied, before.applied);
    assert!(after.requested.is_empty());
    let kept_id = kept.json["asset_id"].as_str().unwrap();
    assert_eq!(after.assets.keys().collect::<Vec<_>>(), [kept_id]);

    let client = Client::new(&server.url);
    let asset = onboarded.json["asset_id"].as_str().unwrap();
    let again = client
        .call(&onboard(OP1, "SN-1", "thermostat"))
        .await
        .unwrap();
    assert_eq!(again.json, onboarded.json);
    let again = client.call(&reissue(OP2, asset, "SN-2")).await.unwrap();
    assert_eq!(again.json, reissued.json);
    let again = client
        .call(&onboard(OP3, "SN-3", "thermostat"))
        .await
        .unwrap();
    assert_eq!(again.json, kept.json);
    let snapshot = server.platform.snapshot();
    assert_eq!(
        snapshot.assets, before.assets,
        "the repeats applied nothing"
    );
    for op in [OP1, OP2, OP3, OP4] {
        assert_eq!(snapshot.applied[op], 1, "{op}");
    }
    assert_eq!(fs::read_to_string(&data).unwrap().lines().count(), 4);
}

#[tokio::test]
async fn a_last_line_without_its_newline_is_cut_off_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform.jsonl");
    {
        let server = serve(platform(&data).unwrap()).await;
        let client = Client::new(&server.url);
        client
            .call(&onboard(OP1, "SN-1", "thermostat"))
            .await
            .unwrap();
    }
    let whole = fs::read_to_string(&data).unwrap();
    fs::write(&data, format!("{whole}{{\"key\":\"{OP2}\",\"requ")).unwrap();

    let server = serve(platform(&data).unwrap()).await;
    assert_eq!(fs::read_to_string(&data).unwrap(), whole);
    assert_eq!(server.platform.snapshot().assets.len(), 1);
    let client = Client::new(&server.url);
    client
        .call(&onboard(OP2, "SN-2", "thermostat"))
        .await
        .unwrap();
    drop(server);

    let reopened = platform(&data).unwrap().snapshot();
    assert_eq!(reopened.assets.len(), 2);
    assert_eq!(reopened.applied.len(), 2);
}

#[test]
fn a_corrupt_line_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform.jsonl");
    fs::write(&data, "not an entry\n").unwrap();
    match platform(&data) {
        Err(Error::Corrupt { line, path, .. }) => {
            assert_eq!(line, 1);
            assert_eq!(path, data);
        }
        other => panic!("expected a corrupt data file, got {other:?}"),
    }
}

#[test]
fn a_data_file_that_cannot_be_opened_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("missing-directory").join("platform.jsonl");
    assert!(matches!(platform(&data), Err(Error::Io { .. })));
}
