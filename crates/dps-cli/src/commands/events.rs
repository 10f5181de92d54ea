//! `dps events`: read the event log.

use dps_core::{Event, EventCursor};

use crate::CliResult;
use crate::context::Dps;
use crate::output::{EventView, PageView, print_json};

/// Prints at most `limit` events after the cursor `after`.
pub(crate) async fn run(dps: &Dps, after: u64, limit: usize, json: bool) -> CliResult<u8> {
    let events = dps.events(EventCursor::new(after), limit).await?;
    // A full page may have more after it.
    let next = (events.len() == limit && limit > 0)
        .then(|| events.last().map(|e| e.cursor.get()))
        .flatten();
    if json {
        let items = events.iter().map(EventView::from).collect();
        print_json(&PageView::new(items, next.map(|n| n.to_string())))?;
    } else {
        print_human(&events, next);
    }
    Ok(0)
}

fn print_human(events: &[Event], next: Option<u64>) {
    for e in events {
        println!(
            "{:>8}  {}  {:<20} {}",
            e.cursor,
            e.at,
            e.kind.name(),
            e.serial.as_ref().map(|s| s.as_str()).unwrap_or("")
        );
    }
    if let Some(n) = next {
        println!("next: --after {n}");
    }
}
