//! The writer thread: the only place the store is written. Jobs run one at a time; a job's
//! announcements go to the announcer in the order jobs run, and the caller's reply waits until
//! they are out (persist → emit signals → reply).
//!
//! Jobs wait in lanes so that no caller can make others wait behind its own backlog: the
//! daemon's own work (mode changes, tripwire latches, expiry, the watchdog's probe) and root's
//! calls go first, in the order they came; every other caller uid has a lane of its own, and
//! the lanes are served in turn, one job each. A uid that pipelines hundreds of mutations
//! delays another uid's job by at most one of its own.

use crate::app::checkpoint::Checkpoints;
use crate::core::{Event, Monotonic, Uid};
use crate::ledger::{Ledger, LedgerError};
use crate::store::AuditHead;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&mut Ledger) + Send>;

/// Why a job's value did not come back.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The ledger refused or failed the change; nothing of it was committed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The writer takes no more jobs: the daemon is stopping.
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// Announcements of one committed change, and who waits for them to be out.
#[derive(Debug)]
pub struct Announcement {
    /// The events, in order.
    pub events: Vec<Event>,
    /// Told when every signal has been sent.
    pub done: Option<oneshot::Sender<()>>,
}

/// Which queue a job waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The daemon's own work and root's calls: served before any other caller's.
    Host,
    /// One caller uid's calls, served in turn with the other uids'.
    Caller(Uid),
}

impl Lane {
    /// The lane of a caller: uid 0 shares the daemon's.
    pub fn of(uid: Uid) -> Lane {
        if uid == 0 {
            Lane::Host
        } else {
            Lane::Caller(uid)
        }
    }
}

/// The jobs waiting, by lane.
struct Lanes<J> {
    host: VecDeque<J>,
    callers: HashMap<Uid, VecDeque<J>>,
    /// Caller uids with jobs waiting, in the order they are served.
    turn: VecDeque<Uid>,
    /// No more jobs are taken; those waiting still run.
    closed: bool,
}

impl<J> Default for Lanes<J> {
    fn default() -> Self {
        Self {
            host: VecDeque::new(),
            callers: HashMap::new(),
            turn: VecDeque::new(),
            closed: false,
        }
    }
}

impl<J> Lanes<J> {
    fn push(&mut self, lane: Lane, job: J) -> bool {
        if self.closed {
            return false;
        }
        match lane {
            Lane::Host => self.host.push_back(job),
            Lane::Caller(uid) => {
                let queue = self.callers.entry(uid).or_default();
                if queue.is_empty() {
                    self.turn.push_back(uid);
                }
                queue.push_back(job);
            }
        }
        true
    }

    fn pop(&mut self) -> Option<J> {
        if let Some(job) = self.host.pop_front() {
            return Some(job);
        }
        let uid = self.turn.pop_front()?;
        let queue = self.callers.get_mut(&uid)?;
        let job = queue.pop_front();
        if queue.is_empty() {
            self.callers.remove(&uid);
        } else {
            self.turn.push_back(uid);
        }
        job
    }
}

struct Queue {
    lanes: Mutex<Lanes<Job>>,
    ready: Condvar,
}

impl Queue {
    fn push(&self, lane: Lane, job: Job) -> bool {
        let pushed = self.lanes.lock().push(lane, job);
        if pushed {
            self.ready.notify_one();
        }
        pushed
    }

    /// The next job, waiting for one; `None` once closed and drained.
    fn next(&self) -> Option<Job> {
        let mut lanes = self.lanes.lock();
        loop {
            if let Some(job) = lanes.pop() {
                return Some(job);
            }
            if lanes.closed {
                return None;
            }
            self.ready.wait(&mut lanes);
        }
    }

    fn close(&self) {
        self.lanes.lock().closed = true;
        self.ready.notify_all();
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lanes = self.lanes.lock();
        f.debug_struct("Queue")
            .field("host", &lanes.host.len())
            .field("callers", &lanes.callers.len())
            .field("closed", &lanes.closed)
            .finish()
    }
}

/// A handle to the writer thread.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: Arc<Queue>,
    announcements: mpsc::UnboundedSender<Announcement>,
    head: Arc<Mutex<AuditHead>>,
}

impl Writer {
    /// Starts the writer thread with `ledger`; announcements go to `announcements`, and every
    /// job that moves the audit log's head is shown to `checkpoints`.
    pub fn spawn(
        mut ledger: Ledger,
        announcements: mpsc::UnboundedSender<Announcement>,
        checkpoints: Checkpoints,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let queue = Arc::new(Queue {
            lanes: Mutex::new(Lanes::default()),
            ready: Condvar::new(),
        });
        let head = Arc::new(Mutex::new(ledger.store().head().clone()));
        let published = Arc::clone(&head);
        let jobs = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                // The head checkpoints last saw: `published` may be ahead of it, as a job that
                // announces publishes its head before the announcer can look.
                let mut observed = ledger.store().head().clone();
                while let Some(job) = jobs.next() {
                    job(&mut ledger);
                    let current = ledger.store().head();
                    if observed != *current {
                        observed = current.clone();
                        *published.lock() = current.clone();
                        checkpoints.observe(current, Monotonic::now());
                    }
                }
                ledger
            })?;
        let handle = WriterThread {
            thread,
            queue: Arc::clone(&queue),
        };
        Ok((
            Writer {
                queue,
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

    /// This writer, with jobs waiting in `lane`.
    pub fn lane(&self, lane: Lane) -> LaneWriter<'_> {
        LaneWriter { writer: self, lane }
    }

    /// Runs `job` on the writer thread in the host lane and returns its value; the job's events
    /// are announced before this returns.
    pub async fn mutate<R, F>(&self, job: F) -> Result<R, WriterError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ledger) -> Result<(R, Vec<Event>), LedgerError> + Send + 'static,
    {
        self.lane(Lane::Host).mutate(job).await
    }

    /// Plans a change against the registry, commits it and announces it, in the host lane.
    pub async fn run<F>(&self, plan: F) -> Result<(), WriterError>
    where
        F: FnOnce(&crate::core::Registry) -> Result<crate::core::Change, crate::core::CoreError>
            + Send
            + 'static,
    {
        self.lane(Lane::Host).run(plan).await
    }

    /// Runs a read on the writer thread, in the host lane (the watchdog's probe).
    pub async fn read<R, F>(&self, job: F) -> Result<R, WriterError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ledger) -> R + Send + 'static,
    {
        self.lane(Lane::Host).read(job).await
    }

    /// Queues a job in the host lane without waiting (the audit of refusals).
    pub fn record(&self, job: impl FnOnce(&mut Ledger) + Send + 'static) {
        let _ = self.queue.push(Lane::Host, Box::new(job));
    }
}

/// The writer, for jobs of one lane.
#[derive(Clone, Copy, Debug)]
pub struct LaneWriter<'a> {
    writer: &'a Writer,
    lane: Lane,
}

impl LaneWriter<'_> {
    /// Runs `job` on the writer thread and returns its value; the job's events are announced
    /// before this returns.
    pub async fn mutate<R, F>(&self, job: F) -> Result<R, WriterError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ledger) -> Result<(R, Vec<Event>), LedgerError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let announcements = self.writer.announcements.clone();
        let head = Arc::clone(&self.writer.head);
        let queued = self.writer.queue.push(
            self.lane,
            Box::new(move |ledger| {
                let outcome = job(ledger).map(|(value, events)| {
                    // The announcer reads the head to announce HeadSeq: it must already be this
                    // job's, or the change would look like none.
                    *head.lock() = ledger.store().head().clone();
                    let (done, emitted) = oneshot::channel();
                    let sent = announcements.send(Announcement {
                        events,
                        done: Some(done),
                    });
                    (value, sent.ok().map(|()| emitted))
                });
                let _ = reply.send(outcome);
            }),
        );
        if !queued {
            return Err(WriterError::ShuttingDown);
        }
        let (value, emitted) = answer.await.map_err(|_| WriterError::ShuttingDown)??;
        if let Some(emitted) = emitted {
            let _ = emitted.await;
        }
        Ok(value)
    }

    /// Plans a change against the registry, commits it and announces it: the usual mutation.
    pub async fn run<F>(&self, plan: F) -> Result<(), WriterError>
    where
        F: FnOnce(&crate::core::Registry) -> Result<crate::core::Change, crate::core::CoreError>
            + Send
            + 'static,
    {
        self.mutate(move |ledger| ledger.run(plan).map(|events| ((), events)))
            .await
    }

    /// Runs a read on the writer thread.
    pub async fn read<R, F>(&self, job: F) -> Result<R, WriterError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ledger) -> R + Send + 'static,
    {
        self.mutate(move |ledger| Ok((job(ledger), Vec::new())))
            .await
    }
}

/// The writer thread itself, for a clean stop.
#[derive(Debug)]
pub struct WriterThread {
    thread: std::thread::JoinHandle<Ledger>,
    queue: Arc<Queue>,
}

impl WriterThread {
    /// Takes no more jobs, lets every job already queued finish, stops the thread and returns
    /// the ledger (whose store closes when it is dropped). Jobs sent afterwards are answered
    /// "shutting down". Blocking.
    pub fn finish(self) -> Option<Ledger> {
        self.queue.close();
        self.thread.join().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(lanes: &mut Lanes<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| lanes.pop()).collect()
    }

    #[test]
    fn host_jobs_go_first_and_caller_lanes_take_turns() {
        let mut lanes = Lanes::default();
        for job in ["s1", "s2", "s3"] {
            lanes.push(Lane::Caller(65534), job);
        }
        lanes.push(Lane::Caller(1000), "o1");
        lanes.push(Lane::Host, "lockdown");
        lanes.push(Lane::Caller(1000), "o2");
        lanes.push(Lane::Host, "mode");
        assert_eq!(
            order(&mut lanes),
            ["lockdown", "mode", "s1", "o1", "s2", "o2", "s3"]
        );
        // A lane that emptied joins the turn again at the back.
        lanes.push(Lane::Caller(1000), "o3");
        lanes.push(Lane::Caller(65534), "s4");
        lanes.push(Lane::Caller(1000), "o4");
        assert_eq!(order(&mut lanes), ["o3", "s4", "o4"]);
        assert_eq!(Lane::of(0), Lane::Host);
        assert_eq!(Lane::of(1000), Lane::Caller(1000));
    }

    #[test]
    fn a_closed_queue_refuses_new_jobs_and_drains_the_waiting_ones() {
        let mut lanes = Lanes::default();
        assert!(lanes.push(Lane::Caller(7), "a"));
        lanes.closed = true;
        assert!(!lanes.push(Lane::Host, "b"));
        assert_eq!(order(&mut lanes), ["a"]);
    }
}
