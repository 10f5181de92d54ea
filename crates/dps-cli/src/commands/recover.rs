//! `dps recover`: complete the operations that a crash or an unavailable environment left
//! pending.

use std::time::Duration;

use dps_core::inject::{Clock, SystemClock};
use dps_core::{Leased, RecoverReport};

use crate::CliResult;
use crate::context::Dps;
use crate::output::{Progress, batch_exit, print_recover};

/// Recovers every pending operation whose lease has run out and prints the report; with
/// `wait`, waits for the leases still held and recovers again until none is left.
pub(crate) async fn run(dps: &Dps, wait: bool, json: bool) -> CliResult<u8> {
    let mut report = recover_once(dps, json).await?;
    while wait && report.leased.count > 0 {
        count_down(report.leased, json).await;
        let next = recover_once(dps, json).await?;
        merge(&mut report, next);
    }
    print_recover(json, &report)?;
    Ok(batch_exit(&report.completed))
}

async fn recover_once(dps: &Dps, json: bool) -> CliResult<RecoverReport> {
    let _p = Progress::start(json, "recovering pending operations");
    Ok(dps.recover().await?)
}

/// Waits until the first held lease has run out, showing the seconds left.
async fn count_down(leased: Leased, json: bool) {
    let Some(expiry) = leased.earliest_expiry else {
        return;
    };
    let progress = Progress::start(json, "");
    loop {
        let left = expiry.unix_millis() - SystemClock.now().unix_millis();
        // A lease has run out at its instant.
        if left <= 0 {
            break;
        }
        let devices = match leased.count {
            1 => "1 device".to_owned(),
            n => format!("{n} devices"),
        };
        progress.set_message(&format!(
            "waiting for the lease of {devices} to run out: {} s",
            (left + 999) / 1000
        ));
        let step = u64::try_from(left.min(1000)).unwrap_or(1000) + 1;
        tokio::time::sleep(Duration::from_millis(step)).await;
    }
}

/// Adds a later round's outcomes: a device driven again keeps only its latest outcome.
fn merge(report: &mut RecoverReport, next: RecoverReport) {
    for outcome in next.completed.outcomes {
        match report
            .completed
            .outcomes
            .iter_mut()
            .find(|o| o.device_id == outcome.device_id)
        {
            Some(earlier) => *earlier = outcome,
            None => report.completed.outcomes.push(outcome),
        }
    }
    report.leased = next.leased;
}
