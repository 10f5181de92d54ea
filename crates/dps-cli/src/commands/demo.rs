//! `dps demo`: the whole lifecycle in a fresh directory, step by step.

use std::path::{Path, PathBuf};

use dps_core::{
    DeviceQuery, EventCursor, NewGroup, NewSerial, RegistrationGroup, ReplaceRequest, Selection,
};

use super::args::schema;
use super::export::write_csv;
use super::qr::write_labels;
use super::targets::EXAMPLE_TARGETS;
use crate::cli::ImageFormatArg;
use crate::context::{Dps, load_targets, write_file};
use crate::database::Database;
use crate::output::{DemoOut, StepOut, print_json};
use crate::{CliResult, Failure};

/// How many devices the demo imports.
const DEVICES: usize = 1000;

/// The steps taken so far; each is printed as it happens unless the output is JSON.
struct Steps {
    json: bool,
    done: Vec<StepOut>,
}

impl Steps {
    fn say(&mut self, step: &'static str, detail: String) {
        let step = StepOut::new(step, detail);
        if !self.json {
            println!("{:<10} {}", step.step(), step.detail());
        }
        self.done.push(step);
    }
}

/// Runs the demo in `dir`, or in a new temporary directory that is kept afterwards.
pub(crate) async fn run(
    dir: Option<PathBuf>,
    key_file: Option<&Path>,
    json: bool,
) -> CliResult<u8> {
    let dir = directory(dir)?;
    let mut steps = Steps {
        json,
        done: Vec::new(),
    };
    steps.say("directory", dir.display().to_string());
    let dps = open(&dir, key_file, &mut steps).await?;
    let group = create_group(&dps, &dir, &mut steps).await?;
    import(&dps, &group, &dir, &mut steps).await?;
    let allocated = dps.allocate(group.id(), &Selection::all()).await?;
    steps.say(
        "allocate",
        format!(
            "{} allocated, {} failed",
            allocated.succeeded(),
            allocated.failed()
        ),
    );
    export(&dps, &group, &dir, &mut steps).await?;
    change(&dps, &group, &mut steps).await?;
    let total = dps.count(&DeviceQuery::group(group.id())).await?;
    let events = dps.events(EventCursor::START, usize::MAX).await?;
    steps.say(
        "done",
        format!(
            "{total} devices in the group, {} events in the log",
            events.len()
        ),
    );
    if json {
        print_json(&DemoOut::new(&dir, group.id(), &steps.done))?;
    }
    Ok(0)
}

fn directory(dir: Option<PathBuf>) -> CliResult<PathBuf> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).map_err(|e| {
                Failure::io("io_error", format!("cannot create {}: {e}", d.display()))
            })?;
            Ok(d)
        }
        None => Ok(tempfile::Builder::new()
            .prefix("dps-demo-")
            .tempdir()
            .map_err(|e| Failure::io("io_error", format!("cannot create a directory: {e}")))?
            .keep()),
    }
}

/// Writes the targets file unless there is one, and opens the database in `dir` with its key
/// file (`key_file`, or `dps.sqlite.keys` beside it).
async fn open(dir: &Path, key_file: Option<&Path>, steps: &mut Steps) -> CliResult<Dps> {
    let targets_path = dir.join("dps-targets.toml");
    if !targets_path.exists() {
        write_file(&targets_path, EXAMPLE_TARGETS.as_bytes())?;
    }
    steps.say("targets", format!("wrote {}", targets_path.display()));
    let db = Database::open(&database(dir).display().to_string(), key_file).await?;
    if let Some(keys) = &db.keys {
        steps.say(
            "keys",
            format!("sealing secrets with {}", keys.path().display()),
        );
    }
    Ok(db.provisioner(load_targets(&targets_path)?.environment(true)?))
}

fn database(dir: &Path) -> PathBuf {
    dir.join("dps.sqlite")
}

async fn create_group(dps: &Dps, dir: &Path, steps: &mut Steps) -> CliResult<RegistrationGroup> {
    let mut settings = NewGroup::new(format!("Demo building {}", std::process::id()).parse()?);
    settings.default_target = Some("prod-eu/acme".parse()?);
    settings.attributes = schema(&["floor:integer:required=0".to_owned()])?;
    let group = dps.create_group(settings).await?;
    steps.say(
        "group",
        format!(
            "created {} ({}) in {}",
            group.name(),
            group.id(),
            database(dir).display()
        ),
    );
    Ok(group)
}

/// The demo's device file: a thousand thermostats and meters in four batches.
fn devices_csv() -> String {
    let mut csv = String::from("Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,floor\n");
    for i in 0..DEVICES {
        let model = if i % 4 == 0 { "meter" } else { "thermostat" };
        csv.push_str(&format!(
            "DEMO-{i:05},Unit {i},{model},+01:00,batch-{},{}\n",
            i / 250,
            i % 12
        ));
    }
    csv
}

async fn import(
    dps: &Dps,
    group: &RegistrationGroup,
    dir: &Path,
    steps: &mut Steps,
) -> CliResult<()> {
    let csv_path = dir.join("devices.csv");
    let csv = devices_csv();
    write_file(&csv_path, csv.as_bytes())?;
    steps.say(
        "csv",
        format!("wrote {DEVICES} devices to {}", csv_path.display()),
    );
    let options = dps_csv::ImportOptions::default().with_limits(dps_csv::Limits::unbounded());
    let report = dps_csv::import(dps, group.id(), csv.as_bytes(), &options).await?;
    steps.say(
        "import",
        format!(
            "{} created, {} rejected",
            report.summary.created, report.summary.failed
        ),
    );
    Ok(())
}

/// Exports every device to CSV and renders every label.
async fn export(
    dps: &Dps,
    group: &RegistrationGroup,
    dir: &Path,
    steps: &mut Steps,
) -> CliResult<()> {
    let all = Selection::all();
    let options = dps_csv::ExportOptions::default();
    let exported = write_csv(
        dps,
        group.id(),
        &all,
        &dir.join("export.csv"),
        &options,
        true,
    )
    .await?;
    steps.say(
        "export",
        format!("{} devices to {}", exported.rows, exported.path.display()),
    );
    let (path, report) = write_labels(
        dps,
        group.id(),
        &all,
        &dir.join("labels.zip"),
        ImageFormatArg::Png,
        true,
    )
    .await?;
    steps.say(
        "qr",
        format!(
            "{} labels to {} ({} failed)",
            report.succeeded(),
            path.display(),
            report.outcomes.len() - report.succeeded()
        ),
    );
    Ok(())
}

/// Replaces one device's hardware, resets another and deletes a third.
async fn change(dps: &Dps, group: &RegistrationGroup, steps: &mut Steps) -> CliResult<()> {
    let replaced = dps
        .replace(
            group.id(),
            &"DEMO-00001".parse()?,
            ReplaceRequest {
                new_serial: NewSerial::Given("DEMO-R0001".parse()?),
                batch_tag: "rma-1".parse()?,
                description: Some("replaced after a fault".parse()?),
            },
        )
        .await?;
    let asset = replaced
        .state()
        .allocated()
        .map(|a| a.asset_id().to_string())
        .unwrap_or_default();
    steps.say(
        "replace",
        format!("DEMO-00001 -> {} (asset {asset} kept)", replaced.serial()),
    );
    let reset = dps
        .reset(group.id(), &Selection::Serials(vec!["DEMO-00002".parse()?]))
        .await?;
    steps.say("reset", format!("DEMO-00002: {} reset", reset.succeeded()));
    let deleted = dps
        .delete(group.id(), &Selection::Serials(vec!["DEMO-00003".parse()?]))
        .await?;
    steps.say(
        "delete",
        format!("DEMO-00003: {} deleted", deleted.succeeded()),
    );
    Ok(())
}
