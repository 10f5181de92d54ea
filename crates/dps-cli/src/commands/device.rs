//! `dps device`: devices of a group.

use dps_core::{
    DeviceEdit, DeviceQuery, GenerateSpec, NewSerial, RegistrationGroup, ReplaceRequest,
};

use super::args::{filter, parse_opt, target_of};
use super::{batch, bootstrap, export, import, qr, template};
use crate::cli::{DeviceCommand, EditArgs, GenerateArgs, ListArgs, ReplaceArgs, ShowArgs};
use crate::context::{Dps, resolve_group};
use crate::output::{CountsView, DeviceView, PageView, Progress, document, print_json};
use crate::{CliResult, Failure};

/// Runs a `device` command.
pub(crate) async fn run(dps: &Dps, command: DeviceCommand, json: bool) -> CliResult<u8> {
    match command {
        DeviceCommand::Template(args) => template::run(dps, args, json).await,
        DeviceCommand::Import(args) => import::run(dps, args, json).await,
        DeviceCommand::Generate(args) => generate(dps, args, json).await,
        DeviceCommand::List(args) => list(dps, args, json).await,
        DeviceCommand::Show(args) => show(dps, args, json).await,
        DeviceCommand::Edit(args) => edit(dps, args, json).await,
        DeviceCommand::Export(args) => export::run(dps, args, json).await,
        DeviceCommand::Qr(args) => qr::run(dps, args, json).await,
        DeviceCommand::Allocate(args) => batch::run(dps, args, batch::Batch::Allocate, json).await,
        DeviceCommand::Reset(args) => batch::run(dps, args, batch::Batch::Reset, json).await,
        DeviceCommand::Delete(args) => batch::run(dps, args, batch::Batch::Delete, json).await,
        DeviceCommand::Bootstrap(args) => bootstrap::run(dps, args, json).await,
        DeviceCommand::Replace(args) => replace(dps, args, json).await,
    }
}

async fn generate(dps: &Dps, args: GenerateArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let spec = GenerateSpec {
        model_id: args.model.parse()?,
        batch_tag: parse_opt(args.batch_tag.as_deref())?,
    };
    let report = {
        let _p = Progress::start(json, "generating devices");
        dps.generate(g.id(), args.count, spec).await?
    };
    if json {
        print_json(&CountsView::new(report.registered(), report.rejected()))?;
    } else {
        println!("generated {} devices", report.registered());
    }
    Ok(u8::from(report.rejected() > 0))
}

async fn list(dps: &Dps, args: ListArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let query = DeviceQuery::new(g.id(), filter(&args.filters)?);
    let after = parse_opt(args.cursor.as_deref())?;
    let page = dps.devices(&query, after, args.limit).await?;
    if json {
        let items = page.items.iter().map(DeviceView::from).collect();
        print_json(&PageView::new(items, page.next.map(|s| s.to_string())))?;
    } else {
        for d in &page.items {
            println!(
                "{:<24} {:<16} {:<14} {}",
                d.serial().as_str(),
                d.model_id().as_str(),
                d.status().as_str(),
                d.state()
                    .allocated()
                    .map(|a| format!("{} {}", a.target(), a.asset_id()))
                    .unwrap_or_default()
            );
        }
        if let Some(next) = page.next {
            println!("next: --cursor {next}");
        }
    }
    Ok(0)
}

async fn show(dps: &Dps, args: ShowArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let d = dps.device_by_serial(g.id(), &args.serial.parse()?).await?;
    let doc = document(&DeviceView::from(&d))?;
    if json {
        println!("{doc}");
    } else if let Some(fields) = doc.as_object() {
        // One line per field of the document that has a value.
        for (k, v) in fields {
            if !v.is_null() {
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                println!("{k:<16} {text}");
            }
        }
    }
    Ok(0)
}

async fn edit(dps: &Dps, args: EditArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let edit = device_edit(&g, &args)?;
    let d = dps
        .edit_device(g.id(), &args.serial.parse()?, &edit)
        .await?;
    if json {
        print_json(&DeviceView::from(&d))?;
    } else {
        println!("edited {} (version {})", d.serial(), d.version());
    }
    Ok(0)
}

/// Parses an optional field that the edit sets: `Some(Some(value))` when given.
fn set<T: std::str::FromStr>(value: Option<&str>) -> Result<Option<Option<T>>, T::Err> {
    value.map(|v| v.parse().map(Some)).transpose()
}

/// The edit of `device edit`: only what its flags change, attributes checked against the
/// group's schema.
fn device_edit(g: &RegistrationGroup, args: &EditArgs) -> CliResult<DeviceEdit> {
    let mut edit = DeviceEdit {
        name: set(args.name.as_deref())?,
        model_id: parse_opt(args.model.as_deref())?,
        timezone: set(args.timezone.as_deref())?,
        batch_tag: set(args.batch_tag.as_deref())?,
        description: set(args.description.as_deref())?,
        target: if args.clear_target {
            Some(None)
        } else {
            target_of(args.environment.as_deref(), args.ou.as_deref())?.map(Some)
        },
        ..DeviceEdit::default()
    };
    for a in &args.attrs {
        let Some((id, value)) = a.split_once('=') else {
            return Err(Failure::invalid(
                "invalid_attribute",
                format!("--attr {a:?}: expected ID=VALUE"),
            ));
        };
        let def = g.attributes().get(id).ok_or_else(|| {
            Failure::invalid(
                "invalid_attribute",
                format!("attribute {id:?} is not in the group's schema"),
            )
        })?;
        let value = if value.is_empty() {
            None
        } else {
            Some(def.parse_value(value)?)
        };
        edit.attributes.insert(def.id.clone(), value);
    }
    Ok(edit)
}

async fn replace(dps: &Dps, args: ReplaceArgs, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let new_serial = match (&args.new_serial, args.generate) {
        (Some(s), false) => NewSerial::Given(s.parse()?),
        _ => NewSerial::Generated,
    };
    let serial = args.serial.parse()?;
    let request = ReplaceRequest {
        new_serial,
        batch_tag: args.batch_tag.parse()?,
        description: parse_opt(args.description.as_deref())?,
    };
    let d = dps.replace(g.id(), &serial, request).await?;
    if json {
        print_json(&DeviceView::from(&d))?;
    } else {
        println!("replaced {} with {}", args.serial, d.serial());
    }
    Ok(0)
}
