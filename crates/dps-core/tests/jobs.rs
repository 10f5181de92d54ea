//! Jobs: every page run, cancellation between pages, a stopped runner taken over without
//! operating on any device twice, each device's result, and the files of export jobs.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{World, group_settings, world};
use dps_core::job::{FilePage, JOB_PAGE, Job, JobFailure, JobFile, JobKind, JobOutcome, JobState};
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

/// Every result the job stored, in order.
async fn results(w: &World, job: &Job) -> Vec<JobOutcome> {
    let job = w.dps.job(job.id()).await.unwrap();
    let mut all = Vec::new();
    for index in 0..job.pages() {
        all.extend(w.dps.job_results(&job, index).await.unwrap());
    }
    all
}

/// Asserts that every device of the job has exactly one result, a success.
async fn each_succeeded_once(w: &World, job: &Job, total: usize) {
    let outcomes = results(w, job).await;
    assert_eq!(outcomes.len(), total, "one result per device");
    let serials: std::collections::HashSet<_> =
        outcomes.iter().map(|o| o.serial().clone()).collect();
    assert_eq!(serials.len(), total, "no device has two results");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, JobOutcome::Succeeded(_)))
    );
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
    each_succeeded_once(&w, &job, 1200).await;
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
    let outcomes = results(&w, &job).await;
    assert_eq!(outcomes.len(), 3);
    assert!(
        matches!(&outcomes[0], JobOutcome::Failed(f) if f.code == "not_found" && f.serial.as_str() == "GEN-missing")
    );
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
    each_succeeded_once(&w, &job, total).await;
}

/// A file of one line per device, its serial; a serial ending in `-bad` cannot be written.
struct Lines;

#[async_trait::async_trait]
impl JobFile for Lines {
    async fn page(&self, _job: &Job, devices: Vec<dps_core::Device>) -> dps_core::Result<FilePage> {
        let mut page = FilePage::default();
        for d in devices {
            if d.serial().as_str().ends_with("-bad") {
                page.failures.push(JobFailure {
                    serial: d.serial().clone(),
                    code: "unwritable".into(),
                    message: "cannot be written".into(),
                });
            } else {
                page.bytes
                    .extend_from_slice(format!("{}\n", d.serial()).as_bytes());
            }
        }
        Ok(page)
    }

    async fn import(
        &self,
        _job: &Job,
        index: u32,
        _part: Vec<u8>,
        _since: Option<dps_core::Timestamp>,
    ) -> dps_core::Result<dps_core::job::ImportPage> {
        unreachable!("an export imports no part ({index})")
    }
}

#[tokio::test]
async fn a_file_job_stores_one_part_a_page_and_each_device_s_result() {
    let w = world();
    let total = 2 * JOB_PAGE + 7;
    let group = group_of(&w, total).await;
    let job = w
        .dps
        .start_job(JobKind::Export, group, Selection::all())
        .await
        .unwrap();
    // A runner without the file's writer leaves the job to one that has it.
    let untouched = w.dps.run_job(job.id()).await.unwrap();
    assert_eq!(
        (untouched.state(), untouched.done()),
        (JobState::Running, 0)
    );
    let done = w.dps.run_file_job(job.id(), &Lines).await.unwrap();
    assert_eq!(done.state(), JobState::Finished);
    assert_eq!(
        (done.succeeded(), done.failed(), done.pages()),
        (total as u64, 0, 3)
    );
    let mut file = Vec::new();
    for index in 0..done.pages() {
        file.extend(w.dps.job_output(&done, index).await.unwrap().unwrap());
    }
    let lines: Vec<&str> = std::str::from_utf8(&file).unwrap().lines().collect();
    let devices = w
        .dps
        .devices(&DeviceQuery::new(group, Default::default()), None, total)
        .await
        .unwrap();
    let expected: Vec<&str> = devices.items.iter().map(|d| d.serial().as_str()).collect();
    assert_eq!(
        lines, expected,
        "the parts in order are every device in order"
    );
    each_succeeded_once(&w, &job, total).await;
    // No device changed.
    assert_eq!(allocated(&w, group).await, 0);
}

#[tokio::test]
async fn a_file_job_lists_the_devices_it_could_not_write() {
    let w = world();
    let group = group_of(&w, 2).await;
    let bad: dps_core::SerialNumber = "x-bad".parse().unwrap();
    w.dps
        .register(
            group,
            dps_core::NewDevice::new(bad.clone(), "m1".parse().unwrap()),
        )
        .await
        .unwrap();
    let serials = vec![bad.clone(), "GEN-missing".parse().unwrap()];
    let job = w
        .dps
        .start_job(JobKind::Labels, group, Selection::Serials(serials))
        .await
        .unwrap();
    let done = w.dps.run_file_job(job.id(), &Lines).await.unwrap();
    assert_eq!(
        (done.state(), done.succeeded(), done.failed()),
        (JobState::Finished, 0, 2)
    );
    let codes: Vec<(&str, &str)> = done
        .failures()
        .iter()
        .map(|f| (f.serial.as_str(), f.code.as_str()))
        .collect();
    assert!(codes.contains(&("x-bad", "unwritable")), "{codes:?}");
    assert!(codes.contains(&("GEN-missing", "not_found")), "{codes:?}");
    assert_eq!(
        w.dps.job_output(&done, 0).await.unwrap().as_deref(),
        Some(&b""[..])
    );
    let outcomes = results(&w, &job).await;
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| matches!(o, JobOutcome::Failed(_))));
}

/// A call of an importer: the part's index, its bytes, and since when it was resumed.
type Call = (u32, Vec<u8>, Option<dps_core::Timestamp>);

/// An importer that records its calls; part `hang` never finishes the first time.
struct Parts {
    calls: std::sync::Mutex<Vec<Call>>,
    hang: Option<u32>,
}

#[async_trait::async_trait]
impl JobFile for Parts {
    async fn page(
        &self,
        _job: &Job,
        _devices: Vec<dps_core::Device>,
    ) -> dps_core::Result<FilePage> {
        unreachable!("an import writes no page")
    }

    async fn import(
        &self,
        _job: &Job,
        index: u32,
        part: Vec<u8>,
        since: Option<dps_core::Timestamp>,
    ) -> dps_core::Result<dps_core::job::ImportPage> {
        self.calls
            .lock()
            .unwrap()
            .push((index, part.clone(), since));
        if self.hang == Some(index) {
            std::future::pending::<()>().await;
        }
        Ok(dps_core::job::ImportPage {
            outcomes: vec![JobOutcome::Succeeded(
                format!("SN-{index}").parse().unwrap(),
            )],
            refused: 1,
            imported: 1,
            report: part,
        })
    }
}

#[tokio::test]
async fn an_import_job_imports_each_part_once_and_a_stopped_part_again_with_its_start() {
    let w = world();
    let group = group_of(&w, 0).await;
    let mut input = w.dps.new_job_input();
    for part in [b"a", b"b", b"c"] {
        w.dps.push_job_input(&mut input, part).await.unwrap();
    }
    assert_eq!(input.parts(), 3);
    let job = w
        .dps
        .start_import_job(input, group, dps_core::import::ImportMode::Upsert, 6)
        .await
        .unwrap();
    assert_eq!(
        (job.kind(), job.total(), job.input_parts()),
        (JobKind::Import, 6, 3)
    );
    let first = std::sync::Arc::new(Parts {
        calls: Default::default(),
        hang: Some(1),
    });
    let runner = {
        let (dps, first, id) = (
            w.dps.acting_as("runner".parse().unwrap()),
            first.clone(),
            job.id(),
        );
        tokio::spawn(async move { dps.run_file_job(id, &*first).await })
    };
    while first.calls.lock().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The runner stops while it imports part 1.
    runner.abort();
    let _ = runner.await;
    let held = w.dps.job(job.id()).await.unwrap();
    assert_eq!((held.pages(), held.done()), (1, 2));
    w.clock
        .advance(w.dps.config().lease + Duration::from_secs(1));
    let second = Parts {
        calls: Default::default(),
        hang: None,
    };
    let done = w.dps.run_file_job(job.id(), &second).await.unwrap();
    assert_eq!(done.state(), JobState::Finished);
    assert_eq!((done.succeeded(), done.failed(), done.pages()), (3, 3, 3));
    assert_eq!(done.import_mode(), dps_core::import::ImportMode::Upsert);
    let calls = second.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "part 0 is not imported again");
    assert_eq!((calls[0].0, calls[0].1.as_slice()), (1, &b"b"[..]));
    assert!(
        calls[0].2.is_some(),
        "the stopped part is imported with the time it started"
    );
    assert_eq!((calls[1].0, calls[1].2), (2, None));
    let mut report = Vec::new();
    for index in 0..done.pages() {
        report.extend(w.dps.job_output(&done, index).await.unwrap().unwrap());
    }
    assert_eq!(report, b"abc");
    assert_eq!(results(&w, &done).await.len(), 3);
}

/// [`Lines`], except that the job's page `hang` never finishes.
struct Hanging {
    hang: u32,
    entered: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl JobFile for Hanging {
    async fn page(&self, job: &Job, devices: Vec<dps_core::Device>) -> dps_core::Result<FilePage> {
        if job.pages() == self.hang {
            self.entered
                .store(true, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        Lines.page(job, devices).await
    }

    async fn import(
        &self,
        job: &Job,
        index: u32,
        part: Vec<u8>,
        since: Option<dps_core::Timestamp>,
    ) -> dps_core::Result<dps_core::job::ImportPage> {
        Lines.import(job, index, part, since).await
    }
}

#[tokio::test]
async fn a_stopped_file_job_is_taken_over_and_its_file_holds_each_device_once() {
    let w = world();
    let total = 3 * JOB_PAGE + 1;
    let group = group_of(&w, total).await;
    let job = w
        .dps
        .start_job(JobKind::Export, group, Selection::all())
        .await
        .unwrap();
    let first = std::sync::Arc::new(Hanging {
        hang: 2,
        entered: Default::default(),
    });
    let runner = {
        let (dps, first, id) = (
            w.dps.acting_as("runner".parse().unwrap()),
            first.clone(),
            job.id(),
        );
        tokio::spawn(async move { dps.run_file_job(id, &*first).await })
    };
    while !first.entered.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The runner stops while it writes page 2.
    runner.abort();
    let _ = runner.await;
    let held = w.dps.job(job.id()).await.unwrap();
    assert_eq!((held.pages(), held.done()), (2, 2 * JOB_PAGE as u64));
    w.clock
        .advance(w.dps.config().lease + Duration::from_secs(1));
    let done = w.dps.run_file_job(job.id(), &Lines).await.unwrap();
    assert_eq!(done.state(), JobState::Finished);
    assert_eq!((done.succeeded(), done.pages()), (total as u64, 4));
    let mut file = Vec::new();
    for index in 0..done.pages() {
        file.extend(w.dps.job_output(&done, index).await.unwrap().unwrap());
    }
    let lines: Vec<&str> = std::str::from_utf8(&file).unwrap().lines().collect();
    let unique: std::collections::HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(
        (lines.len(), unique.len()),
        (total, total),
        "each device once"
    );
    each_succeeded_once(&w, &job, total).await;
}
