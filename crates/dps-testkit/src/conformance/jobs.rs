//! Jobs in a store: stored and read back whole, replaced only at the expected version,
//! listed newest first and by running state; and their parts, kept per stream and replaced
//! in place.

use std::sync::Arc;

use dps_core::job::{JobKind, JobState, JobStream};
use dps_core::{Config, Injected, Provisioner, Selection, Store, StoreError, Version};

use super::insert_group;
use crate::fixtures::Fixtures;
use crate::{EPOCH, FakeEnvironment};

fn provisioner<S: Store + ?Sized>(store: Arc<S>) -> Provisioner<Arc<S>, Arc<FakeEnvironment>> {
    let injected = Injected {
        clock: Arc::new(dps_core::inject::ManualClock::new(EPOCH)),
        ids: Arc::new(dps_core::inject::SequentialIds::new(7_000_000)),
        secrets: Arc::new(dps_core::inject::SeededSecrets::new(5)),
    };
    Provisioner::with_parts(
        store,
        Arc::new(FakeEnvironment::new()),
        injected,
        Config::default(),
    )
}

/// A job goes in and comes back equal; a second insert of its identifier is refused; an
/// update applies only at the stored version (a stale one is a conflict, a missing job not
/// found); the listing is newest first and pages by `before`; only running jobs are
/// running.
///
/// # Panics
///
/// When the store breaks this.
pub async fn jobs_crud<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("jobs");
    insert_group(&*store, &group).await;
    let dps = provisioner(Arc::clone(&store));
    let mut started = Vec::new();
    for kind in [JobKind::Allocate, JobKind::Export, JobKind::Labels] {
        let job = dps
            .start_job(kind, group.id(), Selection::all())
            .await
            .unwrap_or_else(|e| panic!("start job: {e}"));
        started.push(job);
    }
    let first = &started[0];
    let read = store
        .job(first.id())
        .await
        .unwrap_or_else(|e| panic!("read job: {e}"));
    assert_eq!(
        read.as_ref(),
        Some(first),
        "a job reads back as it was stored"
    );
    assert!(
        matches!(
            store.insert_job(first).await,
            Err(StoreError::AlreadyExists { .. })
        ),
        "a second insert of a job's identifier is refused"
    );
    let cancelled = dps
        .cancel_job(first.id())
        .await
        .unwrap_or_else(|e| panic!("cancel job: {e}"));
    assert!(cancelled.cancel_requested());
    assert!(
        matches!(
            store.update_job(first, Version::new(1)).await,
            Err(StoreError::Conflict { .. })
        ),
        "an update at a stale version is a conflict"
    );
    let read = store
        .job(first.id())
        .await
        .unwrap_or_else(|e| panic!("read job: {e}"));
    assert_eq!(
        read.as_ref(),
        Some(&cancelled),
        "the conflict changed nothing"
    );
    let listed = store
        .jobs(None, 10)
        .await
        .unwrap_or_else(|e| panic!("list jobs: {e}"));
    let ids: Vec<_> = listed.iter().map(|j| j.id()).collect();
    let newest_first: Vec<_> = started.iter().rev().map(|j| j.id()).collect();
    assert_eq!(ids, newest_first, "jobs are listed newest first");
    let page = store
        .jobs(Some(started[2].id()), 1)
        .await
        .unwrap_or_else(|e| panic!("list jobs: {e}"));
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id(), started[1].id(), "`before` pages the listing");
    let running = store
        .running_jobs()
        .await
        .unwrap_or_else(|e| panic!("running jobs: {e}"));
    assert_eq!(running.len(), 3, "every started job runs");
    finished_and_missing_jobs(&*store, &dps, &started[1]).await;
}

/// A finished job is no longer running; a job never stored cannot be updated.
async fn finished_and_missing_jobs<S: Store + ?Sized>(
    store: &S,
    dps: &Provisioner<Arc<S>, Arc<FakeEnvironment>>,
    export: &dps_core::job::Job,
) {
    // An export runs to its end without a file writer only when there is nothing to write:
    // the group has no device, so its job finishes with no part.
    let files = NoFiles;
    let done = dps
        .run_file_job(export.id(), &files)
        .await
        .unwrap_or_else(|e| panic!("run job: {e}"));
    assert_eq!(done.state(), JobState::Finished);
    let running = store
        .running_jobs()
        .await
        .unwrap_or_else(|e| panic!("running jobs: {e}"));
    assert!(
        running.iter().all(|j| j.id() != done.id()),
        "a finished job is no longer running"
    );
    // A job that was never stored cannot be updated.
    let text = dps_core::stored::StoredJob::from(&done)
        .to_json()
        .unwrap_or_else(|e| panic!("encode job: {e}"));
    let other_id = "00000000-0000-7000-8000-0000000000ff";
    let text = text.replace(&done.id().to_string(), other_id);
    let never = dps_core::stored::decode_job(&text).unwrap_or_else(|e| panic!("decode job: {e}"));
    assert_eq!(never.id().to_string(), other_id);
    assert!(
        matches!(
            store.update_job(&never, never.version()).await,
            Err(StoreError::NotFound { .. })
        ),
        "an update of a missing job is not found"
    );
}

/// A writer of files that is never called: the jobs it runs have no device.
struct NoFiles;

#[async_trait::async_trait]
impl dps_core::job::JobFile for NoFiles {
    async fn page(
        &self,
        _job: &dps_core::job::Job,
        devices: Vec<dps_core::Device>,
    ) -> dps_core::Result<dps_core::job::FilePage> {
        panic!(
            "a job of an empty group wrote a page of {} devices",
            devices.len()
        );
    }

    async fn import(
        &self,
        _job: &dps_core::job::Job,
        index: u32,
        _part: Vec<u8>,
        _since: Option<dps_core::Timestamp>,
    ) -> dps_core::Result<dps_core::job::ImportPage> {
        panic!("a job without input imported part {index}");
    }
}

/// A part goes in and comes back byte for byte; writing it again replaces it; the streams of
/// a job and the parts of two jobs are apart; a part never written is `None`.
///
/// # Panics
///
/// When the store breaks this.
pub async fn job_parts<S: Store + ?Sized>(store: Arc<S>) {
    let fx = Fixtures::new();
    let group = fx.group("parts");
    insert_group(&*store, &group).await;
    let dps = provisioner(Arc::clone(&store));
    let a = dps
        .start_job(JobKind::Export, group.id(), Selection::all())
        .await
        .unwrap_or_else(|e| panic!("start job: {e}"));
    let b = dps
        .start_job(JobKind::Labels, group.id(), Selection::all())
        .await
        .unwrap_or_else(|e| panic!("start job: {e}"));
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let put = |job, stream, index, bytes: &[u8]| {
        let store = Arc::clone(&store);
        let bytes = bytes.to_vec();
        async move {
            store
                .put_job_part(job, stream, index, &bytes)
                .await
                .unwrap_or_else(|e| panic!("put part: {e}"));
        }
    };
    let get = |job, stream, index| {
        let store = Arc::clone(&store);
        async move {
            store
                .job_part(job, stream, index)
                .await
                .unwrap_or_else(|e| panic!("read part: {e}"))
        }
    };
    put(a.id(), JobStream::Output, 0, &bytes).await;
    put(a.id(), JobStream::Results, 0, b"results").await;
    put(b.id(), JobStream::Output, 0, b"other job").await;
    put(a.id(), JobStream::Output, 1, b"").await;
    assert_eq!(
        get(a.id(), JobStream::Output, 0).await.as_deref(),
        Some(&bytes[..])
    );
    assert_eq!(
        get(a.id(), JobStream::Results, 0).await.as_deref(),
        Some(&b"results"[..]),
        "each stream keeps its own parts"
    );
    assert_eq!(
        get(b.id(), JobStream::Output, 0).await.as_deref(),
        Some(&b"other job"[..]),
        "each job keeps its own parts"
    );
    assert_eq!(
        get(a.id(), JobStream::Output, 1).await.as_deref(),
        Some(&b""[..]),
        "an empty part is a part"
    );
    assert_eq!(
        get(a.id(), JobStream::Output, 2).await,
        None,
        "a part never written is None"
    );
    put(a.id(), JobStream::Output, 0, b"again").await;
    assert_eq!(
        get(a.id(), JobStream::Output, 0).await.as_deref(),
        Some(&b"again"[..]),
        "writing a part again replaces it"
    );
    assert_eq!(get(a.id(), JobStream::Output, u32::MAX).await, None);
}
