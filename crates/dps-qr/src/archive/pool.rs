//! The rendering pool: threads that take labels from one queue and send images back on
//! another.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use dps_core::{DeviceId, SerialNumber};

use super::ImageFormat;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::render::RenderOptions;

/// A label on its way through the pool.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) payload: Payload,
    pub(super) device_id: Option<DeviceId>,
}

impl Job {
    pub(super) fn run(self, options: &RenderOptions, format: ImageFormat) -> Done {
        let image = format.render(&self.payload, options);
        Done {
            seq: self.seq,
            label: Label::Rendered {
                payload: self.payload,
                device_id: self.device_id,
                image,
            },
        }
    }
}

#[derive(Debug)]
pub(super) struct Done {
    pub(super) seq: u64,
    pub(super) label: Label,
}

#[derive(Debug)]
pub(super) enum Label {
    Rendered {
        payload: Payload,
        device_id: Option<DeviceId>,
        image: Result<Vec<u8>>,
    },
    Failed {
        serial: SerialNumber,
        device_id: Option<DeviceId>,
        error: Error,
    },
}

/// The task that waits for a finished label, if one does: a worker wakes it after every label
/// it sends back, and when it stops.
#[derive(Debug, Default)]
pub(super) struct WakeSlot(Mutex<Option<Waker>>);

impl WakeSlot {
    fn register(&self, waker: &Waker) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn wake(&self) {
        let waker = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Wakes the waiting task when a worker stops, after its sender is gone.
struct WakeOnExit(Arc<WakeSlot>);

impl Drop for WakeOnExit {
    fn drop(&mut self) {
        self.0.wake();
    }
}

/// Rendering threads: they take jobs from one queue and send results back on another.
#[derive(Debug)]
pub(super) struct Pool {
    pub(super) jobs: Option<Sender<Job>>,
    /// The queue the workers take from; the archive's thread takes from it too while it
    /// would otherwise wait.
    pub(super) queue: Arc<Mutex<Receiver<Job>>>,
    pub(super) done: Receiver<Done>,
    pub(super) workers: Vec<JoinHandle<()>>,
    /// The task waiting in [`Pool::poll_receive`].
    waiting: Arc<WakeSlot>,
}

impl Pool {
    /// Starts up to `threads` workers; `None` when not even one could be started.
    pub(super) fn start(
        threads: usize,
        options: &Arc<RenderOptions>,
        format: ImageFormat,
    ) -> Option<Self> {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let waiting = Arc::new(WakeSlot::default());
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let jobs = Arc::clone(&job_rx);
            let done = done_tx.clone();
            let options = Arc::clone(options);
            let wake = WakeOnExit(Arc::clone(&waiting));
            let spawned = std::thread::Builder::new()
                .name(format!("dps-qr-render-{i}"))
                .spawn(move || {
                    // Dropped after `done`, so that the woken task sees the sender gone.
                    let wake = wake;
                    work(&jobs, done, &options, format, &wake.0);
                });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(_) => break,
            }
        }
        if workers.is_empty() {
            return None;
        }
        Some(Self {
            jobs: Some(job_tx),
            queue: job_rx,
            done: done_rx,
            workers,
            waiting,
        })
    }

    pub(super) fn send(&self, job: Job) -> std::result::Result<(), Job> {
        match &self.jobs {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    pub(super) fn receive(&self) -> Option<Done> {
        self.done.recv().ok()
    }

    /// A queued job, unless the queue is empty or busy. A worker waiting for a job holds the
    /// queue's lock, which means the queue is empty: never wait for the lock here.
    pub(super) fn try_take(&self) -> Option<Job> {
        self.queue.try_lock().ok()?.try_recv().ok()
    }

    pub(super) fn try_receive(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// A finished label, or `Ready(None)` when every worker has stopped; never blocks: when
    /// none is finished yet, the task is woken once one is.
    pub(super) fn poll_receive(&self, cx: &mut Context<'_>) -> Poll<Option<Done>> {
        let ready = |r: Result<Done, TryRecvError>| match r {
            Ok(done) => Some(Poll::Ready(Some(done))),
            Err(TryRecvError::Disconnected) => Some(Poll::Ready(None)),
            Err(TryRecvError::Empty) => None,
        };
        if let Some(poll) = ready(self.done.try_recv()) {
            return poll;
        }
        // Registered before looking again, so that a label sent in between wakes the task.
        self.waiting.register(cx.waker());
        ready(self.done.try_recv()).unwrap_or(Poll::Pending)
    }

    pub(super) fn stop(mut self) {
        self.shut_down();
    }

    pub(super) fn shut_down(&mut self) {
        // Labels still queued are no longer wanted (an archive finishes with none queued):
        // take them, so that the workers stop after the label each is rendering.
        while self.try_take().is_some() {}
        // Closing the queue ends every worker once it is empty.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shut_down();
    }
}

pub(super) fn work(
    jobs: &Mutex<Receiver<Job>>,
    done: Sender<Done>,
    options: &RenderOptions,
    format: ImageFormat,
    waiting: &WakeSlot,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        if done.send(job.run(options, format)).is_err() {
            return;
        }
        waiting.wake();
    }
}
