//! `dps targets`: the targets file, of static targets and webhook targets.

use std::path::Path;

use crate::cli::TargetsCommand;
use crate::context::{load_targets, write_file};
use crate::output::{PageView, PathOut, TargetOut, print_json};
use crate::{CliResult, Failure};

/// The example targets file that `targets init` and the demo write.
pub(crate) const EXAMPLE_TARGETS: &str = r#"# Targets devices can be allocated to: an environment and an OU, the models that exist
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

/// Runs a `targets` command on the targets file `targets`.
pub(crate) fn run(command: TargetsCommand, targets: &Path, json: bool) -> CliResult<u8> {
    match command {
        TargetsCommand::Init { output } => init(output.as_deref().unwrap_or(targets), json),
        TargetsCommand::List => list(targets, json),
    }
}

fn init(path: &Path, json: bool) -> CliResult<u8> {
    if path.exists() {
        return Err(Failure::invalid(
            "already_exists",
            format!("{} already exists", path.display()),
        ));
    }
    let path = write_file(path, EXAMPLE_TARGETS.as_bytes())?;
    if json {
        print_json(&PathOut::new(&path))?;
    } else {
        println!("wrote {}", path.display());
    }
    Ok(0)
}

fn list(targets: &Path, json: bool) -> CliResult<u8> {
    let targets = load_targets(targets)?;
    if json {
        let items = targets
            .fixed
            .targets
            .iter()
            .map(TargetOut::from)
            .chain(targets.webhooks.iter().map(TargetOut::from))
            .collect();
        print_json(&PageView::complete(items))?;
    } else {
        for t in &targets.fixed.targets {
            let models: Vec<_> = t.models.iter().map(|m| m.as_str()).collect();
            println!("{}/{}  models: {}", t.environment, t.ou, models.join(", "));
        }
        for t in &targets.webhooks {
            println!("{}/{}  webhook: {}", t.environment, t.ou, t.shown_url());
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use dps_env_static::StaticConfig;

    use super::*;

    #[test]
    fn the_example_targets_file_parses() {
        let config: StaticConfig = toml::from_str(EXAMPLE_TARGETS).unwrap();
        assert_eq!(config.targets[0].environment.as_str(), "prod-eu");
        assert_eq!(config.targets.len(), 2);
    }
}
