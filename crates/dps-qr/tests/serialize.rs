//! Label reports serialise in the JSON shapes their docs show.

use dps_core::{DeviceId, Entity};
use dps_qr::{Error, LabelOutcome, LabelReport};
use serde_json::{Value, json};

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

fn made() -> LabelOutcome {
    LabelOutcome {
        serial: "SN-0001".parse().unwrap(),
        device_id: Some(
            "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7"
                .parse::<DeviceId>()
                .unwrap(),
        ),
        result: Ok("SN-0001.png".into()),
    }
}

fn missing() -> LabelOutcome {
    LabelOutcome {
        serial: "SN-0404".parse().unwrap(),
        device_id: None,
        result: Err(Error::Core(dps_core::Error::NotFound {
            entity: Entity::Device,
            key: "SN-0404".into(),
        })),
    }
}

#[test]
fn an_outcome_serialises_its_file_or_its_error_code_and_message() {
    assert_eq!(
        to_json(&made()),
        json!({"serial": "SN-0001", "device_id": "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7", "file": "SN-0001.png"})
    );
    assert_eq!(
        to_json(&missing()),
        json!({
            "serial": "SN-0404",
            "device_id": null,
            "error": {"code": "not_found", "message": "device SN-0404 not found"}
        })
    );
}

#[test]
fn a_report_serialises_its_counts_and_outcomes() {
    let report = LabelReport {
        outcomes: vec![made(), missing()],
    };
    assert_eq!(
        to_json(&report),
        json!({
            "succeeded": 1,
            "failed": 1,
            "outcomes": [
                {"serial": "SN-0001", "device_id": "0190a4c6-7b1e-7cc2-9d4e-2f61a8b3c5d7", "file": "SN-0001.png"},
                {"serial": "SN-0404", "device_id": null, "error": {"code": "not_found", "message": "device SN-0404 not found"}}
            ]
        })
    );
    assert_eq!(
        to_json(&LabelReport::default()),
        json!({"succeeded": 0, "failed": 0, "outcomes": []})
    );
}
