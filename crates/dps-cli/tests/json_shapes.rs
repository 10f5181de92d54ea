//! Golden tests of every `--json` document the `dps` command prints.
//!
//! Each command runs against a temporary SQLite database; its exit code is checked, its stdout
//! must be exactly one compact JSON document with its keys in sorted order, and the document,
//! with run-dependent values (IDs, timestamps, asset IDs, keys, secrets, paths) replaced by
//! placeholders, must equal `tests/golden/<name>.json`. Every key, every nesting and every
//! value type is compared.
//!
//! After an intended change to a document, rewrite the golden files with
//! `DPS_UPDATE_GOLDEN=1 cargo test -p dps-cli --test json_shapes` and review the diff.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

/// A working directory with a database and a targets file path.
struct Golden {
    dir: tempfile::TempDir,
    db: String,
}

/// The output of one run.
struct Run {
    exit: i32,
    stdout: String,
    stderr: String,
    pid: u32,
}

impl Golden {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("dps.sqlite").display().to_string();
        Self { dir, db }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn run(&self, args: &[&str]) -> Run {
        let child = Command::new(env!("CARGO_BIN_EXE_dps"))
            .current_dir(self.dir.path())
            .env_remove("DPS_DATABASE_URL")
            .env_remove("DPS_TARGETS")
            .arg("--json")
            .arg("--db")
            .arg(&self.db)
            .arg("--targets")
            .arg(self.path("targets.toml"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        Run {
            exit: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            pid,
        }
    }

    /// Runs `args` with `--json`, expects exit code `exit`, and compares the document with the
    /// golden file `name`; returns the document as printed.
    fn check(&self, name: &str, exit: i32, args: &[&str]) -> Value {
        let run = self.run(args);
        assert_eq!(
            run.exit, exit,
            "{name}: {args:?} exit code; stdout {:?}; stderr {:?}",
            run.stdout, run.stderr
        );
        let doc: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: {args:?}: stdout is not one JSON document ({e}): {:?}; stderr {:?}",
                run.stdout, run.stderr
            )
        });
        // One line, compact, keys sorted: exactly how a `Value` prints.
        assert_eq!(
            run.stdout,
            format!("{doc}\n"),
            "{name}: stdout is not the canonical form of its document"
        );
        let rules = Rules {
            dir: self.dir.path(),
            pid: run.pid,
        };
        let normalised = rules.value(None, &doc);
        compare(name, &normalised);
        doc
    }
}

/// How run-dependent values become placeholders.
struct Rules<'a> {
    dir: &'a Path,
    pid: u32,
}

impl Rules<'_> {
    fn value(&self, key: Option<&str>, v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(Some(k), v)))
                    .collect::<Map<_, _>>(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(key, v)).collect()),
            Value::String(s) => Value::String(self.string(key, s)),
            Value::Number(n) => match key {
                // Event and bootstrap instants: milliseconds since the epoch.
                Some("at" | "bootstrapped_at") if n.is_u64() => Value::from("<millis>"),
                _ => v.clone(),
            },
            Value::Null | Value::Bool(_) => v.clone(),
        }
    }

    fn string(&self, key: Option<&str>, s: &str) -> String {
        match key {
            Some("device_secret") => {
                assert!(
                    s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit()),
                    "device_secret {s:?} is hex"
                );
                return "<device_secret>".to_owned();
            }
            Some("serial") if is_generated_serial(s) => return "<generated_serial>".to_owned(),
            _ => {}
        }
        let dir = self.dir.display().to_string();
        let s = s.replace(&dir, "<dir>");
        let s = s.replace(
            &format!("Demo building {}", self.pid),
            "Demo building <pid>",
        );
        replace_shapes(&s)
    }
}

/// Replaces UUIDs, RFC 3339 timestamps, asset IDs, product and device keys and temporary file
/// names anywhere in `s`.
fn replace_shapes(s: &str) -> String {
    let shapes: &[(&str, &str)] = &[
        ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "<uuid>"),
        ("9999-99-99T99:99:99.999Z", "<timestamp>"),
        ("asset-xxxxxxxxxxxxxxxxxx", "<asset_id>"),
        ("pk-xxxxxxxxxxxxxxxx", "<product_key>"),
        ("dk-xxxxxxxxxxxxxxxx", "<device_key>"),
        (".dps-******", ".dps-<temp>"),
    ];
    let bytes = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    'scan: while i < bytes.len() {
        for (shape, placeholder) in shapes {
            if fits(&bytes[i..], shape.as_bytes()) {
                out.push_str(placeholder);
                i += shape.len();
                continue 'scan;
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Whether `text` starts with `shape`: `x` a lowercase hex digit, `9` a decimal digit, `*` an
/// ASCII letter or digit, any other byte itself.
fn fits(text: &[u8], shape: &[u8]) -> bool {
    text.len() >= shape.len()
        && shape.iter().zip(text).all(|(s, t)| match s {
            b'x' => t.is_ascii_digit() || (b'a'..=b'f').contains(t),
            b'9' => t.is_ascii_digit(),
            b'*' => t.is_ascii_alphanumeric(),
            other => other == t,
        })
}

/// Whether `s` is a generated serial: 16 characters of digits and capitals but I, L, O, U.
fn is_generated_serial(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"))
}

/// Compares `doc` with the golden file `name`, or rewrites the file under `DPS_UPDATE_GOLDEN`.
fn compare(name: &str, doc: &Value) {
    let path = golden_path(name);
    let pretty = format!("{}\n", serde_json::to_string_pretty(doc).unwrap());
    if std::env::var_os("DPS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, pretty).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with DPS_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    let golden: Value = serde_json::from_str(&text).unwrap();
    assert!(
        golden == *doc,
        "{name}: the document differs from {}\n--- golden\n{text}--- now\n{pretty}",
        path.display()
    );
}

const SCHEMA: &[&str] = &[
    "--attribute",
    "floor:integer:required=0",
    "--attribute",
    "color:enum/red/blue",
    "--attribute",
    "note:string/20",
    "--attribute",
    "since:date=2024-01-02",
];

/// Every document of the targets, group and device commands, of recover and of the errors.
#[test]
fn every_command_prints_its_golden_document() {
    let g = Golden::new();

    // Targets.
    let args = ["targets", "list"];
    g.check("error_invalid_targets", 2, &args);
    g.check("targets_init", 0, &["targets", "init"]);
    g.check("error_already_exists", 2, &["targets", "init"]);
    g.check("targets_list", 0, &args);
    let other = g.arg("other-targets.toml");
    g.check("targets_init_output", 0, &["targets", "init", "-o", &other]);

    // Groups.
    let mut create = vec![
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
        "--model-type",
        "private",
    ];
    create.extend_from_slice(SCHEMA);
    g.check("group_create", 0, &create);
    g.check(
        "group_create_minimal",
        0,
        &["group", "create", "--name", "Bare"],
    );
    g.check(
        "error_invalid_attribute_spec",
        2,
        &["group", "create", "--name", "X", "--attribute", "x:float"],
    );
    g.check("group_list", 0, &["group", "list"]);
    g.check("group_show", 0, &["group", "show", "Lab"]);
    g.check(
        "group_edit",
        0,
        &[
            "group",
            "edit",
            "Bare",
            "--environment",
            "staging",
            "--ou",
            "acme",
            "--auto-activation",
            "--reprovision",
            "disabled",
            "--attribute",
            "rack:string",
        ],
    );
    g.check(
        "device_generate",
        0,
        &[
            "device",
            "generate",
            "--group",
            "Bare",
            "--count",
            "3",
            "--model",
            "thermostat",
            "--batch-tag",
            "gen",
        ],
    );
    g.check(
        "device_allocate_generated",
        0,
        &[
            "device",
            "allocate",
            "--group",
            "Bare",
            "--batch-tag",
            "gen",
        ],
    );
    g.check(
        "device_reset_disabled",
        1,
        &["device", "reset", "--group", "Bare", "--all"],
    );
    g.check(
        "group_edit_cleared",
        0,
        &[
            "group",
            "edit",
            "Bare",
            "--clear-target",
            "--no-auto-activation",
        ],
    );
    g.check(
        "group_rotate_secret",
        0,
        &["group", "rotate-secret", "Bare"],
    );
    g.check(
        "group_rotate_secret_immediate",
        0,
        &["group", "rotate-secret", "Bare", "--immediate"],
    );
    g.check("error_group_not_found", 2, &["group", "show", "Nope"]);

    // Templates and import.
    g.check(
        "device_template",
        0,
        &["device", "template", "--group", "Lab"],
    );
    let template = g.arg("template.csv");
    g.check(
        "device_template_output",
        0,
        &["device", "template", "--group", "Lab", "-o", &template],
    );
    let csv = g.path("devices.csv");
    std::fs::write(
        &csv,
        "Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,floor,color,since\n\
         A-1,Lobby,thermostat,+01:00,b1,1,red,2024-05-06\n\
         A-2,,nosuch,,b1,2,blue,\n\
         A-3,,meter,,b2,x,red,\n\
         A-4,,meter,,b2,4,,\n",
    )
    .unwrap();
    let csv = csv.display().to_string();
    let import = ["device", "import", "--group", "Lab", csv.as_str()];
    let mut dry = import.to_vec();
    dry.push("--dry-run");
    g.check("device_import_dry_run", 1, &dry);
    let errors = g.arg("errors.csv");
    let mut with_errors = import.to_vec();
    with_errors.extend_from_slice(&["--errors", &errors]);
    g.check("device_import", 1, &with_errors);
    let upsert_csv = g.path("upsert.csv");
    std::fs::write(
        &upsert_csv,
        "Device Serial No.,Model ID,floor\nA-4,meter,5\nA-5,meter,6\n",
    )
    .unwrap();
    let upsert_csv = upsert_csv.display().to_string();
    g.check(
        "device_import_upsert",
        0,
        &[
            "device",
            "import",
            "--group",
            "Lab",
            &upsert_csv,
            "--mode",
            "upsert",
            "--all-or-nothing",
            "--no-limits",
        ],
    );
    g.check(
        "error_import_unreadable",
        2,
        &[
            "device",
            "import",
            "--group",
            "Lab",
            "/nonexistent/file.csv",
        ],
    );

    // Lists, show, edit.
    g.check(
        "device_list_page",
        0,
        &["device", "list", "--group", "Lab", "--limit", "2"],
    );
    g.check(
        "device_list_last_page",
        0,
        &["device", "list", "--group", "Lab", "--cursor", "A-2"],
    );
    g.check(
        "device_list_filtered",
        0,
        &[
            "device",
            "list",
            "--group",
            "Lab",
            "--model",
            "meter",
            "--batch-tag",
            "b2",
        ],
    );
    g.check(
        "device_show",
        0,
        &["device", "show", "--group", "Lab", "A-1"],
    );
    g.check(
        "device_edit",
        0,
        &[
            "device",
            "edit",
            "--group",
            "Lab",
            "A-4",
            "--name",
            "Boiler",
            "--timezone=-05:30",
            "--batch-tag",
            "b3",
            "--description",
            "In the basement",
            "--environment",
            "staging",
            "--ou",
            "acme",
            "--attr",
            "floor=7",
            "--attr",
            "color=blue",
            "--attr",
            "note=",
        ],
    );
    g.check(
        "device_edit_cleared",
        0,
        &[
            "device",
            "edit",
            "--group",
            "Lab",
            "A-4",
            "--clear-target",
            "--model",
            "thermostat",
        ],
    );
    g.check(
        "error_invalid_timezone",
        2,
        &[
            "device",
            "edit",
            "--group",
            "Lab",
            "A-4",
            "--timezone",
            "+25:00",
        ],
    );
    g.check(
        "error_attribute_not_in_schema",
        2,
        &[
            "device", "edit", "--group", "Lab", "A-4", "--attr", "weight=3",
        ],
    );
    g.check(
        "error_device_not_found",
        2,
        &["device", "show", "--group", "Lab", "GHOST"],
    );

    // Allocation.
    g.check(
        "error_no_selection",
        2,
        &["device", "allocate", "--group", "Lab"],
    );
    g.check(
        "device_allocate",
        1,
        &["device", "allocate", "--group", "Lab", "--all"],
    );
    g.check(
        "device_allocate_again",
        1,
        &["device", "allocate", "--group", "Lab", "A-1", "A-4"],
    );
    g.check(
        "device_show_allocated",
        0,
        &["device", "show", "--group", "Lab", "A-1"],
    );
    g.check(
        "device_show_failed",
        0,
        &["device", "show", "--group", "Lab", "A-2"],
    );
    g.check(
        "device_bootstrap",
        0,
        &[
            "device",
            "bootstrap",
            "--group",
            "Lab",
            "A-1",
            "--name",
            "x",
            "--timezone",
            "+02:00",
        ],
    );
    g.check(
        "error_unauthorized",
        2,
        &["device", "bootstrap", "--group", "Lab", "NOPE"],
    );

    // Export and labels.
    let export = g.arg("export.csv");
    g.check(
        "device_export",
        0,
        &[
            "device",
            "export",
            "--group",
            "Lab",
            "--status",
            "allocated",
            "-o",
            &export,
        ],
    );
    g.check(
        "device_export_not_found",
        1,
        &[
            "device",
            "export",
            "--group",
            "Lab",
            "A-1",
            "GHOST",
            "-o",
            &export,
            "--include-secrets",
            "--include-bootstrap-keys",
        ],
    );
    let missing = g.path("missing-dir").join("out.csv").display().to_string();
    g.check(
        "error_io",
        3,
        &[
            "device", "export", "--group", "Lab", "--all", "-o", &missing,
        ],
    );
    let zip = g.arg("labels.zip");
    g.check(
        "device_qr",
        0,
        &["device", "qr", "--group", "Lab", "--all", "-o", &zip],
    );
    g.check(
        "device_qr_svg",
        0,
        &[
            "device", "qr", "--group", "Lab", "A-1", "-o", &zip, "--format", "svg",
        ],
    );

    // Replace, reset, delete, recover.
    g.check(
        "device_replace",
        0,
        &[
            "device",
            "replace",
            "--group",
            "Lab",
            "A-1",
            "--new-serial",
            "A-1R",
            "--batch-tag",
            "rma",
            "--description",
            "replaced after a fault",
        ],
    );
    g.check(
        "device_replace_generated",
        0,
        &[
            "device",
            "replace",
            "--group",
            "Lab",
            "A-1R",
            "--generate",
            "--batch-tag",
            "rma2",
        ],
    );
    g.check(
        "device_reset",
        1,
        &["device", "reset", "--group", "Lab", "A-4", "GHOST"],
    );
    g.check(
        "device_delete",
        0,
        &[
            "device",
            "delete",
            "--group",
            "Lab",
            "--serial-prefix",
            "A-5",
        ],
    );
    // The generated serial sorts anywhere among the others: out of the group's last batch.
    g.check(
        "device_delete_generated",
        0,
        &["device", "delete", "--group", "Lab", "--batch-tag", "rma2"],
    );
    g.check("recover", 0, &["recover"]);

    // Groups with devices.
    g.check("error_group_not_empty", 2, &["group", "delete", "Lab"]);
    g.check(
        "group_delete_cascade",
        0,
        &["group", "delete", "Lab", "--cascade"],
    );
    g.check(
        "group_delete_empty",
        0,
        &["group", "delete", "Bare", "--cascade"],
    );
    g.check("group_list_empty", 0, &["group", "list"]);
    g.check("events_empty_page", 0, &["events", "--after", "100000"]);
}

/// The event log: one device at a time, so that the log's order is the commands' order.
#[test]
fn the_event_log_prints_its_golden_documents() {
    let g = Golden::new();
    g.check("targets_init_events", 0, &["targets", "init"]);
    g.check(
        "events_group",
        0,
        &[
            "group",
            "create",
            "--name",
            "Ev",
            "--environment",
            "prod-eu",
            "--ou",
            "acme",
            "--reprovision",
            "initialize",
            "--attribute",
            "floor:integer=1",
        ],
    );
    let csv = g.path("ev.csv");
    std::fs::write(
        &csv,
        "Device Serial No.,Model ID,floor\nE-1,thermostat,3\nE-2,nosuch,\n",
    )
    .unwrap();
    let csv = csv.display().to_string();
    g.check(
        "events_import",
        0,
        &["device", "import", "--group", "Ev", &csv],
    );
    let steps: &[&[&str]] = &[
        &["group", "edit", "Ev", "--auto-activation"],
        &["device", "edit", "--group", "Ev", "E-1", "--name", "One"],
        &["device", "allocate", "--group", "Ev", "E-1"],
        &["device", "bootstrap", "--group", "Ev", "E-1"],
        &[
            "device",
            "replace",
            "--group",
            "Ev",
            "E-1",
            "--new-serial",
            "E-1R",
            "--batch-tag",
            "rma",
        ],
        &["device", "reset", "--group", "Ev", "E-1R"],
        &["device", "allocate", "--group", "Ev", "E-1R"],
        &["group", "rotate-secret", "Ev"],
        &["group", "rotate-secret", "Ev", "--immediate"],
        &["device", "delete", "--group", "Ev", "E-1R"],
    ];
    for step in steps {
        let run = g.run(step);
        assert_eq!(run.exit, 0, "{step:?}: {}", run.stderr);
    }
    let run = g.run(&["device", "allocate", "--group", "Ev", "E-2"]);
    assert_eq!(run.exit, 1, "a model missing in the target: {}", run.stderr);
    let run = g.run(&["device", "bootstrap", "--group", "Ev", "NOPE"]);
    assert_eq!(run.exit, 2, "an unknown serial: {}", run.stderr);
    let run = g.run(&["group", "delete", "Ev", "--cascade"]);
    assert_eq!(run.exit, 0, "{}", run.stderr);

    g.check("events_first_page", 0, &["events", "--limit", "5"]);
    g.check(
        "events_rest",
        0,
        &["events", "--after", "5", "--limit", "1000"],
    );
    g.check("events_none", 0, &["events", "--limit", "0"]);
}

/// The demo's summary document.
#[test]
fn the_demo_prints_its_golden_document() {
    let g = Golden::new();
    let dir = g.arg("demo");
    g.check("demo", 0, &["demo", "--dir", &dir]);
}
