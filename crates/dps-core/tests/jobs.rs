//! Jobs: every page run, cancellation between pages, and a stopped runner taken over without
//! operating on any device twice.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{World, group_settings, world};
use dps_core::job::{JOB_PAGE, Job, JobKind, JobState};
use dps_core::state::AllocationStatus;
use dps_core::{DeviceQuery, EventCursor, EventKind, GenerateSpec, GroupId, Selection, Store};

async fn group_of(w: &World, devices: usize) -> GroupId {
    let group = w.dps.create_group(group_settings()).await.unwrap();
    let spec = GenerateSpec {
        model_id: "m1".parse().unwrap(),
        batch_tag: None,
    };
    let report = w.dps.generate(group.id(), devices, spec).await.unwrap();
    assert_eq!(report.registered(), devices);
    group.id()
}

/// How many `allocated` events each device has.
async fn allocations(w: &World) -> HashMap<dps_core::DeviceId, usize> {
    let mut counts = HashMap::new();
    let mut after = EventCursor::START;
    loop {
        let events = w.store.events(after, 10_000).await.unwrap();
        let Some(last) = events.last() else { break };
        after = last.cursor;
        for e in &events {
            if matches!(e.kind, EventKind::Allocated { .. }) {
                *counts.entry(e.device_id.unwrap()).or_default() += 1;
            }
        }
    }
    counts
}

async fn allocated(w: &World, group: GroupId) -> u64 {
    let filter = dps_core::DeviceFilter {
        status: Some(AllocationStatus::Allocated),
        ..Default::default()
    };
    w.dps.count(&DeviceQuery::new(group, filter)).await.unwrap()
}

/// Waits until the job has recorded at least one page.
async fn after_first_page(w: &World, job: &Job) {
    for _ in 0..20_000 {
        if w.dps.job(job.id()).await.unwrap().done() >= JOB_PAGE as u64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the job recorded no page");
}

#[tokio::test]
async fn a_job_runs_every_page_and_allocates_each_device_once() {
    let w = world();
    let group = group_of(&w, 1200).await;
    let job = w
        .dps
        .start_job(JobKind::Allocate, group, Selection::all())
        .await
        .unwrap();
    assert_eq!(
        (job.state(), job.total(), job.done()),
        (JobState::Running, 1200, 0)
    );
    let done = w.dps.run_job(job.id()).await.unwrap();
    assert_eq!(done.state(), JobState::Finished);
    assert_eq!((done.succeeded(), done.failed()), (1200, 0));
    assert_eq!(allocated(&w, group).await, 1200);
    let counts = allocations(&w).await;
    assert_eq!(counts.len(), 1200);
    assert!(counts.values().all(|n| *n == 1));
    // A finished job is answered as it is, and listed.
    assert_eq!(w.dps.run_job(job.id()).await.unwrap(), done);
    assert_eq!(w.dps.jobs(None, 10).await.unwrap(), vec![done]);
    assert!(w.dps.resumable_jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn failed_devices_are_listed_with_their_reasons() {
    let w = world();
    let group = group_of(&w, 3).await;
    let serials: Vec<_> = ["GEN-missing", "x-1", "x-2"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let job = w
        .dps
        .start_job(JobKind::Reset, group, Selection::Serials(serials))
        .await
        .unwrap();
    let done = w.dps.run_job(job.id()).await.unwrap();
    assert_eq!(done.state(), JobState::Finished);
    assert_eq!(done.failed(), 3);
    assert_eq!(done.failures()[0].serial.as_str(), "GEN-missing");
    assert_eq!(done.failures()[0].code, "not_found");
}

#[tokio::test]
async fn cancel_stops_a_job_between_pages() {
    let w = world();
    let group = group_of(&w, 10 * JOB_PAGE).await;
    w.env.set_latency(Some(Duration::from_millis(2)));
    let job = w
        .dps
        .start_job(JobKind::Allocate, group, Selection::all())
        .await
        .unwrap();
    let runner = {
        let dps = w.dps.acting_as("runner".parse().unwrap());
        let id = job.id();
        tokio::spawn(async move { dps.run_job(id).await })
    };
    after_first_page(&w, &job).await;
    let asked = w.dps.cancel_job(job.id()).await.unwrap();
    assert!(asked.cancel_requested());
    let stopped = runner.await.unwrap().unwrap();
    assert_eq!(stopped.state(), JobState::Cancelled);
    assert!(!stopped.cancel_requested());
    let done = stopped.done();
    assert_eq!(done % JOB_PAGE as u64, 0, "stopped between pages: {done}");
    assert!(done >= JOB_PAGE as u64 && done < stopped.total(), "{done}");
    assert_eq!(allocated(&w, group).await, done);
    // Cancelling an ended job changes nothing.
    assert_eq!(w.dps.cancel_job(job.id()).await.unwrap(), stopped);
}

#[tokio::test]
async fn a_stopped_runner_is_taken_over_and_no_device_is_allocated_twice() {
    let w = world();
    let total = 4 * JOB_PAGE;
    let group = group_of(&w, total).await;
    w.env.set_latency(Some(Duration::from_millis(1)));
    let job = w
        .dps
        .start_job(JobKind::Allocate, group, Selection::all())
        .await
        .unwrap();
    let runner = {
        let dps = w.dps.acting_as("runner".parse().unwrap());
        let id = job.id();
        tokio::spawn(async move { dps.run_job(id).await })
    };
    after_first_page(&w, &job).await;
    // The runner's process stops in the middle of a page.
    runner.abort();
    let _ = runner.await;
    let held = w.dps.job(job.id()).await.unwrap();
    assert_eq!(held.state(), JobState::Running);
    // Another runner waits for the lease.
    assert!(w.dps.resumable_jobs().await.unwrap().is_empty());
    assert_eq!(w.dps.run_job(job.id()).await.unwrap().done(), held.done());
    w.clock
        .advance(w.dps.config().lease + Duration::from_secs(1));
    w.env.set_latency(None);
    w.dps.recover().await.unwrap();
    let resumable = w.dps.resumable_jobs().await.unwrap();
    assert_eq!(resumable.len(), 1);
    let done = w.dps.run_job(job.id()).await.unwrap();
    assert_eq!(done.state(), JobState::Finished);
    assert_eq!((done.succeeded(), done.failed()), (total as u64, 0));
    assert_eq!(allocated(&w, group).await, total as u64);
    let counts = allocations(&w).await;
    assert_eq!(counts.len(), total);
    assert!(
        counts.values().all(|n| *n == 1),
        "a device was allocated twice"
    );
}
