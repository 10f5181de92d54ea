//! The targets file: static targets (models and endpoints listed in the file) and webhook
//! targets (a platform answers for them), mixed in one list.

use std::path::Path;
use std::sync::Arc;

use dps_core::inject::OsSecrets;
use dps_core::{Environment, EnvironmentId, OuId, RoutingEnvironment, Target};
use dps_env_static::{StaticConfig, StaticEnvironment, TargetConfig};
use dps_env_webhook::{WebhookConfig, WebhookEnvironment};
use serde::Deserialize;

use crate::{CliResult, Failure};

/// The targets of a file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Targets {
    /// The targets whose models and endpoints the file lists.
    pub(crate) fixed: StaticConfig,
    /// The targets a platform's webhook answers for.
    pub(crate) webhooks: Vec<WebhookTargetEntry>,
}

/// A `[[targets]]` entry with a `webhook` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookTargetEntry {
    pub(crate) environment: EnvironmentId,
    pub(crate) ou: OuId,
    pub(crate) webhook: WebhookConfig,
}

impl WebhookTargetEntry {
    pub(crate) fn target(&self) -> Target {
        Target::new(self.environment.clone(), self.ou.clone())
    }

    /// The webhook URL as it is shown: without its query, where a platform may keep a key.
    pub(crate) fn shown_url(&self) -> &str {
        let url = self.webhook.url.as_str();
        url.split(['?', '#']).next().unwrap_or(url)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    targets: Vec<toml::Table>,
}

impl Targets {
    /// Parses the text of a targets file.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| first_line(&e.to_string()))?;
        let mut targets = Self::default();
        for (i, table) in raw.targets.into_iter().enumerate() {
            let entry =
                |e: toml::de::Error| format!("target {}: {}", i + 1, first_line(&e.to_string()));
            if table.contains_key("webhook") {
                targets
                    .webhooks
                    .push(WebhookTargetEntry::deserialize(table).map_err(entry)?);
            } else {
                targets
                    .fixed
                    .targets
                    .push(TargetConfig::deserialize(table).map_err(entry)?);
            }
        }
        Ok(targets)
    }

    /// The environment that serves these targets: the static one, with the webhook targets
    /// routed to their platforms. `strict` refuses a webhook target whose secret cannot be
    /// read; otherwise such a target is left out (for commands that never call it).
    pub(crate) fn environment(self, strict: bool) -> CliResult<Arc<dyn Environment>> {
        let fixed: Arc<dyn Environment> =
            Arc::new(StaticEnvironment::new(self.fixed, Arc::new(OsSecrets)));
        if self.webhooks.is_empty() {
            return Ok(fixed);
        }
        let mut resolved = Vec::with_capacity(self.webhooks.len());
        for entry in &self.webhooks {
            match entry.webhook.resolve() {
                Ok(webhook) => resolved.push((entry.target(), webhook)),
                Err(e) if strict => {
                    return Err(Failure::invalid(
                        "invalid_targets",
                        format!("target {}: {e}", entry.target()),
                    ));
                }
                Err(_) => {}
            }
        }
        let targets: Vec<Target> = resolved.iter().map(|(t, _)| t.clone()).collect();
        let webhooks: Arc<dyn Environment> = Arc::new(
            WebhookEnvironment::new(resolved)
                .map_err(|e| Failure::invalid("invalid_targets", e.to_string()))?,
        );
        let routed = targets
            .into_iter()
            .fold(RoutingEnvironment::new(), |r, t| {
                r.route(t, Arc::clone(&webhooks))
            })
            .fallback(fixed);
        Ok(Arc::new(routed))
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("malformed").to_owned()
}

/// Reads the targets file.
pub(crate) fn load(path: &Path) -> CliResult<Targets> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::invalid(
            "invalid_targets",
            format!(
                "targets file {}: {e} (create one with `dps targets init`)",
                path.display()
            ),
        )
    })?;
    Targets::parse(&text).map_err(|e| {
        Failure::invalid(
            "invalid_targets",
            format!("targets file {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_webhook_targets_mix_in_one_file() {
        let targets = Targets::parse(
            r#"
            [[targets]]
            environment = "prod-eu"
            ou = "acme"
            models = ["thermostat"]

            [[targets]]
            environment = "partner"
            ou = "acme"
            webhook = { url = "https://platform.example.com/dps", secret_env = "DPS_TEST_UNSET_SECRET", request_timeout_ms = 2500 }
            "#,
        )
        .unwrap();
        assert_eq!(targets.fixed.targets.len(), 1);
        assert_eq!(targets.webhooks.len(), 1);
        assert_eq!(targets.webhooks[0].target().to_string(), "partner/acme");
        assert_eq!(targets.webhooks[0].webhook.request_timeout_ms, Some(2500));
        // The secret's variable is not set: refused when the environment is needed.
        let e = targets.clone().environment(true).unwrap_err();
        assert_eq!(e.code, "invalid_targets");
        assert!(e.message.contains("DPS_TEST_UNSET_SECRET"), "{}", e.message);
        assert!(targets.environment(false).is_ok());
    }

    #[test]
    fn the_contracts_example_targets_file_parses() {
        let doc = include_str!("../../../docs/environment-webhook.md");
        let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let targets = Targets::parse(&doc[start..end]).unwrap();
        assert_eq!(
            (targets.fixed.targets.len(), targets.webhooks.len()),
            (1, 1)
        );
        assert_eq!(
            targets.webhooks[0].webhook.secret_env.as_deref(),
            Some("DPS_PARTNER_SECRET")
        );
        assert_eq!(targets.webhooks[0].webhook.batch_size, Some(100));
    }

    #[test]
    fn a_batch_size_out_of_its_range_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        for (size, ok) in [(0, false), (1, true), (1000, true), (1001, false)] {
            let targets = Targets::parse(&format!(
                "[[targets]]\nenvironment = \"p\"\nou = \"a\"\n\
                 webhook = {{ url = \"https://platform.example.com/\", secret_file = {:?}, batch_size = {size} }}\n",
                secret.display().to_string()
            ))
            .unwrap();
            match targets.environment(true) {
                Ok(_) => assert!(ok, "batch_size {size} was accepted"),
                Err(e) => {
                    assert!(!ok, "batch_size {size}: {}", e.message);
                    assert!(e.message.contains("batch_size"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn a_bad_entry_is_named_by_its_place() {
        let e = Targets::parse(
            "[[targets]]\nenvironment = \"a\"\nou = \"b\"\n[[targets]]\nenvironment = \"c\"\nou = \"d\"\nwebhook = { url = \"x\", nope = 1 }\n",
        )
        .unwrap_err();
        assert!(e.starts_with("target 2: "), "{e}");
        assert!(e.contains("nope"), "{e}");
    }
}
