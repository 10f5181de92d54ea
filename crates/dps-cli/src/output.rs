//! What the commands print: JSON documents and human-readable lines.

use std::io::IsTerminal;

use dps_core::{BatchReport, Device, Outcome, RegistrationGroup, TargetConfig};
use serde_json::{Value, json};

/// A device as a JSON object.
pub(crate) fn device_json(d: &Device) -> Value {
    let mut v = json!({
        "id": d.id().to_string(),
        "serial": d.serial().as_str(),
        "model_id": d.model_id().as_str(),
        "status": d.status().as_str(),
        "name": d.name().map(|n| n.as_str()),
        "timezone": d.timezone().map(|t| t.to_string()),
        "batch_tag": d.batch_tag().map(|t| t.as_str()),
        "description": d.description().map(|t| t.as_str()),
        "target": d.target().map(|t| t.to_string()),
        "attributes": d.attributes().iter().map(|(k, v)| (k.to_string(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        "version": d.version().get(),
        "created_at": d.created_at().to_string(),
        "updated_at": d.updated_at().to_string(),
    });
    if let Some(e) = d.last_error() {
        v["last_error"] = json!({"code": e.code, "message": e.message, "at": e.at.to_string()});
    }
    if let Some(a) = d.state().allocated() {
        v["environment"] = json!(a.target().environment.as_str());
        v["ou"] = json!(a.target().ou.as_str());
        v["asset_id"] = json!(a.asset_id().as_str());
        v["product_key"] = json!(a.credentials().product_key.as_str());
        v["device_key"] = json!(a.credentials().device_key.as_str());
    }
    if !d.replacements().is_empty() {
        v["replaced_serials"] = json!(
            d.replacements()
                .iter()
                .map(|r| r.old_serial.as_str())
                .collect::<Vec<_>>()
        );
    }
    v
}

/// A group as a JSON object (without its secret).
pub(crate) fn group_json(g: &RegistrationGroup) -> Value {
    json!({
        "id": g.id().to_string(),
        "name": g.name().as_str(),
        "description": g.description().map(|d| d.as_str()),
        "environment": g.default_target().map(|t| t.environment.as_str()),
        "ou": g.default_target().map(|t| t.ou.as_str()),
        "model_type": g.model_type().as_str(),
        "reprovision": g.reprovision().as_str(),
        "auto_activation": g.auto_activation(),
        "attributes": serde_json::to_value(g.attributes()).unwrap_or(Value::Null),
        "version": g.version().get(),
        "created_at": g.created_at().to_string(),
    })
}

/// A target as a JSON object.
pub(crate) fn target_json(t: &TargetConfig) -> Value {
    json!({
        "environment": t.environment.as_str(),
        "ou": t.ou.as_str(),
        "models": t.models.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "mqtt_endpoint": t.mqtt_endpoint.as_ref().map(|e| e.as_str()),
        "http_endpoint": t.http_endpoint.as_ref().map(|e| e.as_str()),
    })
}

/// A batch report as the `{"succeeded", "failed", "results"}` document.
pub(crate) fn batch_json(report: &BatchReport) -> Value {
    let results: Vec<Value> = report
        .outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(Outcome::Settled { status, version }) => json!({
                "serial": o.serial.as_str(), "ok": true,
                "status": status.as_str(), "version": version.get(),
            }),
            Ok(Outcome::Deleted) => json!({
                "serial": o.serial.as_str(), "ok": true, "status": "deleted",
            }),
            Err(e) => json!({
                "serial": o.serial.as_str(), "ok": false,
                "error": {"code": e.code(), "message": e.to_string()},
            }),
        })
        .collect();
    json!({
        "succeeded": report.succeeded(),
        "failed": report.failed(),
        "results": results,
    })
}

/// Prints a batch report: the JSON document, or a summary and one line per failure.
pub(crate) fn print_batch(json: bool, verb: &str, report: &BatchReport) {
    if json {
        println!("{}", batch_json(report));
        return;
    }
    println!(
        "{verb}: {} succeeded, {} failed",
        report.succeeded(),
        report.failed()
    );
    for o in &report.outcomes {
        if let Err(e) = &o.result {
            println!("  {}: {} ({})", o.serial, e, e.code());
        }
    }
}

/// The exit code of a batch: 0 when everything succeeded, 1 otherwise.
pub(crate) fn batch_exit(report: &BatchReport) -> u8 {
    u8::from(!report.all_succeeded())
}

/// A spinner on stderr while long work runs, when stderr is a terminal and output is not JSON.
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Starts a spinner saying `message`, unless `quiet` or stderr is not a terminal.
    pub(crate) fn start(quiet: bool, message: &str) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Some(bar))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
