//! Fault injection: scripted outcomes for the next requests, set while the platform runs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// How long a [`Fault::Hang`] holds a request when nobody calls [`Faults::release`].
pub const HANG_LIMIT: Duration = Duration::from_secs(3600);

/// One scripted outcome for one webhook request (`POST /`).
///
/// Faults apply to webhook requests in the order they were queued, one each, whatever the
/// request; `GET /_platform/state` never takes one. A fault that answers by itself (the first
/// four) neither checks the signature nor applies anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status (such as 500 or 503) with `{"reason": "injected fault"}`; a number
    /// that is not an HTTP status answers 500.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after: u64,
    },
    /// Answer this status (such as 409) with `{"reason": <reason>}`; a number that is not an
    /// HTTP status answers 400.
    Reject {
        /// The status, normally a 4xx.
        status: u16,
        /// The answer's `reason`.
        reason: String,
    },
    /// Hold the request without applying it until [`Faults::release`] (or [`HANG_LIMIT`]), so
    /// the client's timeout fires; then answer 503.
    Hang,
    /// Handle the request as usual (verify, apply, persist), then close the connection without
    /// sending a byte of the answer: the client sees a connection error. A repeat of the same
    /// `Idempotency-Key` gets the answer that was lost.
    ApplyThenDrop,
    /// Handle the request as usual (verify, apply, persist), then answer 200 with a body that is
    /// not the answer (`{"asset_id": 5`). A repeat of the same key gets the real first answer.
    Malformed,
}

/// The handle that scripts faults on a running [`Platform`](crate::Platform).
///
/// Clones share one queue; take it with [`Platform::faults`](crate::Platform::faults).
///
/// ```
/// use webhook_platform::{Fault, Platform, PlatformConfig};
///
/// let platform = Platform::new(PlatformConfig::new("s3cret"))?;
/// let faults = platform.faults();
/// faults.push_times(Fault::Status(503), 2); // the next two requests answer 503
/// faults.push(Fault::ApplyThenDrop); // the third is applied, and its answer lost
/// assert_eq!(faults.queued(), 3);
/// # Ok::<(), webhook_platform::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Faults {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<VecDeque<Fault>>,
    down: AtomicBool,
    hanging: AtomicUsize,
    release: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                down: AtomicBool::new(false),
                hanging: AtomicUsize::new(0),
                release: watch::Sender::new(0),
            }),
        }
    }
}

impl Faults {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Fault>> {
        // A panic elsewhere cannot leave a queue of values half-changed.
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `fault` for the next webhook request that has none queued before it.
    pub fn push(&self, fault: Fault) {
        self.queue().push_back(fault);
    }

    /// Queues `fault` for each of the next `times` requests.
    pub fn push_times(&self, fault: Fault, times: usize) {
        let mut queue = self.queue();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// How many queued faults no request has taken yet.
    pub fn queued(&self) -> usize {
        self.queue().len()
    }

    /// While `down` is true every webhook request answers 503 `{"reason": "platform is down"}`
    /// and the queue is left as it is.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Whether the platform is down (see [`Faults::set_down`]).
    pub fn is_down(&self) -> bool {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// How many requests a [`Fault::Hang`] holds right now.
    pub fn hanging(&self) -> usize {
        self.shared.hanging.load(Ordering::SeqCst)
    }

    /// Lets every request that a [`Fault::Hang`] holds answer (503).
    pub fn release(&self) {
        self.shared
            .release
            .send_modify(|generation| *generation += 1);
    }

    /// Empties the queue, brings the platform up and releases held requests.
    pub fn clear(&self) {
        self.queue().clear();
        self.set_down(false);
        self.release();
    }

    /// The fault for the request that arrives now, if any.
    pub(crate) fn take(&self) -> Option<Fault> {
        self.queue().pop_front()
    }

    /// Waits until [`Faults::release`] or [`HANG_LIMIT`].
    pub(crate) async fn hang(&self) {
        let mut released = self.shared.release.subscribe();
        released.mark_unchanged();
        let _held = Held::new(&self.shared.hanging);
        // Either way the request ends; a closed channel cannot happen while `self` holds the sender.
        let _ = tokio::time::timeout(HANG_LIMIT, released.changed()).await;
    }
}

/// Counts a held request for as long as it lives, also when its connection closes first.
struct Held<'a>(&'a AtomicUsize);

impl<'a> Held<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
