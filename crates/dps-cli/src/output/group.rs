//! A group as the commands print it.

use dps_core::RegistrationGroup;
use dps_http::views::GroupView;

use crate::CliResult;

/// Prints a group: the JSON document, or its settings and attributes.
pub(crate) fn print_group(json: bool, g: &RegistrationGroup) -> CliResult<()> {
    if json {
        return super::print_json(&GroupView::from(g));
    }
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
    Ok(())
}
