//! `dps group`: registration groups.

use dps_core::{GroupEdit, NewGroup, RegistrationGroup, bootstrap::SecretRotation};

use super::args::{model_type, parse_opt, reprovision, schema, target_of};
use crate::CliResult;
use crate::cli::{GroupCommand, GroupSettings};
use crate::context::{Dps, resolve_group};
use crate::output::{
    GroupDeleteView, GroupView, PageView, Progress, print_batch, print_group, print_json,
};

/// Runs a `group` command.
pub(crate) async fn run(dps: &Dps, command: GroupCommand, json: bool) -> CliResult<u8> {
    match command {
        GroupCommand::Create { name, settings } => create(dps, &name, settings, json).await,
        GroupCommand::List => list(dps, json).await,
        GroupCommand::Show { group } => {
            let g = resolve_group(dps, &group).await?;
            print_group(json, &g)?;
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
            let edit = group_edit(name.as_deref(), settings, no_auto_activation, clear_target)?;
            let g = dps.edit_group(g.id(), edit).await?;
            print_group(json, &g)?;
            Ok(0)
        }
        GroupCommand::RotateSecret { group, immediate } => {
            rotate_secret(dps, &group, immediate, json).await
        }
        GroupCommand::Delete { group, cascade } => delete(dps, &group, cascade, json).await,
    }
}

async fn create(dps: &Dps, name: &str, settings: GroupSettings, json: bool) -> CliResult<u8> {
    let mut new = NewGroup::new(name.parse()?);
    new.default_target = target_of(settings.environment.as_deref(), settings.ou.as_deref())?;
    if let Some(m) = settings.model_type {
        new.model_type = model_type(m);
    }
    if let Some(r) = settings.reprovision {
        new.reprovision = reprovision(r);
    }
    new.auto_activation = settings.auto_activation;
    new.attributes = schema(&settings.attributes)?;
    let g = dps.create_group(new).await?;
    print_group(json, &g)?;
    Ok(0)
}

/// Every group, page after page.
async fn all_groups(dps: &Dps) -> CliResult<Vec<RegistrationGroup>> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = dps.groups(after, 500).await?;
        items.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(items),
        }
    }
}

async fn list(dps: &Dps, json: bool) -> CliResult<u8> {
    let groups = all_groups(dps).await?;
    if json {
        print_json(&PageView::complete(
            groups.iter().map(GroupView::from).collect(),
        ))?;
    } else {
        for g in &groups {
            let target = g
                .default_target()
                .map(|t| t.to_string())
                .unwrap_or_default();
            println!("{}  {:<32} {target}", g.id(), g.name().as_str());
        }
    }
    Ok(0)
}

/// The edit of `group edit`: only what its flags change.
fn group_edit(
    name: Option<&str>,
    settings: GroupSettings,
    no_auto_activation: bool,
    clear_target: bool,
) -> CliResult<GroupEdit> {
    let GroupSettings {
        environment,
        ou,
        model_type: mt,
        reprovision: rp,
        auto_activation,
        attributes,
    } = settings;
    Ok(GroupEdit {
        name: parse_opt(name)?,
        default_target: if clear_target {
            Some(None)
        } else {
            target_of(environment.as_deref(), ou.as_deref())?.map(Some)
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
    })
}

async fn rotate_secret(dps: &Dps, group: &str, immediate: bool, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, group).await?;
    let rotation = if immediate {
        SecretRotation::Immediate
    } else {
        SecretRotation::Graceful
    };
    let g = dps.rotate_group_secret(g.id(), rotation).await?;
    if json {
        print_json(&GroupView::from(&g))?;
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

async fn delete(dps: &Dps, group: &str, cascade: bool, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, group).await?;
    let report = {
        let _p = Progress::start(json, "deleting");
        dps.delete_group(g.id(), cascade).await?
    };
    let deleted = report.all_succeeded();
    if json {
        print_json(&GroupDeleteView::new(&report, deleted))?;
    } else if deleted {
        println!(
            "deleted group {} ({} devices)",
            g.name(),
            report.succeeded()
        );
    } else {
        print_batch(false, "deleting devices", &report)?;
        println!("group {} kept: not every device could be deleted", g.name());
    }
    Ok(u8::from(!deleted))
}
