//! The async forms read and write what the sync forms do, on a `current_thread` runtime,
//! from a source that hands out a few bytes at a time and is often not ready.

mod common;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use common::{dps, group, schema};
use dps_core::{Entity, Error, GroupId, Selection, SerialNumber, Uuid};
use dps_csv::{
    CsvError, Delimiter, ExportError, ExportOptions, ImportError, ImportOptions, ImportReport,
    Limits, RowOutcome, export, export_async, import, import_async, import_with, import_with_async,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A source that is not ready on every other poll (the first one included) and otherwise
/// hands out at most `step`
/// bytes; it counts the polls it was not ready and the bytes it served.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
    ready: bool,
    waits: Arc<AtomicU64>,
    served: Arc<AtomicU64>,
}

impl Trickle {
    fn new(bytes: impl Into<Vec<u8>>, step: usize) -> Self {
        Self {
            bytes: bytes.into(),
            at: 0,
            step,
            ready: true,
            waits: Arc::default(),
            served: Arc::default(),
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.ready = !this.ready;
        if !this.ready {
            this.waits.fetch_add(1, Ordering::Relaxed);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = this
            .step
            .min(buf.remaining())
            .min(this.bytes.len() - this.at);
        buf.put_slice(&this.bytes[this.at..this.at + n]);
        this.at += n;
        this.served.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

/// A source whose reads fail.
struct Broken;

impl AsyncRead for Broken {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")))
    }
}

/// What an import gave, comparable across the two forms.
fn outcome(result: Result<ImportReport, ImportError>) -> Result<ImportReport, (String, String)> {
    result.map_err(|e| (e.code().to_owned(), e.to_string()))
}

fn unknown_group() -> GroupId {
    GroupId::from_uuid(Uuid::from_u128(7))
}

fn is_group_not_found(e: &Error) -> bool {
    matches!(
        e,
        Error::NotFound {
            entity: Entity::Group,
            ..
        }
    )
}

/// Files that exercise the reader: BOM, semicolons, CRLF and CR, quoted line breaks and
/// quotes, refused rows, a duplicate, a ragged row, a missing final line end.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let mut files: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "bom and semicolons",
            "\u{feff}serial_number;model;Device Name;floor\r\nSN-1;m1;\"Hall; west\";1\r\nSN-2;m1;Lobby;two\r\n"
                .into(),
        ),
        (
            "quoted line breaks",
            "Device Serial No.,Model ID,Description\nSN-1,m1,\"one\nline \"\"two\"\"\"\nSN 2,m1,x\nSN-1,m2,dup\nSN-4,m1\nSN-5,m1,last"
                .into(),
        ),
        ("cr line ends", "sn,model\rSN-1,m1\rSN-2,m2\r".into()),
        ("header only", "Device Serial No.,Model ID\n".into()),
        ("empty", Vec::new()),
        ("no model column", "Device Serial No.\nSN-1\n".into()),
        ("utf-16", vec![0xFF, 0xFE, b's', 0, b'n', 0]),
    ];
    for name in [
        "spreadsheet_newlines.csv",
        "semicolon.csv",
        "crlf.csv",
        "invalid_utf8.csv",
        "ragged.csv",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        files.push((name, std::fs::read(path).unwrap()));
    }
    let mut long = String::from("Device Serial No.,Model ID,note\n");
    for i in 0..3000 {
        long.push_str(&format!("SN-{i:05},m1,\"note {i}, with a comma\"\n"));
    }
    files.push(("3000 rows", long.into_bytes()));
    files
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_import_of_a_trickled_file_reports_what_the_sync_import_does() {
    let options = ImportOptions::default()
        .with_chunk_size(500)
        .with_limits(Limits::unbounded());
    for (name, bytes) in files() {
        for step in [1, 7, 4096] {
            let sync_dps = dps();
            let g = group(&sync_dps, "g", schema()).await;
            let expected = outcome(import(&sync_dps, g.id(), bytes.as_slice(), &options).await);

            let async_dps = dps();
            let g = group(&async_dps, "g", schema()).await;
            let source = Trickle::new(bytes.clone(), step);
            let waits = Arc::clone(&source.waits);
            let got = outcome(import_async(&async_dps, g.id(), source, &options).await);
            assert_eq!(got, expected, "{name}, {step} bytes at a time");
            assert!(
                waits.load(Ordering::Relaxed) > 0,
                "{name}: the source made the import wait"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn import_with_async_hands_over_the_same_outcomes_in_file_order() {
    let file = "sn,model,floor\nSN-1,m1,1\nSN-2,m1,x\nSN-3,m2,3\n";
    let options = ImportOptions::default().with_chunk_size(2);
    let sync_dps = dps();
    let g = group(&sync_dps, "g", schema()).await;
    let mut expected: Vec<RowOutcome> = Vec::new();
    let expected_summary = import_with(&sync_dps, g.id(), file.as_bytes(), &options, |o| {
        expected.push(o)
    })
    .await
    .unwrap();

    let async_dps = dps();
    let g = group(&async_dps, "g", schema()).await;
    let mut got: Vec<RowOutcome> = Vec::new();
    let summary = import_with_async(&async_dps, g.id(), Trickle::new(file, 7), &options, |o| {
        got.push(o)
    })
    .await
    .unwrap();
    assert_eq!(summary, expected_summary);
    assert_eq!(got, expected);
    assert_eq!((summary.created, summary.failed), (2, 1));
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_import_stops_at_a_limit_where_the_sync_import_does() {
    let mut file = String::from("sn,model,note\n");
    for i in 0..50 {
        file.push_str(&format!("SN-{i},m1,n\n"));
    }
    file.push_str(&format!("SN-X,m1,{}\n", "y".repeat(200)));
    let cases = [
        Limits::default().with_max_bytes(300),
        Limits::default().with_max_records(20),
        Limits::default().with_max_field_bytes(100),
    ];
    for limits in cases {
        let options = ImportOptions::default().with_limits(limits);
        let sync_dps = dps();
        let g = group(&sync_dps, "g", schema()).await;
        let expected = outcome(import(&sync_dps, g.id(), file.as_bytes(), &options).await);
        let async_dps = dps();
        let g = group(&async_dps, "g", schema()).await;
        let got = outcome(
            import_async(&async_dps, g.id(), Trickle::new(file.clone(), 7), &options).await,
        );
        assert_eq!(got, expected, "{limits:?}");
        assert!(
            matches!(&got, Err((code, _)) if code == "limit_exceeded"),
            "{got:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_import_reads_no_further_than_one_byte_past_the_size_limit() {
    let dps = dps();
    let g = group(&dps, "g", schema()).await;
    let mut file = String::from("sn,model\n");
    for i in 0..10_000 {
        file.push_str(&format!("SN-{i},m1\n"));
    }
    let source = Trickle::new(file, 4096);
    let served = Arc::clone(&source.served);
    let options = ImportOptions::default().with_limits(Limits::unbounded().with_max_bytes(1000));
    let err = import_async(&dps, g.id(), source, &options)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
    assert_eq!(served.load(Ordering::Relaxed), 1001);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_async_source_is_a_file_error() {
    let dps = dps();
    let g = group(&dps, "g", schema()).await;
    let err = import_async(&dps, g.id(), Broken, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::File(CsvError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "current_thread")]
async fn importing_into_an_unknown_group_is_not_found_in_both_forms() {
    let dps = dps();
    let file = "sn,model\nSN-1,m1\n";
    let options = ImportOptions::default();
    let sync = import(&dps, unknown_group(), file.as_bytes(), &options).await;
    let with = import_with(&dps, unknown_group(), file.as_bytes(), &options, drop).await;
    let asynchronous = import_async(&dps, unknown_group(), Trickle::new(file, 7), &options).await;
    let with_async =
        import_with_async(&dps, unknown_group(), Trickle::new(file, 7), &options, drop).await;
    for err in [
        sync.map(|_| ()).unwrap_err(),
        with.map(|_| ()).unwrap_err(),
        asynchronous.map(|_| ()).unwrap_err(),
        with_async.map(|_| ()).unwrap_err(),
    ] {
        assert!(
            matches!(&err, ImportError::Core(e) if is_group_not_found(e)),
            "{err:?}"
        );
        assert_eq!(err.code(), "not_found");
    }
}

#[test]
fn the_async_import_future_can_move_between_threads() {
    fn is_send<T: Send>(_: &T) {}
    let dps = dps();
    let options = ImportOptions::default();
    let future = import_async(&dps, unknown_group(), Trickle::new("", 1), &options);
    is_send(&future);
    let report = common::rt().block_on(future);
    assert_eq!(report.map(|_| ()).unwrap_err().code(), "not_found");
}

/// A writer that is not ready on every other poll (the first one included) and otherwise
/// takes at most `step` bytes; it records the largest piece it was offered at once.
#[derive(Default)]
struct Sip {
    bytes: Vec<u8>,
    step: usize,
    ready: bool,
    waits: u64,
    largest_offer: usize,
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
        this.largest_offer = this.largest_offer.max(buf.len());
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

/// A writer whose writes fail.
struct Refusing;

impl AsyncWrite for Refusing {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed")))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn sn(s: &str) -> SerialNumber {
    s.parse().unwrap()
}

/// A provisioner with a group of `n` devices, the first three allocated.
async fn exported_world(n: usize) -> (common::Dps, GroupId) {
    let dps = dps();
    let g = group(&dps, "g", schema()).await;
    let mut file = String::from("sn,model,Timezone,note,floor\n");
    for i in 0..n {
        file.push_str(&format!(
            "SN-{i:05},m1,-05:00,\"=note {i}; with \"\"quotes\"\"\",{i}\n"
        ));
    }
    let options = ImportOptions::default().with_limits(Limits::unbounded());
    let report = import(&dps, g.id(), file.as_bytes(), &options)
        .await
        .unwrap();
    assert_eq!(report.summary.created, n as u64);
    let first = Selection::Serials(vec![sn("SN-00000"), sn("SN-00001"), sn("SN-00002")]);
    dps.allocate(g.id(), &first).await.unwrap();
    (dps, g.id())
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_export_writes_the_bytes_of_the_sync_export_in_bounded_pieces() {
    let (dps, g) = exported_world(3000).await;
    let selections = [
        Selection::all(),
        Selection::Serials(vec![
            sn("SN-00002"),
            sn("NOPE"),
            sn("SN-00001"),
            sn("SN-00002"),
        ]),
    ];
    let options = [
        ExportOptions::default().with_page_size(700),
        ExportOptions::default()
            .with_secrets()
            .with_bootstrap_keys()
            .with_bom()
            .with_delimiter(Delimiter::Semicolon)
            .with_page_size(1),
    ];
    for selection in &selections {
        for options in &options {
            let (expected, expected_summary) = export(&dps, g, selection, Vec::new(), options)
                .await
                .unwrap();
            let (sip, summary) = export_async(&dps, g, selection, Sip::new(7), options)
                .await
                .unwrap();
            assert_eq!(summary, expected_summary);
            assert!(
                sip.bytes == expected,
                "the same bytes for {selection:?}, {options:?}"
            );
            assert!(sip.flushed, "the writer is flushed at the end");
            assert!(sip.waits > 0);
            assert!(
                sip.largest_offer <= 64 * 1024 + 1024,
                "at most 64 KiB and a row at once, not {}",
                sip.largest_offer
            );
        }
    }
    let (sip, summary) = export_async(&dps, g, &Selection::all(), Sip::new(7), &options[0])
        .await
        .unwrap();
    assert_eq!(summary.rows, 3000);
    assert!(sip.bytes.len() > 4 * 64 * 1024, "{} bytes", sip.bytes.len());
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_export_to_a_failing_writer_is_an_io_error() {
    let (dps, g) = exported_world(2).await;
    let err = export_async(
        &dps,
        g,
        &Selection::all(),
        Refusing,
        &ExportOptions::default(),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(
        matches!(&err, ExportError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe),
        "{err:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn exporting_an_unknown_group_is_not_found_in_both_forms() {
    let dps = dps();
    let options = ExportOptions::default();
    let sync = export(
        &dps,
        unknown_group(),
        &Selection::all(),
        Vec::new(),
        &options,
    )
    .await
    .map(|_| ())
    .unwrap_err();
    let sip = export_async(
        &dps,
        unknown_group(),
        &Selection::all(),
        Sip::new(7),
        &options,
    )
    .await
    .map(|(sip, _)| sip.bytes.len())
    .unwrap_err();
    for err in [sync, sip] {
        assert!(
            matches!(&err, ExportError::Core(e) if is_group_not_found(e)),
            "{err:?}"
        );
        assert_eq!(err.code(), "not_found");
    }
}

#[test]
fn the_async_export_future_can_move_between_threads() {
    fn is_send<T: Send>(_: &T) {}
    let dps = dps();
    let options = ExportOptions::default();
    let selection = Selection::all();
    let future = export_async(&dps, unknown_group(), &selection, Sip::new(7), &options);
    is_send(&future);
    let err = common::rt().block_on(future).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), "not_found");
}
