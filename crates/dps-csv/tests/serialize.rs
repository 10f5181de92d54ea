//! The reports serialise in the JSON shapes their docs show.

mod common;

use dps_core::import::ImportAction;
use dps_csv::{ImportOptions, ImportReport, ImportSummary, Position, RowError, RowOutcome, import};
use serde_json::{Value, json};

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn a_position_serialises_as_its_counts_and_reads_back() {
    let position = Position {
        line: 3,
        byte: 58,
        record: 1,
    };
    let documented = json!({"line": 3, "byte": 58, "record": 1});
    assert_eq!(to_json(&position), documented);
    assert_eq!(
        serde_json::from_value::<Position>(documented).unwrap(),
        position
    );
}

#[test]
fn an_import_summary_serialises_as_its_counts_and_reads_back() {
    let summary = ImportSummary {
        rows: 3,
        created: 2,
        updated: 0,
        unchanged: 0,
        failed: 1,
        committed: true,
    };
    let documented = json!(
        {"rows": 3, "created": 2, "updated": 0, "unchanged": 0, "failed": 1, "committed": true}
    );
    assert_eq!(to_json(&summary), documented);
    assert_eq!(
        serde_json::from_value::<ImportSummary>(documented).unwrap(),
        summary
    );
}

#[test]
fn a_row_error_serialises_with_where_what_code_and_message() {
    let error = RowError::new(
        3,
        Some("Timezone".into()),
        "+25:00",
        "invalid_timezone",
        "invalid timezone",
    );
    assert_eq!(
        to_json(&error),
        json!({
            "line": 3,
            "column": "Timezone",
            "value": "+25:00",
            "code": "invalid_timezone",
            "message": "invalid timezone"
        })
    );
    let whole_row = RowError::new(4, None, "", "wrong_field_count", "3 cells, 2 expected");
    assert_eq!(to_json(&whole_row)["column"], Value::Null);
}

#[test]
fn a_row_outcome_serialises_its_action_or_its_error() {
    let created = RowOutcome {
        line: 2,
        serial: Some("SN-1".parse().unwrap()),
        result: Ok(ImportAction::Create),
    };
    assert_eq!(
        to_json(&created),
        json!({"line": 2, "serial": "SN-1", "action": "create"})
    );
    let unchanged = RowOutcome {
        result: Ok(ImportAction::Unchanged),
        ..created
    };
    assert_eq!(to_json(&unchanged)["action"], "unchanged");
    let refused = RowOutcome {
        line: 3,
        serial: None,
        result: Err(RowError::new(
            3,
            Some("Device Serial No.".into()),
            "SN 2",
            "invalid_serial",
            "invalid serial: contains ' '; allowed are ASCII letters, digits and - _ . :",
        )),
    };
    assert_eq!(
        to_json(&refused),
        json!({
            "line": 3,
            "serial": null,
            "error": {
                "line": 3,
                "column": "Device Serial No.",
                "value": "SN 2",
                "code": "invalid_serial",
                "message": "invalid serial: contains ' '; allowed are ASCII letters, digits and - _ . :"
            }
        })
    );
}

#[test]
fn an_import_report_serialises_as_its_summary_and_rows() {
    common::rt().block_on(async {
        let dps = common::dps();
        let group = common::group(&dps, "g", Default::default()).await;
        let file = "Device Serial No.,Model ID\nSN-1,m1\nSN 2,m1\n";
        let report: ImportReport =
            import(&dps, group.id(), file.as_bytes(), &ImportOptions::default())
                .await
                .unwrap();
        assert_eq!(
            to_json(&report),
            json!({
                "summary": {"rows": 2, "created": 1, "updated": 0, "unchanged": 0, "failed": 1, "committed": true},
                "rows": [
                    {"line": 2, "serial": "SN-1", "action": "create"},
                    {
                        "line": 3,
                        "serial": null,
                        "error": {
                            "line": 3,
                            "column": "Device Serial No.",
                            "value": "SN 2",
                            "code": "invalid_serial",
                            "message": "invalid serial: contains ' '; allowed are ASCII letters, digits and - _ . :"
                        }
                    }
                ]
            })
        );
    });
}
