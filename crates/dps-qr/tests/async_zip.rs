//! `export_zip_async` writes the bytes and outcomes of `export_zip` to an async writer on a
//! `current_thread` runtime, awaiting the renderers instead of blocking on them.

mod common;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use common::{SERIALS, check_labels, world, zip_entries};
use dps_core::{Entity, GroupId, Selection, Uuid};
use dps_qr::{ArchiveOptions, Error, ImageFormat, LabelReport, export_zip, export_zip_async};
use tokio::io::AsyncWrite;

/// A writer that is not ready on every other poll (the first one included) and otherwise
/// takes at most `step` bytes.
#[derive(Default)]
struct Sip {
    bytes: Vec<u8>,
    step: usize,
    ready: bool,
    waits: u64,
    flushed: bool,
}

impl Sip {
    fn new(step: usize) -> Self {
        Self {
            step,
            ready: true,
            ..Self::default()
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> bool {
        self.ready = !self.ready;
        if !self.ready {
            self.waits += 1;
            cx.waker().wake_by_ref();
        }
        !self.ready
    }
}

impl AsyncWrite for Sip {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wait(cx) {
            return Poll::Pending;
        }
        let n = buf.len().min(this.step);
        this.bytes.extend_from_slice(&buf[..n]);
        this.flushed = false;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.wait(cx) {
            return Poll::Pending;
        }
        this.flushed = true;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A writer that takes `left` bytes and then fails.
struct Failing {
    left: usize,
}

impl AsyncWrite for Failing {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed")));
        }
        let n = buf.len().min(this.left);
        this.left -= n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Each outcome as its serial, device and file name or error code.
fn outcomes(report: &LabelReport) -> Vec<(String, Option<String>, Result<String, &'static str>)> {
    report
        .outcomes
        .iter()
        .map(|o| {
            (
                o.serial.to_string(),
                o.device_id.map(|d| d.to_string()),
                o.result.as_ref().map(Clone::clone).map_err(Error::code),
            )
        })
        .collect()
}

fn unknown_group() -> GroupId {
    GroupId::from_uuid(Uuid::from_u128(7))
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_archive_has_the_bytes_and_outcomes_of_the_sync_one() {
    let mut serials: Vec<String> = SERIALS.iter().map(|s| s.to_string()).collect();
    serials.extend((0..60).map(|i| format!("LOT-{i:03}")));
    let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
    let (dps, group) = world(&serials).await;
    let selections = [
        Selection::all(),
        Selection::Serials(
            ["SN-5", "nope", "SN-1", "sn-1", "LOT-042", "CON"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect(),
        ),
    ];
    let options = [
        ArchiveOptions::default(),
        ArchiveOptions::default().with_threads(1),
        ArchiveOptions::default()
            .with_threads(3)
            .with_format(ImageFormat::Svg),
    ];
    for selection in &selections {
        for options in &options {
            let mut expected = Vec::new();
            let expected_report =
                export_zip(&dps, group, selection, &mut expected, options.clone())
                    .await
                    .unwrap();
            let mut sip = Sip::new(7);
            let report = export_zip_async(&dps, group, selection, &mut sip, options.clone())
                .await
                .unwrap();
            assert_eq!(outcomes(&report), outcomes(&expected_report));
            assert!(
                sip.bytes == expected,
                "the same bytes for {selection:?}, {options:?}"
            );
            assert!(sip.flushed, "the writer is flushed at the end");
            assert!(sip.waits > 0);
        }
    }
    let mut sip = Sip::new(7);
    let report = export_zip_async(
        &dps,
        group,
        &Selection::all(),
        &mut sip,
        ArchiveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.succeeded(), serials.len());
    check_labels(&zip_entries(&sip.bytes));
}

#[tokio::test(flavor = "current_thread")]
async fn other_tasks_run_while_the_labels_render() {
    let serials: Vec<String> = (0..200).map(|i| format!("SN-{i:04}")).collect();
    let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
    let (dps, group) = world(&serials).await;
    let done = AtomicBool::new(false);
    let ticks = AtomicU64::new(0);
    let export = async {
        // A vector is always ready: the export yields only while it awaits the renderers.
        let mut zip = Vec::new();
        let options = ArchiveOptions::default().with_threads(2);
        let report = export_zip_async(&dps, group, &Selection::all(), &mut zip, options).await;
        done.store(true, Ordering::Relaxed);
        (report, zip)
    };
    let ticker = async {
        while !done.load(Ordering::Relaxed) {
            ticks.fetch_add(1, Ordering::Relaxed);
            tokio::task::yield_now().await;
        }
    };
    let ((report, zip), ()) = tokio::join!(export, ticker);
    assert_eq!(report.unwrap().succeeded(), 200);
    assert_eq!(zip_entries(&zip).len(), 201);
    assert!(
        ticks.load(Ordering::Relaxed) > 1,
        "the ticker ran while the export was rendering"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_archive_to_a_failing_writer_stops_with_an_io_error() {
    let (dps, group) = world(&SERIALS).await;
    for left in [0, 100, 2000] {
        let err = export_zip_async(
            &dps,
            group,
            &Selection::all(),
            Failing { left },
            ArchiveOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::BrokenPipe),
            "{err:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_archive_of_an_unknown_group_is_not_found_in_both_forms() {
    let (dps, _) = world(&SERIALS).await;
    let mut zip = Vec::new();
    let sync = export_zip(
        &dps,
        unknown_group(),
        &Selection::all(),
        &mut zip,
        ArchiveOptions::default(),
    )
    .await
    .unwrap_err();
    let mut sip = Sip::new(7);
    let asynchronous = export_zip_async(
        &dps,
        unknown_group(),
        &Selection::all(),
        &mut sip,
        ArchiveOptions::default(),
    )
    .await
    .unwrap_err();
    for err in [sync, asynchronous] {
        assert!(
            matches!(
                &err,
                Error::Core(dps_core::Error::NotFound {
                    entity: Entity::Group,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(err.code(), "not_found");
    }
    assert!(zip.is_empty() && sip.bytes.is_empty(), "nothing is written");
}

#[test]
fn the_async_archive_future_can_move_between_threads() {
    fn is_send<T: Send>(_: &T) {}
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (dps, _) = runtime.block_on(world(&[]));
    let selection = Selection::all();
    let future = export_zip_async(
        &dps,
        unknown_group(),
        &selection,
        Sip::new(7),
        ArchiveOptions::default(),
    );
    is_send(&future);
    let err = runtime.block_on(future).unwrap_err();
    assert_eq!(err.code(), "not_found");
}
