//! `dps device allocate`, `reset` and `delete`: one operation over a selection of devices.

use super::args::selection;
use crate::CliResult;
use crate::cli::BatchArgs;
use crate::context::{Dps, resolve_group};
use crate::output::{Progress, batch_exit, print_batch};

/// The operation of a batch command.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Batch {
    Allocate,
    Reset,
    Delete,
}

impl Batch {
    /// What the spinner says while it runs.
    fn progress(self) -> &'static str {
        match self {
            Batch::Allocate => "allocating",
            Batch::Reset => "resetting",
            Batch::Delete => "deleting",
        }
    }

    /// The verb of the summary line.
    fn verb(self) -> &'static str {
        match self {
            Batch::Allocate => "allocated",
            Batch::Reset => "reset",
            Batch::Delete => "deleted",
        }
    }
}

/// Runs `op` over the selected devices and prints the report.
pub(crate) async fn run(dps: &Dps, args: BatchArgs, op: Batch, json: bool) -> CliResult<u8> {
    let g = resolve_group(dps, &args.group).await?;
    let sel = selection(&args.selection)?;
    let report = {
        let _p = Progress::start(json, op.progress());
        match op {
            Batch::Allocate => dps.allocate(g.id(), &sel).await?,
            Batch::Reset => dps.reset(g.id(), &sel).await?,
            Batch::Delete => dps.delete(g.id(), &sel).await?,
        }
    };
    print_batch(json, op.verb(), &report)?;
    Ok(batch_exit(&report))
}
