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
mod keys;
mod qr;
mod recover;
mod serve;
mod targets;
mod template;
mod token;

use std::path::Path;
use std::sync::Arc;

use dps_core::Environment;

use crate::cli::{Cli, Command, DeviceCommand, GroupCommand};
use crate::context::{Dps, Targets, load_targets};
use crate::database::Database;
use crate::{CliResult, Failure};

/// Runs the command; returns the exit code.
pub(crate) async fn run(cli: Cli) -> CliResult<u8> {
    let json = cli.json;
    let key_file = cli.key_file.as_deref();
    match cli.command {
        Command::Demo { dir } => demo::run(dir, key_file, json).await,
        Command::Targets(command) => targets::run(command, &cli.targets, json),
        command => {
            let db = Database::open(&cli.db, key_file).await?;
            let ran = match command {
                Command::Serve(args) => {
                    // Without a targets file the console and the API serve, and allocation
                    // is refused until one is written and the server restarted.
                    let targets = if cli.targets.exists() {
                        load_targets(&cli.targets)?
                    } else {
                        eprintln!(
                            "warning: no targets file {}: devices cannot be allocated until one exists (`dps targets init` writes an example); serving without targets",
                            cli.targets.display()
                        );
                        Targets::default()
                    };
                    serve::run(&db, targets, args, json).await
                }
                Command::Keys(command) => keys::run(&db, command, json).await,
                command => {
                    let env = environment_for(&command, &cli.targets)?;
                    dispatch(&db.provisioner(env), command, json).await
                }
            };
            ran.map_err(|f| with_key_hint(f, &db))
        }
    }
}

/// `f` with a hint at the key file when it is a refusal for want of a key that the database
/// was opened without.
fn with_key_hint(mut f: Failure, db: &Database) -> Failure {
    if f.code == "key_unavailable" && db.keys.is_none() {
        f.message = format!("{}; {}", f.message, db.missing_key_hint());
    }
    f
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
        Command::Demo { .. } | Command::Targets(_) | Command::Serve(_) | Command::Keys(_) => Ok(0),
    }
}
