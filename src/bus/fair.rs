//! Fair dispatch of method calls: one connection's pipelined calls never hold up another's.
//!
//! zbus reads the serving connection's method calls in arrival order and hands each to its
//! interface before it reads the next, so a connection that pipelines hundreds of calls puts
//! every other caller behind all of them. Every interface the daemon serves is wrapped in
//! [`Fair`]: handing a call over only queues it on its sender connection's lane, which costs
//! microseconds, so the reader never waits. Each lane runs at most a few calls at once, in
//! tasks that yield between calls; a connection with nothing queued starts at once. Behind its
//! running calls a lane holds a queue bounded in calls and in bytes, and all queues together
//! are bounded in bytes (the bus lets a message be 32 MiB, and calls sent without waiting for
//! a reply are not bounded by the bus at all); past a bound the call is refused with
//! `LimitReached`, counted in the aggregated audit like any refusal. The bounds are in
//! `[limits]` (`calls_running_per_connection`, `calls_waiting_per_connection`,
//! `calls_waiting_bytes_per_connection`, `calls_waiting_bytes_per_uid`,
//! `calls_waiting_bytes_total`).
//!
//! A call whose message is large (a `CheckBatch`) runs on the bulk thread rather than the
//! serving one (`BULK_CALL_BYTES`); its lane counts it as running all the same.
//!
//! Lanes are per connection, not per uid: a caller's uid is known only after a bus round trip,
//! and the bus bounds how many connections one uid may have (`max_connections_per_user`).

use super::Daemon;
use super::error::BusError;
use crate::core::Uid;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use zbus::message::Header;
use zbus::names::{InterfaceName, MemberName, OwnedMemberName};
use zbus::object_server::{DispatchResult, Interface, ObjectServer, SignalEmitter};
use zbus::{BoxDBusError, OwnedVariant, Variant};

/// One call's handling, from the handler to its reply.
pub type Call = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A call waiting its turn, with what it holds.
struct Waiting {
    uid: Option<Uid>,
    bytes: usize,
    call: Call,
}

/// A connection's calls: how many run, and those that wait their turn.
#[derive(Default)]
struct Lane {
    running: usize,
    waiting: VecDeque<Waiting>,
    waiting_bytes: usize,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("running", &self.running)
            .field("waiting", &self.waiting.len())
            .field("waiting_bytes", &self.waiting_bytes)
            .finish()
    }
}

/// The bounds of the lanes (`[limits]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Calls of one connection running at once (at least 1).
    pub running: usize,
    /// Calls of one connection waiting behind them.
    pub waiting: usize,
    /// Bytes of message the waiting calls of one connection may hold.
    pub waiting_bytes: usize,
    /// Bytes of message the waiting calls of one uid, over all its connections, may hold.
    pub waiting_bytes_per_uid: usize,
    /// Bytes of message the waiting calls of all connections together may hold.
    pub waiting_bytes_total: usize,
    /// Calls of one uid started per second (0: no pace; root is never paced).
    pub per_second: u32,
}

/// Why a call was not taken: its lane, or all lanes together, hold as much as they may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaneFull {
    /// The connection has as many calls waiting as it may.
    #[error(
        "{waiting} calls from this connection already wait behind its running ones \
         (limits.calls_waiting_per_connection); wait for their replies"
    )]
    Calls {
        /// How many were waiting.
        waiting: usize,
    },
    /// The connection's waiting calls hold as many bytes as they may.
    #[error(
        "the calls waiting from this connection already hold {bytes} bytes \
         (limits.calls_waiting_bytes_per_connection); wait for their replies"
    )]
    Bytes {
        /// How many bytes they held.
        bytes: usize,
    },
    /// The waiting calls of the caller's uid, over all its connections, hold as many bytes as
    /// they may.
    #[error(
        "the calls waiting from this user's connections already hold {bytes} bytes \
         (limits.calls_waiting_bytes_per_uid); wait for their replies"
    )]
    UidBytes {
        /// How many bytes they held.
        bytes: usize,
    },
    /// All connections' waiting calls together hold as many bytes as they may.
    #[error(
        "the daemon's queues already hold {bytes} bytes of waiting calls \
         (limits.calls_waiting_bytes_total); try again later"
    )]
    AllBytes {
        /// How many bytes they held.
        bytes: usize,
    },
}

/// Every lane, and what their waiting calls hold together, under one lock.
#[derive(Debug)]
struct Lanes {
    by_connection: HashMap<String, Lane>,
    /// Bytes the waiting calls of each uid hold (calls whose uid is known).
    waiting_bytes_by_uid: HashMap<Uid, usize>,
    waiting_bytes: usize,
    bounds: Bounds,
}

impl Lanes {
    /// Takes the next waiting call of `connection` off its lane.
    fn pop(&mut self, connection: &str) -> Option<Waiting> {
        let lane = self.by_connection.get_mut(connection)?;
        let next = lane.waiting.pop_front()?;
        lane.waiting_bytes -= next.bytes;
        self.waiting_bytes -= next.bytes;
        if let Some(uid) = next.uid
            && let Some(held) = self.waiting_bytes_by_uid.get_mut(&uid)
        {
            *held -= next.bytes;
            if *held == 0 {
                self.waiting_bytes_by_uid.remove(&uid);
            }
        }
        Some(next)
    }

    /// Counts one runner of `connection` out, forgetting the lane once it is idle.
    fn count_out(&mut self, connection: &str) {
        if let Some(lane) = self.by_connection.get_mut(connection) {
            lane.running = lane.running.saturating_sub(1);
            if lane.running == 0 && lane.waiting.is_empty() {
                self.by_connection.remove(connection);
            }
        }
    }
}

/// The per-connection lanes of method calls, and the pace each uid's calls start at.
#[derive(Debug)]
pub struct FairDispatcher {
    lanes: Mutex<Lanes>,
    pace: Pacer,
}

/// How fast one uid's calls may start, over all its connections: a generic cell rate
/// (GCRA) with a burst of one second's worth. A call past the pace is not refused: it starts
/// later, in its own lane, so the waiting stays with the caller that caused it.
///
/// Why a pace at all: the bus daemon is one thread that every local caller shares. A client
/// that keeps hundreds of calls in flight to a service that answers as fast as it can keeps
/// that thread busy, and every other caller's messages queue behind its traffic there, where
/// no lane of ours can reach. Pacing one uid's calls bounds its share of the bus daemon's
/// time that passes through this service.
#[derive(Debug)]
struct Pacer {
    /// Calls per second per uid; 0: no pace.
    per_second: std::sync::atomic::AtomicU32,
    /// Per uid, the theoretical arrival time of its next call.
    next: Mutex<HashMap<Uid, Instant>>,
}

/// Past this many uids, those whose pace has caught up are forgotten.
const PACED_UIDS_KEPT: usize = 4096;

impl Pacer {
    /// How long a call of `uid` arriving at `now` must wait before it starts.
    fn reserve(&self, uid: Uid, now: Instant) -> Duration {
        let per_second = self.per_second.load(Ordering::Relaxed);
        if per_second == 0 || uid == 0 {
            return Duration::ZERO;
        }
        let interval = Duration::from_secs(1) / per_second;
        let burst = Duration::from_secs(1);
        let mut next = self.next.lock();
        if next.len() >= PACED_UIDS_KEPT {
            next.retain(|_, at| *at > now);
        }
        let theoretical = next.get(&uid).copied().map_or(now, |at| at.max(now));
        next.insert(uid, theoretical + interval);
        // A call may run up to a burst ahead of its theoretical time.
        theoretical.saturating_duration_since(now + burst)
    }
}

impl FairDispatcher {
    /// Lanes within `bounds`.
    pub fn new(bounds: Bounds) -> Arc<Self> {
        let dispatcher = Self {
            lanes: Mutex::new(Lanes {
                by_connection: HashMap::new(),
                waiting_bytes_by_uid: HashMap::new(),
                waiting_bytes: 0,
                bounds,
            }),
            pace: Pacer {
                per_second: std::sync::atomic::AtomicU32::new(0),
                next: Mutex::new(HashMap::new()),
            },
        };
        dispatcher.set_bounds(bounds);
        Arc::new(dispatcher)
    }

    /// Takes new bounds (after a reload); calls already taken keep their place.
    pub fn set_bounds(&self, bounds: Bounds) {
        self.lanes.lock().bounds = Bounds {
            running: bounds.running.max(1),
            ..bounds
        };
        self.pace
            .per_second
            .store(bounds.per_second, Ordering::Relaxed);
    }

    /// Takes `call`, whose message is `bytes` long, from the connection named `connection`,
    /// whose uid is `uid` when known: starts it when the lane has room to run it, queues it
    /// when the lane and all lanes together have room to hold it, refuses it otherwise.
    /// Never waits.
    pub fn submit(
        self: &Arc<Self>,
        connection: &str,
        uid: Option<Uid>,
        bytes: usize,
        call: Call,
    ) -> Result<(), LaneFull> {
        let mut lanes = self.lanes.lock();
        let bounds = lanes.bounds;
        let all_waiting_bytes = lanes.waiting_bytes;
        let uid_waiting_bytes = uid.map_or(0, |uid| {
            lanes.waiting_bytes_by_uid.get(&uid).copied().unwrap_or(0)
        });
        let lane = match lanes.by_connection.get_mut(connection) {
            Some(lane) => lane,
            None => lanes
                .by_connection
                .entry(connection.to_owned())
                .or_default(),
        };
        if lane.running < bounds.running {
            lane.running += 1;
            drop(lanes);
            self.start(connection.to_owned(), uid, call);
            return Ok(());
        }
        if lane.waiting.len() >= bounds.waiting {
            return Err(LaneFull::Calls {
                waiting: lane.waiting.len(),
            });
        }
        if lane.waiting_bytes + bytes > bounds.waiting_bytes {
            return Err(LaneFull::Bytes {
                bytes: lane.waiting_bytes,
            });
        }
        if uid.is_some() && uid_waiting_bytes + bytes > bounds.waiting_bytes_per_uid {
            return Err(LaneFull::UidBytes {
                bytes: uid_waiting_bytes,
            });
        }
        if all_waiting_bytes + bytes > bounds.waiting_bytes_total {
            return Err(LaneFull::AllBytes {
                bytes: all_waiting_bytes,
            });
        }
        lane.waiting.push_back(Waiting { uid, bytes, call });
        lane.waiting_bytes += bytes;
        lanes.waiting_bytes += bytes;
        if let Some(uid) = uid {
            *lanes.waiting_bytes_by_uid.entry(uid).or_default() += bytes;
        }
        Ok(())
    }

    /// Starts a runner of `connection`'s lane (already counted) with `call`.
    fn start(self: &Arc<Self>, connection: String, uid: Option<Uid>, call: Call) {
        let worker = LaneWorker {
            dispatcher: Arc::clone(self),
            connection,
            counted_out: false,
        };
        tokio::spawn(worker.run(uid, call));
    }

    /// The next call of `connection`'s lane, or `None` after counting one runner less.
    fn next(&self, connection: &str) -> Option<Waiting> {
        let mut lanes = self.lanes.lock();
        let next = lanes.pop(connection);
        if next.is_none() {
            lanes.count_out(connection);
        }
        next
    }

    /// Calls running and waiting, and the bytes the waiting ones hold, over all lanes.
    pub fn load(&self) -> (usize, usize, usize) {
        let lanes = self.lanes.lock();
        let (running, waiting) = lanes
            .by_connection
            .values()
            .fold((0, 0), |(running, waiting), lane| {
                (running + lane.running, waiting + lane.waiting.len())
            });
        (running, waiting, lanes.waiting_bytes)
    }
}

/// Runs one connection's calls, one after another, yielding between them so that every other
/// runnable task (another connection's call among them) goes first.
struct LaneWorker {
    dispatcher: Arc<FairDispatcher>,
    connection: String,
    /// `next` counted this runner out already.
    counted_out: bool,
}

impl LaneWorker {
    async fn run(mut self, mut uid: Option<Uid>, mut call: Call) {
        loop {
            if let Some(uid) = uid {
                let wait = self.dispatcher.pace.reserve(uid, Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            call.await;
            tokio::task::yield_now().await;
            match self.dispatcher.next(&self.connection) {
                Some(next) => (uid, call) = (next.uid, next.call),
                None => {
                    self.counted_out = true;
                    return;
                }
            }
        }
    }
}

impl Drop for LaneWorker {
    /// A call that panicked (debug builds; release aborts) still gives its place back, and the
    /// calls waiting behind it get a runner.
    fn drop(&mut self) {
        if self.counted_out {
            return;
        }
        if let Some(next) = self.dispatcher.next(&self.connection) {
            let connection = std::mem::take(&mut self.connection);
            self.dispatcher.start(connection, next.uid, next.call);
        }
    }
}

/// An interface served through the daemon's [`FairDispatcher`]: everything but method calls
/// (properties, introspection) is the inner interface's own.
#[derive(Debug)]
pub struct Fair<I> {
    inner: I,
    daemon: Arc<Daemon>,
}

impl<I> Fair<I> {
    /// Serves `inner` through `daemon`'s dispatcher.
    pub fn new(inner: I, daemon: Arc<Daemon>) -> Self {
        Self { inner, daemon }
    }

    /// The interface itself (to emit its signals and property changes).
    pub fn inner(&self) -> &I {
        &self.inner
    }
}

/// Calls whose message is at least this long (a `CheckBatch` of a few hundred requests) are
/// decoded, judged and answered on the bulk thread, so that the thread serving every other
/// caller never spends a batch's decoding (about a millisecond for 1,000 requests): a second
/// client's call is answered meanwhile. The lane still runs the connection's calls in turn.
const BULK_CALL_BYTES: usize = 16 * 1024;

/// The bulk thread's runtime, started on first use; `None` (calls stay on the serving thread)
/// if the thread could not be made.
fn bulk_runtime() -> Option<tokio::runtime::Handle> {
    static BULK: std::sync::OnceLock<Option<tokio::runtime::Handle>> = std::sync::OnceLock::new();
    BULK.get_or_init(|| {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::warn!(error = %err, "no bulk thread; large calls are served on the serving thread");
                return None;
            }
        };
        let handle = runtime.handle().clone();
        let started = std::thread::Builder::new()
            .name("lc-bulk".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()));
        match started {
            Ok(_) => Some(handle),
            Err(err) => {
                tracing::warn!(error = %err, "no bulk thread; large calls are served on the serving thread");
                None
            }
        }
    })
    .clone()
}

/// Runs one call of `iface` to its end: the handler replies itself; an error it returns is
/// replied here, as zbus's own dispatcher would.
async fn handle<I: Interface>(
    iface: I,
    connection: zbus::Connection,
    msg: zbus::Message,
    member: OwnedMemberName,
) {
    let server = connection.object_server();
    let outcome = match iface.call(server, &connection, &msg, member.as_ref()) {
        DispatchResult::Async(handler) => handler.await,
        DispatchResult::NotFound | DispatchResult::RequiresMut => {
            Err(zbus::fdo::Error::UnknownMethod(format!("Unknown method '{member}'")).into())
        }
    };
    if let Err(err) = outcome {
        send_error(&connection, &msg.header(), err).await;
    }
}

/// Whether the caller of the call with `header` waits for a reply.
fn wants_reply(header: &Header<'_>) -> bool {
    !header
        .primary()
        .flags()
        .contains(zbus::message::Flags::NO_REPLY_EXPECTED)
}

/// Replies `err` unless the caller asked for no reply.
async fn send_error(connection: &zbus::Connection, header: &Header<'_>, err: BoxDBusError) {
    if !wants_reply(header) {
        return;
    }
    if let Err(err) = connection.reply_dbus_error(header, err).await {
        tracing::debug!(error = %err, "an error reply could not be sent, ignoring");
    }
}

#[async_trait]
impl<I> Interface for Fair<I>
where
    I: Interface + Clone,
{
    fn name() -> InterfaceName<'static> {
        I::name()
    }

    fn spawn_tasks_for_methods(&self) -> bool {
        // Taking a call only queues it; the lanes run it.
        false
    }

    async fn get(
        &self,
        property_name: &str,
        server: &ObjectServer,
        connection: &zbus::Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<Result<OwnedVariant, BoxDBusError>> {
        self.inner
            .get(property_name, server, connection, header, emitter)
            .await
    }

    async fn get_all(
        &self,
        server: &ObjectServer,
        connection: &zbus::Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> zbus::fdo::Result<HashMap<String, OwnedVariant>> {
        self.inner
            .get_all(server, connection, header, emitter)
            .await
    }

    async fn set_mut(
        &mut self,
        property_name: &str,
        value: &Variant<'_>,
        server: &ObjectServer,
        connection: &zbus::Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<Result<(), BoxDBusError>> {
        self.inner
            .set_mut(property_name, value, server, connection, header, emitter)
            .await
    }

    fn call<'call>(
        &'call self,
        _server: &'call ObjectServer,
        connection: &'call zbus::Connection,
        msg: &'call zbus::Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        let header = msg.header();
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let bytes = msg.data().len();
        let work = handle(
            self.inner.clone(),
            connection.clone(),
            msg.clone(),
            name.to_owned().into(),
        );
        let call: Call = match (bytes >= BULK_CALL_BYTES).then(bulk_runtime).flatten() {
            // The lane still counts the call as running until the bulk thread is done with it.
            Some(bulk) => {
                let task = bulk.spawn(work);
                Box::pin(async move {
                    if let Err(err) = task.await
                        && err.is_panic()
                    {
                        std::panic::resume_unwind(err.into_panic());
                    }
                })
            }
            None => Box::pin(work),
        };
        let uid = self.daemon.identities.cached(&sender).map(|who| who.uid);
        let taken = self.daemon.calls.submit(&sender, uid, bytes, call);
        DispatchResult::Async(Box::pin(async move {
            match taken {
                Ok(()) => Ok(()),
                Err(full) => {
                    let refusal = BusError::limit_reached(full.to_string());
                    let refusal = self.daemon.refused_sender(&sender, &header, refusal);
                    // zbus replies an error it is handed even to a call that asked for no
                    // reply; a flood of those must not cost a reply each.
                    if wants_reply(&header) {
                        Err(Box::new(refusal) as BoxDBusError)
                    } else {
                        Ok(())
                    }
                }
            }
        }))
    }

    fn call_mut<'call>(
        &'call mut self,
        server: &'call ObjectServer,
        connection: &'call zbus::Connection,
        msg: &'call zbus::Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        // `call` never asks for `&mut`; should zbus ask anyway, it is the same call.
        Interface::call(&*self, server, connection, msg, name)
    }

    fn introspect_to_writer(&self, writer: &mut dyn std::fmt::Write, level: usize) {
        self.inner.introspect_to_writer(writer, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use tokio::sync::oneshot;

    /// A call that ends when told to, and says when it started.
    fn held_call() -> (Call, oneshot::Sender<()>, Arc<AtomicBool>) {
        let (release, released) = oneshot::channel();
        let started = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&started);
        let call = Box::pin(async move {
            flag.store(true, Ordering::SeqCst);
            let _ = released.await;
        });
        (call, release, started)
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_lane_runs_its_bound_at_once_queues_the_rest_and_refuses_past_the_queue() {
        let dispatcher = FairDispatcher::new(Bounds {
            running: 2,
            waiting: 1,
            waiting_bytes: 1 << 20,
            waiting_bytes_per_uid: 1 << 20,
            waiting_bytes_total: 1 << 20,
            per_second: 0,
        });
        let calls: Vec<_> = (0..3).map(|_| held_call()).collect();
        let mut releases = Vec::new();
        let mut started = Vec::new();
        for (call, release, flag) in calls {
            dispatcher.submit(":1.7", None, 100, call).unwrap();
            releases.push(release);
            started.push(flag);
        }
        let (fourth, _release, _) = held_call();
        assert_eq!(
            dispatcher.submit(":1.7", None, 100, fourth),
            Err(LaneFull::Calls { waiting: 1 }),
            "past the queue a call is refused"
        );
        settle().await;
        assert!(started[0].load(Ordering::SeqCst) && started[1].load(Ordering::SeqCst));
        assert!(!started[2].load(Ordering::SeqCst), "the third waits");
        assert_eq!(dispatcher.load(), (2, 1, 100));

        // Another connection is not held up by the full lane.
        let (other, _other_release, other_started) = held_call();
        dispatcher.submit(":1.8", None, 100, other).unwrap();
        settle().await;
        assert!(other_started.load(Ordering::SeqCst));

        releases.remove(0).send(()).unwrap();
        settle().await;
        assert!(
            started[2].load(Ordering::SeqCst),
            "the waiting call runs next"
        );
    }

    #[tokio::test]
    async fn an_idle_lane_is_forgotten() {
        let dispatcher = FairDispatcher::new(Bounds {
            running: 1,
            waiting: 4,
            waiting_bytes: 1 << 20,
            waiting_bytes_per_uid: 1 << 20,
            waiting_bytes_total: 1 << 20,
            per_second: 0,
        });
        let (call, release, _) = held_call();
        dispatcher.submit(":1.9", None, 100, call).unwrap();
        release.send(()).unwrap();
        settle().await;
        assert_eq!(dispatcher.load(), (0, 0, 0));
        assert!(dispatcher.lanes.lock().by_connection.is_empty());
    }

    #[tokio::test]
    async fn waiting_calls_are_bounded_in_bytes_per_lane_and_over_all_lanes() {
        let dispatcher = FairDispatcher::new(Bounds {
            running: 1,
            waiting: 100,
            waiting_bytes: 1000,
            waiting_bytes_per_uid: 1 << 20,
            waiting_bytes_total: 1500,
            per_second: 0,
        });
        let mut held = Vec::new();
        let mut submit = |connection: &str, bytes: usize| {
            let (call, release, _) = held_call();
            held.push(release);
            dispatcher.submit(connection, None, bytes, call)
        };
        // The first call of each lane runs, and holds no queue room.
        assert_eq!(submit(":1.1", 5000), Ok(()));
        assert_eq!(submit(":1.1", 600), Ok(()));
        assert_eq!(
            submit(":1.1", 600),
            Err(LaneFull::Bytes { bytes: 600 }),
            "a lane holds at most 1000 bytes of waiting calls"
        );
        assert_eq!(submit(":1.1", 400), Ok(()));
        assert_eq!(submit(":1.2", 10), Ok(()));
        assert_eq!(submit(":1.2", 400), Ok(()));
        assert_eq!(
            submit(":1.2", 200),
            Err(LaneFull::AllBytes { bytes: 1400 }),
            "all lanes together hold at most 1500 bytes"
        );
        assert_eq!(dispatcher.load(), (2, 3, 1400));
        drop(held);
        settle().await;
        assert_eq!(
            dispatcher.load(),
            (0, 0, 0),
            "released calls give their room back"
        );
    }

    #[tokio::test]
    async fn one_uids_waiting_calls_are_bounded_in_bytes_over_all_its_connections() {
        let dispatcher = FairDispatcher::new(Bounds {
            running: 1,
            waiting: 100,
            waiting_bytes: 1000,
            waiting_bytes_per_uid: 1500,
            waiting_bytes_total: 1 << 20,
            per_second: 0,
        });
        let mut held = Vec::new();
        let mut submit = |connection: &str, uid: Option<Uid>, bytes: usize| {
            let (call, release, _) = held_call();
            held.push(release);
            dispatcher.submit(connection, uid, bytes, call)
        };
        for connection in [":1.1", ":1.2", ":1.3"] {
            assert_eq!(submit(connection, Some(1000), 10), Ok(()), "runs at once");
        }
        assert_eq!(submit(":1.1", Some(1000), 800), Ok(()));
        assert_eq!(submit(":1.2", Some(1000), 700), Ok(()));
        assert_eq!(
            submit(":1.3", Some(1000), 100),
            Err(LaneFull::UidBytes { bytes: 1500 }),
            "one uid's connections together hold at most 1500 bytes"
        );
        // Another uid, and a connection whose uid is not known yet, still have room.
        assert_eq!(submit(":1.4", Some(1001), 10), Ok(()));
        assert_eq!(submit(":1.4", Some(1001), 900), Ok(()));
        assert_eq!(submit(":1.3", None, 900), Ok(()));
        drop(held);
        settle().await;
        assert_eq!(dispatcher.load(), (0, 0, 0));
        assert!(dispatcher.lanes.lock().waiting_bytes_by_uid.is_empty());
    }

    fn pacer(per_second: u32) -> Pacer {
        Pacer {
            per_second: std::sync::atomic::AtomicU32::new(per_second),
            next: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn a_uid_gets_a_seconds_burst_then_its_pace() {
        let pace = pacer(100);
        let start = Instant::now();
        for n in 0..=100 {
            assert_eq!(
                pace.reserve(1000, start),
                Duration::ZERO,
                "call {n} is in the burst"
            );
        }
        assert_eq!(pace.reserve(1000, start), Duration::from_millis(10));
        assert_eq!(pace.reserve(1000, start), Duration::from_millis(20));
        // Another uid has its own pace; root has none.
        assert_eq!(pace.reserve(1001, start), Duration::ZERO);
        for _ in 0..1000 {
            assert_eq!(pace.reserve(0, start), Duration::ZERO);
        }
        // Once the uid has kept its pace, it has its burst again.
        let later = start + Duration::from_secs(3);
        assert_eq!(pace.reserve(1000, later), Duration::ZERO);
    }

    #[test]
    fn no_pace_when_turned_off() {
        let pace = pacer(0);
        let now = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(pace.reserve(1000, now), Duration::ZERO);
        }
    }
}
