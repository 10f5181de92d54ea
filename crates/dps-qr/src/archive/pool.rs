//! The rendering pool: threads that take labels from one queue and send images back on
//! another.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
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
        // The encoder is not ours: a panic in it fails this label, not the export.
        let image = catch_unwind(AssertUnwindSafe(|| format.render(&self.payload, options)))
            .unwrap_or_else(|_| {
                Err(Error::Render {
                    message: "the QR encoder failed on this payload".to_owned(),
                })
            });
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

/// Rendering threads: they take jobs from one queue and send results back on another.
#[derive(Debug)]
pub(super) struct Pool {
    pub(super) jobs: Option<Sender<Job>>,
    /// The queue the workers take from; the archive's thread takes from it too while it
    /// would otherwise wait.
    pub(super) queue: Arc<Mutex<Receiver<Job>>>,
    pub(super) done: Receiver<Done>,
    pub(super) workers: Vec<JoinHandle<()>>,
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
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let jobs = Arc::clone(&job_rx);
            let done = done_tx.clone();
            let options = Arc::clone(options);
            let spawned = std::thread::Builder::new()
                .name(format!("dps-qr-render-{i}"))
                .spawn(move || work(&jobs, &done, &options, format));
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

    pub(super) fn stop(mut self) {
        self.shut_down();
    }

    pub(super) fn shut_down(&mut self) {
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
    done: &Sender<Done>,
    options: &RenderOptions,
    format: ImageFormat,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        if done.send(job.run(options, format)).is_err() {
            return;
        }
    }
}
