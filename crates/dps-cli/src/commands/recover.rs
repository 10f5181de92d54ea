//! `dps recover`: complete the operations that a crash or an unavailable environment left
//! pending.

use crate::CliResult;
use crate::context::Dps;
use crate::output::{Progress, batch_exit, print_batch};

/// Recovers every pending operation and prints the report.
pub(crate) async fn run(dps: &Dps, json: bool) -> CliResult<u8> {
    let report = {
        let _p = Progress::start(json, "recovering pending operations");
        dps.recover().await?
    };
    print_batch(json, "recovered", &report)?;
    Ok(batch_exit(&report))
}
