//! The demo's summary.

use std::path::Path;

use dps_core::GroupId;
use serde::Serialize;

/// The demo: its directory, its group and each step it took.
#[derive(Debug, Serialize)]
pub(crate) struct DemoOut<'a> {
    directory: String,
    group: String,
    steps: &'a [StepOut],
}

impl<'a> DemoOut<'a> {
    /// The demo in `directory` with `group`, after `steps`.
    pub(crate) fn new(directory: &Path, group: GroupId, steps: &'a [StepOut]) -> Self {
        Self {
            directory: directory.display().to_string(),
            group: group.to_string(),
            steps,
        }
    }
}

/// One step of the demo and what it did.
#[derive(Debug, Serialize)]
pub(crate) struct StepOut {
    step: &'static str,
    detail: String,
}

impl StepOut {
    /// The step `step` that did `detail`.
    pub(crate) fn new(step: &'static str, detail: String) -> Self {
        Self { step, detail }
    }

    /// The step's name.
    pub(crate) fn step(&self) -> &str {
        self.step
    }

    /// What the step did.
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }
}
