//! End-to-end tests of the built `dps` binary on a temporary SQLite database, and on
//! PostgreSQL when `DPS_TEST_POSTGRES_URL` is set.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{Env, stderr};

/// Runs the lifecycle on `env`; the database is SQLite or PostgreSQL.
fn lifecycle(env: &Env) {
    let init = env.ok_json(&["targets", "init"]);
    assert!(init["path"].as_str().unwrap().ends_with("targets.toml"));
    let targets = env.ok_json(&["targets", "list"]);
    assert_eq!(targets["items"][0]["environment"], "prod-eu");
    assert_eq!(targets["items"][0]["ou"], "acme");
    assert!(!targets["items"][0]["models"].as_array().unwrap().is_empty());
    assert!(targets["next_cursor"].is_null());

    let group = env.ok_json(&[
        "group",
        "create",
        "--name",
        "Lab",
        "--environment",
        "prod-eu",
        "--ou",
        "acme",
        "--reprovision",
        "initialize",
        "--attribute",
        "floor:integer:required=0",
        "--attribute",
        "color:enum/red/blue",
    ]);
    assert_eq!(group["name"], "Lab");
    assert_eq!(group["reprovision"], "initialize");
    let shown = env.ok_json(&["group", "show", "Lab"]);
    assert_eq!(shown["id"], group["id"]);
    let list = env.ok_json(&["group", "list"]);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let edited = env.ok_json(&["group", "edit", "Lab", "--auto-activation"]);
    assert_eq!(edited["auto_activation"], true);

    // Template, import with a bad row and an error report.
    let template = env.path("template.csv");
    env.ok_json(&[
        "device",
        "template",
        "--group",
        "Lab",
        "-o",
        template.to_str().unwrap(),
    ]);
    let header = std::fs::read_to_string(&template).unwrap();
    assert!(header.starts_with("\u{feff}Device Serial No."), "{header}");
    assert!(header.contains("floor") && header.contains("color"));
    let csv = env.path("devices.csv");
    std::fs::write(
        &csv,
        "Device Serial No.,Model ID,floor,color\nA-1,thermostat,1,red\nA-2,thermostat,2,blue\nA-3,thermostat,x,red\nA-4,meter,4,\n",
    )
    .unwrap();
    let errors = env.path("errors.csv");
    let (code, dry) = env.json(&[
        "device",
        "import",
        "--group",
        "Lab",
        csv.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(code, 1);
    assert_eq!(dry["dry_run"], true);
    let (code, report) = env.json(&[
        "device",
        "import",
        "--group",
        "Lab",
        csv.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "a rejected row exits 1: {report}");
    assert_eq!(report["accepted"], 3);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["rows"][0]["line"], 4);
    assert_eq!(report["rows"][0]["column"], "floor");
    assert_eq!(report["rows"][0]["code"], "invalid_attribute");
    assert!(report["rows"][0]["message"].is_string());
    let error_report = std::fs::read_to_string(&errors).unwrap();
    assert!(error_report.contains("invalid_attribute"), "{error_report}");

    let generated = env.ok_json(&[
        "device",
        "generate",
        "--group",
        "Lab",
        "--count",
        "5",
        "--model",
        "thermostat",
        "--batch-tag",
        "gen",
    ]);
    assert_eq!(generated["succeeded"], 5);

    // Lists page with a cursor.
    let page = env.ok_json(&["device", "list", "--group", "Lab", "--limit", "2"]);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = env.ok_json(&[
        "device", "list", "--group", "Lab", "--limit", "100", "--cursor", &cursor,
    ]);
    assert_eq!(next["items"].as_array().unwrap().len(), 6);
    assert!(next["next_cursor"].is_null());
    let tagged = env.ok_json(&["device", "list", "--group", "Lab", "--batch-tag", "gen"]);
    assert_eq!(tagged["items"].as_array().unwrap().len(), 5);

    let shown = env.ok_json(&["device", "show", "--group", "Lab", "A-1"]);
    assert_eq!(shown["serial"], "A-1");
    assert_eq!(shown["model_id"], "thermostat");
    assert_eq!(shown["status"], "not_allocated");
    let edited = env.ok_json(&[
        "device",
        "edit",
        "--group",
        "Lab",
        "A-1",
        "--name",
        "Lobby",
        "--timezone",
        "+01:00",
        "--attr",
        "floor=7",
    ]);
    assert_eq!(edited["name"], "Lobby");
    assert_eq!(edited["attributes"]["floor"], "7");

    // A batch command needs a selection.
    let out = env.run(&["device", "allocate", "--group", "Lab"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Allocate everything: every model exists in the target.
    let allocated = env.ok_json(&["device", "allocate", "--group", "Lab", "--all"]);
    assert_eq!(allocated["succeeded"], 8);
    assert_eq!(allocated["failed"], 0);
    assert_eq!(allocated["results"][0]["ok"], true);
    let a1 = env.ok_json(&["device", "show", "--group", "Lab", "A-1"]);
    assert_eq!(a1["status"], "allocated");
    assert_eq!(a1["environment"], "prod-eu");
    assert_eq!(a1["ou"], "acme");
    assert!(
        a1["asset_id"].is_string() && a1["product_key"].is_string() && a1["device_key"].is_string()
    );
    assert!(a1.get("device_secret").is_none());

    // Act as the device: bootstrap answers with the allocation's credentials.
    let answer = env.ok_json(&[
        "device",
        "bootstrap",
        "--group",
        "Lab",
        "A-1",
        "--name",
        "ignored",
    ]);
    assert_eq!(answer["asset_id"], a1["asset_id"]);
    assert_eq!(answer["allocated_now"], false);
    assert!(answer["credentials"]["device_secret"].is_string());
    env.ok_json(&["group", "rotate-secret", "Lab", "--immediate"]);
    let again = env.ok_json(&["device", "bootstrap", "--group", "Lab", "A-1"]);
    assert_eq!(
        again["credentials"], answer["credentials"],
        "same answer, no second allocation"
    );
    let (code, err) = env.json(&["device", "bootstrap", "--group", "Lab", "NOPE"]);
    assert_eq!(code, 2);
    assert_eq!(err["error"]["code"], "unauthorized");

    // A partial batch exits 1 with per-device errors.
    let (code, partial) = env.json(&["device", "reset", "--group", "Lab", "A-2", "GHOST"]);
    assert_eq!(code, 1);
    assert_eq!(partial["succeeded"], 1);
    assert_eq!(partial["results"][1]["ok"], false);
    assert_eq!(partial["results"][1]["error"]["code"], "not_found");

    // Export, with and without secrets; QR labels.
    let export = env.path("export.csv");
    env.ok_json(&[
        "device",
        "export",
        "--group",
        "Lab",
        "--status",
        "allocated",
        "-o",
        export.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(
        text.contains("A-1") && !text.contains("Device Secret"),
        "{text}"
    );
    env.ok_json(&[
        "device",
        "export",
        "--group",
        "Lab",
        "A-1",
        "-o",
        export.to_str().unwrap(),
        "--include-secrets",
    ]);
    assert!(
        std::fs::read_to_string(&export)
            .unwrap()
            .contains("Device Secret")
    );
    let zip = env.path("labels.zip");
    let qr = env.ok_json(&[
        "device",
        "qr",
        "--group",
        "Lab",
        "--all",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert_eq!(qr["succeeded"], 8);
    assert!(std::fs::metadata(&zip).unwrap().len() > 0);
    let svg = env.path("labels-svg.zip");
    env.ok_json(&[
        "device",
        "qr",
        "--group",
        "Lab",
        "A-1",
        "-o",
        svg.to_str().unwrap(),
        "--format",
        "svg",
    ]);

    // Replace, delete, recover, events.
    let replaced = env.ok_json(&[
        "device",
        "replace",
        "--group",
        "Lab",
        "A-1",
        "--new-serial",
        "A-1R",
        "--batch-tag",
        "rma",
    ]);
    assert_eq!(replaced["serial"], "A-1R");
    assert_eq!(replaced["asset_id"], a1["asset_id"]);
    assert_ne!(replaced["device_key"], a1["device_key"]);
    let generated = env.ok_json(&[
        "device",
        "replace",
        "--group",
        "Lab",
        "A-1R",
        "--generate",
        "--batch-tag",
        "rma2",
    ]);
    assert_eq!(generated["serial"].as_str().unwrap().len(), 16);
    let deleted = env.ok_json(&["device", "delete", "--group", "Lab", "--batch-tag", "gen"]);
    assert_eq!(deleted["succeeded"], 5);
    let recovered = env.ok_json(&["recover"]);
    assert_eq!(recovered["succeeded"], 0);
    let events = env.ok_json(&["events", "--limit", "5"]);
    assert_eq!(events["items"].as_array().unwrap().len(), 5);
    let after = events["next_cursor"].as_str().unwrap().to_owned();
    let more = env.ok_json(&["events", "--after", &after, "--limit", "1000"]);
    assert!(more["items"].as_array().unwrap().len() > 10);

    // Deleting a group with devices needs --cascade.
    let (code, _) = env.json(&["group", "delete", "Lab"]);
    assert_eq!(code, 2);
    let gone = env.ok_json(&["group", "delete", "Lab", "--cascade"]);
    assert_eq!(gone["group_deleted"], true);
    let (code, err) = env.json(&["group", "show", "Lab"]);
    assert_eq!(code, 2);
    assert_eq!(err["error"]["code"], "not_found");
}

#[test]
fn the_whole_lifecycle_on_sqlite() {
    lifecycle(&Env::sqlite());
}

#[test]
fn the_whole_lifecycle_on_postgres() {
    let Some(pg) = common::PgDatabase::create("cli") else {
        return;
    };
    let env = Env::on(pg.db.clone());
    lifecycle(&env);
}

#[test]
fn demo_runs_in_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_dps"))
        .args(["demo", "--dir"])
        .arg(&work)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for step in [
        "targets", "group", "import", "allocate", "export", "qr", "replace", "reset", "delete",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(step)),
            "step {step} missing:\n{text}"
        );
    }
    assert!(text.contains("1000 created, 0 rejected"), "{text}");
    assert!(text.contains("1000 allocated, 0 failed"), "{text}");
    for file in [
        "dps-targets.toml",
        "dps.sqlite",
        "devices.csv",
        "export.csv",
        "labels.zip",
    ] {
        assert!(work.join(file).exists(), "{file} was written");
    }
}

#[test]
fn every_command_has_help_and_there_is_a_version() {
    let commands: &[&[&str]] = &[
        &[],
        &["demo"],
        &["targets"],
        &["targets", "init"],
        &["targets", "list"],
        &["group"],
        &["group", "create"],
        &["group", "list"],
        &["group", "show"],
        &["group", "edit"],
        &["group", "delete"],
        &["device"],
        &["device", "template"],
        &["device", "import"],
        &["device", "generate"],
        &["device", "list"],
        &["device", "show"],
        &["device", "edit"],
        &["device", "export"],
        &["device", "qr"],
        &["device", "allocate"],
        &["device", "reset"],
        &["device", "delete"],
        &["device", "replace"],
        &["recover"],
        &["events"],
    ];
    for c in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_dps"))
            .args(*c)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{c:?} --help");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage:"), "{c:?}: {text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dps"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains(env!("CARGO_PKG_VERSION"))
    );
}

fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(needle), "{err:?} names {needle:?}");
}

#[test]
fn bad_input_gets_one_line_errors_and_the_right_exit_codes() {
    let env = Env::sqlite();
    // Missing targets file for a command that needs the environment.
    env.ok_json(&[
        "group",
        "create",
        "--name",
        "g",
        "--environment",
        "e",
        "--ou",
        "o",
    ]);
    let out = env.run(&["device", "allocate", "--group", "g", "--all"]);
    assert_one_line_error(&out, 2, "targets.toml");
    // Malformed targets file.
    std::fs::write(env.path("targets.toml"), "[[targets]]\nenvironment = 3\n").unwrap();
    let out = env.run(&["targets", "list"]);
    assert_one_line_error(&out, 2, "targets.toml");
    std::fs::remove_file(env.path("targets.toml")).unwrap();
    env.ok_json(&["targets", "init"]);
    // Unknown group.
    let out = env.run(&["device", "list", "--group", "nope"]);
    assert_one_line_error(&out, 2, "nope");
    // Bad flag values.
    let out = env.run(&["device", "list", "--group", "g", "--status", "sleeping"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&[
        "device",
        "edit",
        "--group",
        "g",
        "X",
        "--timezone",
        "+25:00",
    ]);
    assert_one_line_error(&out, 2, "timezone");
    let out = env.run(&["group", "create", "--name", "h", "--attribute", "x:float"]);
    assert_one_line_error(&out, 2, "x:float");
    // Unreadable CSV.
    let out = env.run(&["device", "import", "--group", "g", "/nonexistent/file.csv"]);
    assert_one_line_error(&out, 2, "/nonexistent/file.csv");
    // Unwritable output: nothing is left behind.
    let target = env.path("missing-dir").join("out.csv");
    let out = env.run(&[
        "device",
        "export",
        "--group",
        "g",
        "--all",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 3, "missing-dir");
    assert!(!target.exists());
    // A database that is not one.
    let bogus = env.path("bogus.sqlite");
    std::fs::write(&bogus, "not a database, just text ".repeat(100)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dps"))
        .args(["--db", bogus.to_str().unwrap(), "group", "list"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 3, "bogus.sqlite");
    assert_no_stray_files(env.dir.path());
}

fn assert_no_stray_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".dps-"),
            "temporary file {name} left behind"
        );
    }
}
