//! The commands, one module each: every handler parses its arguments into domain values,
//! calls the provisioner and prints the outcome.

mod args;
mod batch;
mod bootstrap;
mod demo;
mod device;
mod events;
mod export;
mod group;
mod import;
mod qr;
mod recover;
mod serve;
mod targets;
mod template;
mod token;

use std::path::Path;
use std::sync::Arc;

use dps_core::Environment;

use crate::CliResult;
use crate::cli::{Cli, Command, DeviceCommand, GroupCommand};
use crate::context::{Dps, Targets, load_targets, open_store, provisioner};

/// Runs the command; returns the exit code.
pub(crate) async fn run(cli: Cli) -> CliResult<u8> {
    let json = cli.json;
    match cli.command {
        Command::Demo { dir } => demo::run(dir, json).await,
        Command::Targets(command) => targets::run(command, &cli.targets, json),
        Command::Serve(args) => {
            let store = open_store(&cli.db).await?;
            let targets = load_targets(&cli.targets)?;
            serve::run(store, targets, args, json).await
        }
        command => {
            let store = open_store(&cli.db).await?;
            let env = environment_for(&command, &cli.targets)?;
            let dps = provisioner(store, env);
            dispatch(&dps, command, json).await
        }
    }
}

/// The environment `command` runs with: commands that call the environment need the
/// targets file (and its webhooks' secrets); the others run with no targets when it is
/// absent.
fn environment_for(command: &Command, targets: &Path) -> CliResult<Arc<dyn Environment>> {
    let calls = calls_environment(command);
    let targets = if targets.exists() || calls {
        load_targets(targets)?
    } else {
        Targets::default()
    };
    targets.environment(calls)
}

fn calls_environment(command: &Command) -> bool {
    match command {
        Command::Device(d) => matches!(
            **d,
            DeviceCommand::Allocate(_)
                | DeviceCommand::Reset(_)
                | DeviceCommand::Delete(_)
                | DeviceCommand::Replace(_)
                | DeviceCommand::Bootstrap(_)
        ),
        Command::Recover { .. } | Command::Group(GroupCommand::Delete { cascade: true, .. }) => {
            true
        }
        _ => false,
    }
}

async fn dispatch(dps: &Dps, command: Command, json: bool) -> CliResult<u8> {
    match command {
        Command::Group(command) => group::run(dps, command, json).await,
        Command::Device(command) => device::run(dps, *command, json).await,
        Command::Recover { wait } => recover::run(dps, wait, json).await,
        Command::Events { after, limit } => events::run(dps, after, limit, json).await,
        Command::Token(command) => token::run(dps, command, json).await,
        Command::Demo { .. } | Command::Targets(_) | Command::Serve(_) => Ok(0),
    }
}
