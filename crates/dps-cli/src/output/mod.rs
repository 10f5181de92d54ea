//! What the commands print: JSON documents and human-readable lines.
//!
//! Every `--json` document is built from a view of `dps_http::views` (the same shapes the
//! HTTP API answers) or, for what only the CLI prints, from a type of this module, so that
//! the domain types never decide what is printed. Documents print on one line with the keys of every
//! object in sorted order.

mod batch;
mod demo;
mod error;
mod file;
mod group;
mod target;

use std::io::IsTerminal;

use serde::Serialize;
use serde_json::Value;

pub(crate) use batch::{batch_exit, print_batch, print_recover};
pub(crate) use demo::{DemoOut, StepOut};
pub(crate) use dps_http::views::{
    BootstrapView, CountsView, DeviceView, EventView, GroupDeleteView, GroupView, ImportView,
    PageView, ResultView,
};
pub(crate) use error::ErrorDoc;
pub(crate) use file::{ExportOut, PathOut, QrOut, TemplateOut};
pub(crate) use group::print_group;
pub(crate) use target::TargetOut;

use crate::{CliResult, Failure};

/// `doc` as a JSON value, its objects' keys in sorted order.
pub(crate) fn document<T: Serialize>(doc: &T) -> CliResult<Value> {
    serde_json::to_value(doc)
        .map_err(|e| Failure::io("io_error", format!("cannot print the document: {e}")))
}

/// Prints `doc` as one line of JSON.
pub(crate) fn print_json<T: Serialize>(doc: &T) -> CliResult<()> {
    println!("{}", document(doc)?);
    Ok(())
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

    /// Says `message` instead.
    pub(crate) fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_owned());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
