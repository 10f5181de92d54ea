//! The commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dps_core::{
    AttributeDef, AttributeSchema, AttributeType, DeviceEdit, DeviceQuery, EventCursor,
    GenerateSpec, GroupEdit, ModelType, NewGroup, NewSerial, RegistrationGroup, ReplaceRequest,
    ReprovisionMethod, Selection, StaticConfig, Store, Target,
};
use serde_json::json;

use crate::cli::{
    Cli, Command, DeviceCommand, GroupCommand, GroupSettings, ImageFormatArg, ImportModeArg,
    ModelTypeArg, ReprovisionArg, TargetsCommand,
};
use crate::context::{
    AtomicFile, Dps, filter, load_targets, open_store, provisioner, resolve_group, selection,
    write_file,
};
use crate::output::{Progress, batch_exit, device_json, group_json, print_batch, target_json};
use crate::{CliResult, Failure, exit_for};

/// Runs the command; returns the exit code.
pub(crate) async fn run(cli: Cli) -> CliResult<u8> {
    let json = cli.json;
    match cli.command {
        Command::Demo { dir } => crate::commands::demo(dir, json).await,
        Command::Targets(TargetsCommand::Init { output }) => {
            targets_init(output.as_deref().unwrap_or(&cli.targets), json)
        }
        Command::Targets(TargetsCommand::List) => {
            let config = load_targets(&cli.targets)?;
            if json {
                let items: Vec<_> = config.targets.iter().map(target_json).collect();
                println!("{}", json!({"items": items, "next_cursor": null}));
            } else {
                for t in &config.targets {
                    let models: Vec<_> = t.models.iter().map(|m| m.as_str()).collect();
                    println!("{}/{}  models: {}", t.environment, t.ou, models.join(", "));
                }
            }
            Ok(0)
        }
        command => {
            let store = open_store(&cli.db).await?;
            // Commands that call the environment need the targets file; the others run with
            // no targets when it is absent.
            let needs_env = matches!(
                &command,
                Command::Recover
                    | Command::Group(GroupCommand::Delete { cascade: true, .. })
                    | Command::Device(_)
            );
            let config = if needs_env || cli.targets.exists() {
                match load_targets(&cli.targets) {
                    Ok(c) => c,
                    Err(e) if needs_env && device_needs_env(&command) => return Err(e),
                    Err(e) if cli.targets.exists() => return Err(e),
                    Err(_) => StaticConfig::default(),
                }
            } else {
                StaticConfig::default()
            };
            let (dps, _env) = provisioner(store, config);
            dispatch(&dps, command, json).await
        }
    }
}

fn device_needs_env(command: &Command) -> bool {
    match command {
        Command::Device(d) => matches!(
            **d,
            DeviceCommand::Allocate { .. }
                | DeviceCommand::Reset { .. }
                | DeviceCommand::Delete { .. }
                | DeviceCommand::Replace { .. }
                | DeviceCommand::Bootstrap { .. }
        ),
        Command::Recover | Command::Group(GroupCommand::Delete { cascade: true, .. }) => true,
        _ => false,
    }
}

async fn dispatch(dps: &Dps, command: Command, json: bool) -> CliResult<u8> {
    match command {
        Command::Group(g) => group(dps, g, json).await,
        Command::Device(d) => device(dps, *d, json).await,
        Command::Recover => {
            let report = {
                let _p = Progress::start(json, "recovering pending operations");
                dps.recover().await?
            };
            print_batch(json, "recovered", &report);
            Ok(batch_exit(&report))
        }
        Command::Events { after, limit } => {
            let events = dps.events(EventCursor::new(after), limit).await?;
            let next = (events.len() == limit && limit > 0)
                .then(|| events.last().map(|e| e.cursor.get()))
                .flatten();
            if json {
                let items: Vec<_> = events
                    .iter()
                    .map(|e| serde_json::to_value(e).unwrap_or(serde_json::Value::Null))
                    .collect();
                println!(
                    "{}",
                    json!({"items": items, "next_cursor": next.map(|n| n.to_string())})
                );
            } else {
                for e in &events {
                    let kind = serde_json::to_value(&e.kind)
                        .ok()
                        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    println!(
                        "{:>8}  {}  {:<20} {}",
                        e.cursor,
                        e.at,
                        kind,
                        e.serial.as_ref().map(|s| s.as_str()).unwrap_or("")
                    );
                }
                if let Some(n) = next {
                    println!("next: --after {n}");
                }
            }
            Ok(0)
        }
        Command::Demo { .. } | Command::Targets(_) => Ok(0),
    }
}

// ----- targets --------------------------------------------------------------------------

const EXAMPLE_TARGETS: &str = r#"# Targets devices can be allocated to: an environment and an OU, the models that exist
# there, and where allocated devices connect.

[[targets]]
environment = "prod-eu"
ou = "acme"
models = ["thermostat", "meter"]
mqtt_endpoint = "mqtts://mqtt.prod-eu.example.com:8883"
http_endpoint = "https://api.prod-eu.example.com"

[[targets]]
environment = "staging"
ou = "acme"
models = ["thermostat"]
mqtt_endpoint = "mqtts://mqtt.staging.example.com:8883"
"#;

fn targets_init(path: &Path, json: bool) -> CliResult<u8> {
    if path.exists() {
        return Err(Failure::invalid(
            "already_exists",
            format!("{} already exists", path.display()),
        ));
    }
    let path = write_file(path, EXAMPLE_TARGETS.as_bytes())?;
    if json {
        println!("{}", json!({"path": path.display().to_string()}));
    } else {
        println!("wrote {}", path.display());
    }
    Ok(0)
}

// ----- groups ---------------------------------------------------------------------------

fn parse_attribute(spec: &str) -> CliResult<AttributeDef> {
    let bad = |why: &str| {
        Failure::invalid(
            "invalid_attribute_spec",
            format!("--attribute {spec:?}: {why} (ID:TYPE[:required][=DEFAULT])"),
        )
    };
    let (head, default) = match spec.split_once('=') {
        Some((h, d)) => (h, Some(d)),
        None => (spec, None),
    };
    let mut parts = head.split(':');
    let id = parts.next().ok_or_else(|| bad("missing identifier"))?;
    let ty = parts.next().ok_or_else(|| bad("missing type"))?;
    let required = match parts.next() {
        None => false,
        Some("required") => true,
        Some(other) => return Err(bad(&format!("unknown flag {other:?}"))),
    };
    if parts.next().is_some() {
        return Err(bad("too many parts"));
    }
    let mut ty_parts = ty.split('/');
    let ty = match ty_parts.next() {
        Some("integer") => AttributeType::Integer,
        Some("date") => AttributeType::Date,
        Some("string") => AttributeType::String {
            max_len: match ty_parts.next() {
                Some(n) => n.parse().map_err(|_| bad("string/MAXLEN needs a number"))?,
                None => 256,
            },
        },
        Some("enum") => AttributeType::Enum {
            items: ty_parts.by_ref().map(str::to_owned).collect(),
        },
        _ => {
            return Err(bad(
                "TYPE is integer, date, string[/MAXLEN] or enum/ITEM/...",
            ));
        }
    };
    let mut def = AttributeDef::new(id.parse()?, ty);
    if required {
        def = def.required();
    }
    if let Some(d) = default {
        let value = def.parse_value(d)?;
        def = def.with_default(value);
    }
    Ok(def)
}

fn schema(specs: &[String]) -> CliResult<AttributeSchema> {
    let defs = specs
        .iter()
        .map(|s| parse_attribute(s))
        .collect::<CliResult<Vec<_>>>()?;
    Ok(AttributeSchema::new(defs)?)
}

fn target_of(environment: &Option<String>, ou: &Option<String>) -> CliResult<Option<Target>> {
    match (environment, ou) {
        (Some(e), Some(o)) => Ok(Some(Target::new(e.parse()?, o.parse()?))),
        _ => Ok(None),
    }
}

fn model_type(m: ModelTypeArg) -> ModelType {
    match m {
        ModelTypeArg::Public => ModelType::Public,
        ModelTypeArg::Private => ModelType::Private,
    }
}

fn reprovision(r: ReprovisionArg) -> ReprovisionMethod {
    match r {
        ReprovisionArg::Migrate => ReprovisionMethod::Migrate,
        ReprovisionArg::Initialize => ReprovisionMethod::Initialize,
        ReprovisionArg::Disabled => ReprovisionMethod::Disabled,
    }
}

fn print_group(json: bool, g: &RegistrationGroup) {
    if json {
        println!("{}", group_json(g));
    } else {
        println!("{}  {}", g.id(), g.name());
        if let Some(t) = g.default_target() {
            println!("  default target  {t}");
        }
        println!(
            "  model type {}, reprovision {}, auto-activation {}",
            g.model_type(),
            g.reprovision(),
            if g.auto_activation() { "on" } else { "off" }
        );
        for a in g.attributes().attributes() {
            println!(
                "  attribute {} ({}{})",
                a.id,
                a.ty.name(),
                if a.required { ", required" } else { "" }
            );
        }
    }
}

async fn group(dps: &Dps, command: GroupCommand, json: bool) -> CliResult<u8> {
    match command {
        GroupCommand::Create { name, settings } => {
            let mut new = NewGroup::new(name.parse()?);
            new.default_target = target_of(&settings.environment, &settings.ou)?;
            if let Some(m) = settings.model_type {
                new.model_type = model_type(m);
            }
            if let Some(r) = settings.reprovision {
                new.reprovision = reprovision(r);
            }
            new.auto_activation = settings.auto_activation;
            new.attributes = schema(&settings.attributes)?;
            let g = dps.create_group(new).await?;
            print_group(json, &g);
            Ok(0)
        }
        GroupCommand::List => {
            let mut items = Vec::new();
            let mut after = None;
            loop {
                let page = dps.groups(after, 500).await?;
                items.extend(page.items);
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            if json {
                let items: Vec<_> = items.iter().map(group_json).collect();
                println!("{}", json!({"items": items, "next_cursor": null}));
            } else {
                for g in &items {
                    let target = g
                        .default_target()
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    println!("{}  {:<32} {target}", g.id(), g.name().as_str());
                }
            }
            Ok(0)
        }
        GroupCommand::Show { group } => {
            let g = resolve_group(dps, &group).await?;
            print_group(json, &g);
            Ok(0)
        }
        GroupCommand::Edit {
            group,
            name,
            settings,
            no_auto_activation,
            clear_target,
        } => {
            let g = resolve_group(dps, &group).await?;
            let GroupSettings {
                environment,
                ou,
                model_type: mt,
                reprovision: rp,
                auto_activation,
                attributes,
            } = settings;
            let edit = GroupEdit {
                name: name.as_deref().map(str::parse).transpose()?,
                default_target: if clear_target {
                    Some(None)
                } else {
                    target_of(&environment, &ou)?.map(Some)
                },
                model_type: mt.map(model_type),
                reprovision: rp.map(reprovision),
                auto_activation: if auto_activation {
                    Some(true)
                } else if no_auto_activation {
                    Some(false)
                } else {
                    None
                },
                attributes: if attributes.is_empty() {
                    None
                } else {
                    Some(schema(&attributes)?)
                },
                ..GroupEdit::default()
            };
            let g = dps.edit_group(g.id(), edit).await?;
            print_group(json, &g);
            Ok(0)
        }
        GroupCommand::RotateSecret { group, immediate } => {
            let g = resolve_group(dps, &group).await?;
            let rotation = if immediate {
                dps_core::SecretRotation::Immediate
            } else {
                dps_core::SecretRotation::Graceful
            };
            let g = dps.rotate_group_secret(g.id(), rotation).await?;
            if json {
                println!("{}", group_json(&g));
            } else {
                println!(
                    "rotated the secret of {}{}",
                    g.name(),
                    if immediate {
                        "; the old one no longer verifies"
                    } else {
                        ""
                    }
                );
            }
            Ok(0)
        }
        GroupCommand::Delete { group, cascade } => {
            let g = resolve_group(dps, &group).await?;
            let report = {
                let _p = Progress::start(json, "deleting");
                dps.delete_group(g.id(), cascade).await?
            };
            let deleted = report.all_succeeded();
            if json {
                let mut doc = crate::output::batch_json(&report);
                doc["group_deleted"] = json!(deleted);
                println!("{doc}");
            } else if deleted {
                println!(
                    "deleted group {} ({} devices)",
                    g.name(),
                    report.succeeded()
                );
            } else {
                print_batch(false, "deleting devices", &report);
                println!("group {} kept: not every device could be deleted", g.name());
            }
            Ok(u8::from(!deleted))
        }
    }
}

// ----- devices --------------------------------------------------------------------------

async fn device(dps: &Dps, command: DeviceCommand, json: bool) -> CliResult<u8> {
    match command {
        DeviceCommand::Template { group, output } => {
            let g = resolve_group(dps, &group).await?;
            let options = dps_csv::ExportOptions::default();
            match output {
                Some(path) => {
                    let mut file = AtomicFile::create(&path)?;
                    dps_csv::write_template(g.attributes(), file.writer(), &options)
                        .and_then(|mut w| w.flush())
                        .map_err(|e| Failure::io("io_error", format!("{}: {e}", path.display())))?;
                    let path = file.commit()?;
                    if json {
                        println!("{}", json!({"path": path.display().to_string()}));
                    } else {
                        println!("wrote {}", path.display());
                    }
                }
                None => {
                    let out = dps_csv::write_template(g.attributes(), Vec::new(), &options)
                        .map_err(|e| Failure::io("io_error", e.to_string()))?;
                    if json {
                        println!("{}", json!({"template": String::from_utf8_lossy(&out)}));
                    } else {
                        print!("{}", String::from_utf8_lossy(&out));
                    }
                }
            }
            Ok(0)
        }
        DeviceCommand::Import {
            group,
            file,
            mode,
            dry_run,
            all_or_nothing,
            no_limits,
            errors,
        } => {
            import(
                dps,
                &group,
                &file,
                mode,
                dry_run,
                all_or_nothing,
                no_limits,
                errors,
                json,
            )
            .await
        }
        DeviceCommand::Generate {
            group,
            count,
            model,
            batch_tag,
        } => {
            let g = resolve_group(dps, &group).await?;
            let spec = GenerateSpec {
                model_id: model.parse()?,
                batch_tag: batch_tag.as_deref().map(str::parse).transpose()?,
            };
            let report = {
                let _p = Progress::start(json, "generating devices");
                dps.generate(g.id(), count, spec).await?
            };
            if json {
                println!(
                    "{}",
                    json!({"succeeded": report.registered(), "failed": report.rejected()})
                );
            } else {
                println!("generated {} devices", report.registered());
            }
            Ok(u8::from(report.rejected() > 0))
        }
        DeviceCommand::List {
            group,
            filters,
            limit,
            cursor,
        } => {
            let g = resolve_group(dps, &group).await?;
            let query = DeviceQuery::new(g.id(), filter(&filters)?);
            let after = cursor.as_deref().map(str::parse).transpose()?;
            let page = dps.devices(&query, after, limit).await?;
            if json {
                let items: Vec<_> = page.items.iter().map(device_json).collect();
                println!(
                    "{}",
                    json!({"items": items, "next_cursor": page.next.map(|s| s.to_string())})
                );
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
        DeviceCommand::Show { group, serial } => {
            let g = resolve_group(dps, &group).await?;
            let d = dps.device_by_serial(g.id(), &serial.parse()?).await?;
            let v = device_json(&d);
            if json {
                println!("{v}");
            } else if let Some(map) = v.as_object() {
                for (k, v) in map {
                    if !v.is_null() {
                        println!(
                            "{k:<16} {}",
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        );
                    }
                }
            }
            Ok(0)
        }
        DeviceCommand::Edit {
            group,
            serial,
            name,
            model,
            timezone,
            batch_tag,
            description,
            environment,
            ou,
            clear_target,
            attrs,
        } => {
            let g = resolve_group(dps, &group).await?;
            let mut edit = DeviceEdit {
                name: name.as_deref().map(|n| n.parse().map(Some)).transpose()?,
                model_id: model.as_deref().map(str::parse).transpose()?,
                timezone: timezone
                    .as_deref()
                    .map(|t| t.parse().map(Some))
                    .transpose()?,
                batch_tag: batch_tag
                    .as_deref()
                    .map(|t| t.parse().map(Some))
                    .transpose()?,
                description: description
                    .as_deref()
                    .map(|t| t.parse().map(Some))
                    .transpose()?,
                target: if clear_target {
                    Some(None)
                } else {
                    target_of(&environment, &ou)?.map(Some)
                },
                ..DeviceEdit::default()
            };
            for a in &attrs {
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
            let d = dps.edit_device(g.id(), &serial.parse()?, &edit).await?;
            if json {
                println!("{}", device_json(&d));
            } else {
                println!("edited {} (version {})", d.serial(), d.version());
            }
            Ok(0)
        }
        DeviceCommand::Export {
            group,
            selection: sel,
            output,
            include_secrets,
            include_bootstrap_keys,
        } => {
            let g = resolve_group(dps, &group).await?;
            let sel = selection(&sel)?;
            let mut options = dps_csv::ExportOptions::default();
            if include_secrets {
                options = options.with_secrets();
            }
            if include_bootstrap_keys {
                options = options.with_bootstrap_keys();
            }
            let (path, rows, not_found) =
                export_csv(dps, g.id(), &sel, &output, &options, json).await?;
            if json {
                println!(
                    "{}",
                    json!({"path": path.display().to_string(), "rows": rows,
                           "not_found": not_found})
                );
            } else {
                println!("exported {rows} devices to {}", path.display());
                for s in &not_found {
                    println!("  {s}: not found");
                }
            }
            Ok(u8::from(!not_found.is_empty()))
        }
        DeviceCommand::Qr {
            group,
            selection: sel,
            output,
            format,
        } => {
            let g = resolve_group(dps, &group).await?;
            let sel = selection(&sel)?;
            let (path, ok, failed) = export_qr(dps, g.id(), &sel, &output, format, json).await?;
            if json {
                println!(
                    "{}",
                    json!({"path": path.display().to_string(), "succeeded": ok.len(),
                           "failed": failed.len(), "results": failed})
                );
            } else {
                println!("wrote {} labels to {}", ok.len(), path.display());
                for f in &failed {
                    println!("  {}: {}", f["serial"], f["error"]["message"]);
                }
            }
            Ok(u8::from(!failed.is_empty()))
        }
        DeviceCommand::Allocate {
            group,
            selection: sel,
        } => batch(dps, &group, &sel, Batch::Allocate, json).await,
        DeviceCommand::Reset {
            group,
            selection: sel,
        } => batch(dps, &group, &sel, Batch::Reset, json).await,
        DeviceCommand::Delete {
            group,
            selection: sel,
        } => batch(dps, &group, &sel, Batch::Delete, json).await,
        DeviceCommand::Bootstrap {
            group,
            serial,
            name,
            timezone,
        } => {
            use dps_core::Clock;
            let g = resolve_group(dps, &group).await?;
            let mut claims = dps_core::BootstrapClaims::new(
                g.id(),
                serial.parse()?,
                dps_core::SystemClock.now().unix_seconds(),
            );
            if let Some(n) = name {
                claims = claims.with_name(n.parse()?);
            }
            if let Some(tz) = timezone {
                claims = claims.with_timezone(tz.parse()?);
            }
            let request = dps.sign_as_device(claims).await?;
            let answer = dps.bootstrap(&request).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_value(&answer).unwrap_or(serde_json::Value::Null)
                );
            } else {
                println!("target        {}", answer.target);
                if let Some(m) = &answer.endpoints.mqtt {
                    println!("mqtt          {m}");
                }
                if let Some(h) = &answer.endpoints.http {
                    println!("http          {h}");
                }
                println!("asset id      {}", answer.asset_id);
                println!("product key   {}", answer.credentials.product_key);
                println!("device key    {}", answer.credentials.device_key);
                println!(
                    "device secret {}",
                    answer.credentials.device_secret.expose()
                );
                println!("allocated now {}", answer.allocated_now);
            }
            Ok(0)
        }
        DeviceCommand::Replace {
            group,
            serial,
            new_serial,
            generate,
            batch_tag,
            description,
        } => {
            let g = resolve_group(dps, &group).await?;
            let new_serial = match (new_serial, generate) {
                (Some(s), false) => NewSerial::Given(s.parse()?),
                _ => NewSerial::Generated,
            };
            let d = dps
                .replace(
                    g.id(),
                    &serial.parse()?,
                    ReplaceRequest {
                        new_serial,
                        batch_tag: batch_tag.parse()?,
                        description: description.as_deref().map(str::parse).transpose()?,
                    },
                )
                .await?;
            if json {
                println!("{}", device_json(&d));
            } else {
                println!("replaced {serial} with {}", d.serial());
            }
            Ok(0)
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Batch {
    Allocate,
    Reset,
    Delete,
}

/// Runs a batch command over a selection and prints its report.
async fn batch(
    dps: &Dps,
    group: &str,
    sel: &crate::cli::SelectionArgs,
    op: Batch,
    json: bool,
) -> CliResult<u8> {
    let g = resolve_group(dps, group).await?;
    let sel = selection(sel)?;
    let (progress, verb) = match op {
        Batch::Allocate => ("allocating", "allocated"),
        Batch::Reset => ("resetting", "reset"),
        Batch::Delete => ("deleting", "deleted"),
    };
    let report = {
        let _p = Progress::start(json, progress);
        match op {
            Batch::Allocate => dps.allocate(g.id(), &sel).await?,
            Batch::Reset => dps.reset(g.id(), &sel).await?,
            Batch::Delete => dps.delete(g.id(), &sel).await?,
        }
    };
    print_batch(json, verb, &report);
    Ok(batch_exit(&report))
}

#[allow(clippy::too_many_arguments)]
async fn import(
    dps: &Dps,
    group: &str,
    file: &Path,
    mode: ImportModeArg,
    dry_run: bool,
    all_or_nothing: bool,
    no_limits: bool,
    errors: Option<PathBuf>,
    json: bool,
) -> CliResult<u8> {
    let g = resolve_group(dps, group).await?;
    let reader = std::fs::File::open(file).map_err(|e| {
        Failure::invalid("io_error", format!("cannot read {}: {e}", file.display()))
    })?;
    let mut options = dps_csv::ImportOptions::default();
    if matches!(mode, ImportModeArg::Upsert) {
        options = options.upsert();
    }
    if dry_run {
        options = options.dry_run();
    }
    if all_or_nothing {
        options = options.all_or_nothing();
    }
    if no_limits {
        options = options.with_limits(dps_csv::Limits::unbounded());
    }
    let report = {
        let _p = Progress::start(json, "importing");
        dps_csv::import(dps, g.id(), std::io::BufReader::new(reader), &options)
            .await
            .map_err(|e| Failure {
                exit: exit_for(e.code()),
                code: e.code().to_owned(),
                message: format!("{}: {e}", file.display()),
            })?
    };
    let s = &report.summary;
    let rejected = s.failed;
    let accepted = s.created + s.updated + s.unchanged;
    if let Some(path) = &errors {
        let mut out = AtomicFile::create(path)?;
        dps_csv::write_error_report(out.writer(), report.errors())
            .and_then(|mut w| w.flush())
            .map_err(|e| Failure::io("io_error", format!("{}: {e}", path.display())))?;
        out.commit()?;
    }
    if json {
        let rows: Vec<_> = report
            .errors()
            .map(|e| {
                json!({"line": e.line, "column": e.column, "value": e.value,
                       "code": e.code, "message": e.message})
            })
            .collect();
        println!(
            "{}",
            json!({"accepted": accepted, "rejected": rejected, "dry_run": dry_run,
                   "committed": s.committed, "created": s.created, "updated": s.updated,
                   "unchanged": s.unchanged, "rows": rows})
        );
    } else {
        let verb = if s.committed {
            "imported"
        } else {
            "checked (nothing written)"
        };
        println!(
            "{verb}: {} created, {} updated, {} unchanged, {} rejected",
            s.created, s.updated, s.unchanged, rejected
        );
        for e in report.errors().take(20) {
            println!(
                "  line {} {}: {} ({})",
                e.line,
                e.column.as_deref().unwrap_or(""),
                e.message,
                e.code
            );
        }
        if rejected > 20 {
            println!("  … {} more", rejected - 20);
        }
        if let Some(path) = &errors {
            println!("error report: {}", path.display());
        }
    }
    Ok(u8::from(rejected > 0))
}

async fn export_csv(
    dps: &Dps,
    group: dps_core::GroupId,
    sel: &Selection,
    output: &Path,
    options: &dps_csv::ExportOptions,
    json: bool,
) -> CliResult<(PathBuf, u64, Vec<String>)> {
    let mut file = AtomicFile::create(output)?;
    let summary = {
        let _p = Progress::start(json, "exporting");
        let (mut w, summary) = dps_csv::export(dps, group, sel, file.writer(), options)
            .await
            .map_err(|e| Failure {
                exit: exit_for(e.code()),
                code: e.code().to_owned(),
                message: e.to_string(),
            })?;
        w.flush()
            .map_err(|e| Failure::io("io_error", format!("{}: {e}", output.display())))?;
        summary
    };
    let path = file.commit()?;
    let not_found = summary.not_found.iter().map(|s| s.to_string()).collect();
    Ok((path, summary.rows, not_found))
}

async fn export_qr(
    dps: &Dps,
    group: dps_core::GroupId,
    sel: &Selection,
    output: &Path,
    format: ImageFormatArg,
    json: bool,
) -> CliResult<(PathBuf, Vec<String>, Vec<serde_json::Value>)> {
    let format = match format {
        ImageFormatArg::Png => dps_qr::ImageFormat::Png,
        ImageFormatArg::Svg => dps_qr::ImageFormat::Svg,
    };
    let options = dps_qr::ArchiveOptions::default().with_format(format);
    let mut file = AtomicFile::create(output)?;
    let report = {
        let _p = Progress::start(json, "rendering labels");
        let mut w = file.writer();
        let report = dps_qr::export_zip(dps, group, sel, &mut w, options)
            .await
            .map_err(|e| Failure {
                exit: exit_for(e.code()),
                code: e.code().to_owned(),
                message: e.to_string(),
            })?;
        w.flush()
            .map_err(|e| Failure::io("io_error", format!("{}: {e}", output.display())))?;
        report
    };
    let path = file.commit()?;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for o in report.outcomes {
        match o.result {
            Ok(name) => ok.push(name),
            Err(e) => failed.push(json!({"serial": o.serial.as_str(), "ok": false,
                "error": {"code": e.code(), "message": e.to_string()}})),
        }
    }
    Ok((path, ok, failed))
}

// ----- demo -----------------------------------------------------------------------------

/// The whole lifecycle in a fresh directory.
pub(crate) async fn demo(dir: Option<PathBuf>, json: bool) -> CliResult<u8> {
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).map_err(|e| {
                Failure::io("io_error", format!("cannot create {}: {e}", d.display()))
            })?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("dps-demo-")
            .tempdir()
            .map_err(|e| Failure::io("io_error", format!("cannot create a directory: {e}")))?
            .keep(),
    };
    let mut steps = Vec::new();
    let mut say = |step: &str, detail: String| {
        if !json {
            println!("{step:<10} {detail}");
        }
        steps.push(json!({"step": step, "detail": detail}));
    };
    say("directory", dir.display().to_string());

    let targets_path = dir.join("dps-targets.toml");
    if !targets_path.exists() {
        write_file(&targets_path, EXAMPLE_TARGETS.as_bytes())?;
    }
    say("targets", format!("wrote {}", targets_path.display()));
    let db = dir.join("dps.sqlite");
    let store: Arc<dyn Store> = open_store(&db.display().to_string()).await?;
    let (dps, _env) = provisioner(store, load_targets(&targets_path)?);

    let mut settings = NewGroup::new(format!("Demo building {}", std::process::id()).parse()?);
    settings.default_target = Some("prod-eu/acme".parse()?);
    settings.attributes = schema(&["floor:integer:required=0".to_owned()])?;
    let group = dps.create_group(settings).await?;
    say(
        "group",
        format!(
            "created {} ({}) in {}",
            group.name(),
            group.id(),
            db.display()
        ),
    );

    let csv_path = dir.join("devices.csv");
    let mut csv = String::from("Device Serial No.,Device Name,Model ID,Timezone,Batch Tag,floor\n");
    for i in 0..1000 {
        let model = if i % 4 == 0 { "meter" } else { "thermostat" };
        csv.push_str(&format!(
            "DEMO-{i:05},Unit {i},{model},+01:00,batch-{},{}\n",
            i / 250,
            i % 12
        ));
    }
    write_file(&csv_path, csv.as_bytes())?;
    say(
        "csv",
        format!("wrote 1000 devices to {}", csv_path.display()),
    );

    let report = dps_csv::import(
        &dps,
        group.id(),
        csv.as_bytes(),
        &dps_csv::ImportOptions::default().with_limits(dps_csv::Limits::unbounded()),
    )
    .await
    .map_err(|e| Failure {
        exit: exit_for(e.code()),
        code: e.code().to_owned(),
        message: e.to_string(),
    })?;
    say(
        "import",
        format!(
            "{} created, {} rejected",
            report.summary.created, report.summary.failed
        ),
    );

    let allocated = dps.allocate(group.id(), &Selection::all()).await?;
    say(
        "allocate",
        format!(
            "{} allocated, {} failed",
            allocated.succeeded(),
            allocated.failed()
        ),
    );

    let export_path = dir.join("export.csv");
    let (path, rows, _) = export_csv(
        &dps,
        group.id(),
        &Selection::all(),
        &export_path,
        &dps_csv::ExportOptions::default(),
        true,
    )
    .await?;
    say("export", format!("{rows} devices to {}", path.display()));

    let qr_path = dir.join("labels.zip");
    let (path, ok, failed) = export_qr(
        &dps,
        group.id(),
        &Selection::all(),
        &qr_path,
        ImageFormatArg::Png,
        true,
    )
    .await?;
    say(
        "qr",
        format!(
            "{} labels to {} ({} failed)",
            ok.len(),
            path.display(),
            failed.len()
        ),
    );

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
    say(
        "replace",
        format!(
            "DEMO-00001 -> {} (asset {} kept)",
            replaced.serial(),
            replaced
                .state()
                .allocated()
                .map(|a| a.asset_id().to_string())
                .unwrap_or_default()
        ),
    );
    let reset = dps
        .reset(group.id(), &Selection::Serials(vec!["DEMO-00002".parse()?]))
        .await?;
    say("reset", format!("DEMO-00002: {} reset", reset.succeeded()));
    let deleted = dps
        .delete(group.id(), &Selection::Serials(vec!["DEMO-00003".parse()?]))
        .await?;
    say(
        "delete",
        format!("DEMO-00003: {} deleted", deleted.succeeded()),
    );

    let total = dps.count(&DeviceQuery::group(group.id())).await?;
    let events = dps.events(EventCursor::START, usize::MAX).await?;
    say(
        "done",
        format!(
            "{total} devices in the group, {} events in the log",
            events.len()
        ),
    );
    if json {
        println!(
            "{}",
            json!({"directory": dir.display().to_string(), "group": group.id().to_string(),
                   "steps": steps})
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dps_core::TargetConfig;

    #[test]
    fn the_example_targets_file_parses() {
        let config: StaticConfig = toml::from_str(EXAMPLE_TARGETS).unwrap();
        let t: &TargetConfig = &config.targets[0];
        assert_eq!(t.environment.as_str(), "prod-eu");
        assert_eq!(config.targets.len(), 2);
    }

    #[test]
    fn attribute_specs_parse() {
        let d = parse_attribute("floor:integer:required=3").unwrap();
        assert!(d.required);
        assert_eq!(d.default, Some(dps_core::AttributeValue::Integer(3)));
        let d = parse_attribute("color:enum/red/blue").unwrap();
        assert!(matches!(d.ty, AttributeType::Enum { ref items } if items.len() == 2));
        assert!(parse_attribute("x:float").is_err());
        assert!(parse_attribute("x:integer:maybe").is_err());
        assert!(parse_attribute("x:integer=abc").is_err());
    }
}
