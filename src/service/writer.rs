//! The writer thread: the only place the store is written. Jobs run one at a time, in the
//! order they arrive; a job's announcements go to the announcer in the same order, and the
//! caller's reply waits until they are out (persist → emit signals → reply).

use crate::bus::error::BusError;
use crate::core::Event;
use crate::ledger::{Ledger, LedgerError};
use crate::store::AuditHead;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&mut Ledger) + Send>;

/// Announcements of one committed change, and who waits for them to be out.
#[derive(Debug)]
pub struct Announcement {
    /// The events, in order.
    pub events: Vec<Event>,
    /// Told when every signal has been sent.
    pub done: Option<oneshot::Sender<()>>,
}

/// A handle to the writer thread.
#[derive(Clone, Debug)]
pub struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    announcements: mpsc::UnboundedSender<Announcement>,
    head: Arc<Mutex<AuditHead>>,
}

impl Writer {
    /// Starts the writer thread with `ledger`; announcements go to `announcements`.
    pub fn spawn(
        mut ledger: Ledger,
        announcements: mpsc::UnboundedSender<Announcement>,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let head = Arc::new(Mutex::new(ledger.store().head().clone()));
        let published = Arc::clone(&head);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    job(&mut ledger);
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let current = ledger.store().head();
                    if *published.lock() != *current {
                        *published.lock() = current.clone();
                    }
                }
                ledger
            })?;
        let handle = WriterThread {
            thread,
            stop,
            jobs: jobs.clone(),
        };
        Ok((
            Writer {
                jobs,
                announcements,
                head,
            },
            handle,
        ))
    }

    /// The audit log's head as of the last job.
    pub fn head(&self) -> AuditHead {
        self.head.lock().clone()
    }

    /// Runs `job` on the writer thread and returns its value; the job's events are announced
    /// before this returns.
    pub async fn mutate<R, F>(&self, job: F) -> Result<R, BusError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ledger) -> Result<(R, Vec<Event>), LedgerError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let announcements = self.announcements.clone();
        self.jobs
            .send(Box::new(move |ledger| {
                let outcome = job(ledger).map(|(value, events)| {
                    let (done, emitted) = oneshot::channel();
                    let sent = announcements.send(Announcement {
                        events,
                        done: Some(done),
                    });
                    (value, sent.ok().map(|()| emitted))
                });
                let _ = reply.send(outcome);
            }))
            .map_err(|_| BusError::unavailable("the daemon is shutting down"))?;
        let (value, emitted) = answer
            .await
            .map_err(|_| BusError::unavailable("the daemon is shutting down"))??;
        if let Some(emitted) = emitted {
            let _ = emitted.await;
        }
        Ok(value)
    }

    /// Plans a change against the registry, commits it and announces it: the usual mutation.
    pub async fn run<F>(&self, plan: F) -> Result<(), BusError>
    where
        F: FnOnce(&crate::core::Registry) -> Result<crate::core::Change, crate::core::CoreError>
            + Send
            + 'static,
    {
        self.mutate(move |ledger| ledger.run(plan).map(|events| ((), events)))
            .await
    }

    /// Runs a read on the writer thread (the store's connection lives there).
    pub async fn read<R, F>(&self, job: F) -> Result<R, BusError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ledger) -> R + Send + 'static,
    {
        self.mutate(move |ledger| Ok((job(ledger), Vec::new())))
            .await
    }

    /// Queues audit records without waiting (denied checks).
    pub fn record(&self, job: impl FnOnce(&mut Ledger) + Send + 'static) {
        let _ = self.jobs.send(Box::new(job));
    }
}

/// The writer thread itself, for a clean stop.
#[derive(Debug)]
pub struct WriterThread {
    thread: std::thread::JoinHandle<Ledger>,
    stop: Arc<AtomicBool>,
    jobs: mpsc::UnboundedSender<Job>,
}

impl WriterThread {
    /// Lets the jobs already queued finish, stops the thread and returns the ledger (whose
    /// store closes when it is dropped). Jobs sent afterwards are answered "shutting down".
    /// Blocking.
    pub fn finish(self) -> Option<Ledger> {
        // The stop is itself a job, so every job queued before it runs first.
        let stop = Arc::clone(&self.stop);
        let _ = self
            .jobs
            .send(Box::new(move |_| stop.store(true, Ordering::SeqCst)));
        self.thread.join().ok()
    }
}
