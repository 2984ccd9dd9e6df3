//! Allowed CheckRecall calls per second over a private bus from 1 and 8 concurrent clients,
//! next to the same clients calling org.freedesktop.DBus.Peer.Ping on the daemon: the bus's
//! own round-trip limit (`bus_round_trip`). 1,000 recall checks as one CheckBatch against
//! 1,000 single CheckRecall calls from one client (`check_batch`), and a second client's
//! CheckRecall latency while the first sends batches back to back (`batch_fairness`); beside
//! both, the bus's own floor (the batch's request answered by dbus-daemon itself, and the
//! second client's GetId of the bus). Needs
//! root (the shipped policy lets only root or the service user own the name). Numbers:
//! benches/README.md.

#[path = "../tests/common/bus.rs"]
mod bus;

use bus::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};

/// How many recall checks one batch carries (the daemon's most).
const BATCH: usize = 1000;

struct Setup {
    bus: TestBus,
    _daemon: DaemonProcess,
    clients: Vec<zbus::Connection>,
    /// The recall request, kept by the client and passed by reference (as the client crate's
    /// proxies take it), so no call copies it.
    recall: Args<'static>,
}

fn setup(runtime: &tokio::runtime::Runtime) -> Setup {
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    runtime.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..8 {
            clients.push(connect_as(&bus, 0, &[0]).await);
        }
        let contracts = Contracts1Proxy::new(&clients[0]).await.unwrap();
        let id = contracts
            .create_draft("episodic", &episodic_spec(&["coding"]))
            .await
            .unwrap();
        contracts.submit(&id).await.unwrap();
        contracts.activate(&id).await.unwrap();
        let enforcement = Enforcement1Proxy::new(&clients[0]).await.unwrap();
        let (allowed, code, ..) = enforcement
            .register_memory(&dict(&[
                ("domain", "coding".into()),
                ("context", "project".into()),
                ("classification", 1u8.into()),
                ("memory_id", "m1".into()),
            ]))
            .await
            .unwrap();
        assert!(allowed, "{code}");
        let recall = dict(&[
            ("domain", "coding".into()),
            ("context", "project".into()),
            ("classification", 1u8.into()),
            ("memory_id", "m1".into()),
        ]);
        let (allowed, code, ..) = enforcement.check_recall(&recall).await.unwrap();
        assert!(allowed, "{code}");
        Setup {
            bus,
            _daemon: daemon,
            clients,
            recall,
        }
    })
}

/// Runs `iters` calls spread over `clients` concurrent clients; returns the wall time.
fn spread<C, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    clients: &[C],
    iters: u64,
    call: F,
) -> Duration
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    runtime.block_on(async {
        let per_client = iters.div_ceil(clients.len() as u64);
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .iter()
            .cloned()
            .map(|connection| {
                let call = call.clone();
                tokio::spawn(async move {
                    for _ in 0..per_client {
                        call(connection.clone()).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        started.elapsed()
    })
}

fn bus_calls(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped the bus benchmark: needs root");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = setup(&runtime);
    let mut group = c.benchmark_group("bus_round_trip");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for clients in [1usize, 8] {
        let connections = setup.clients[..clients].to_vec();
        let proxies: Vec<Enforcement1Proxy<'static>> = runtime.block_on(async {
            let mut proxies = Vec::new();
            for connection in &connections {
                proxies.push(recall_proxy(connection).await);
            }
            proxies
        });
        let recall = std::sync::Arc::new(setup.recall.clone());
        group.bench_function(format!("check_recall_allowed/{clients}_clients"), |b| {
            b.iter_custom(|iters| {
                let recall = std::sync::Arc::clone(&recall);
                spread(&runtime, &proxies, iters, move |proxy| {
                    let recall = std::sync::Arc::clone(&recall);
                    async move {
                        let (allowed, ..) = proxy.check_recall(&recall).await.unwrap();
                        assert!(allowed);
                    }
                })
            })
        });
        group.bench_function(format!("peer_ping/{clients}_clients"), |b| {
            b.iter_custom(|iters| {
                spread(&runtime, &connections, iters, |connection| async move {
                    connection
                        .call_method(
                            Some(BUS_NAME),
                            PATH,
                            Some("org.freedesktop.DBus.Peer"),
                            "Ping",
                            &(),
                        )
                        .await
                        .unwrap();
                })
            })
        });
    }
    group.finish();
}

async fn recall_proxy(connection: &zbus::Connection) -> Enforcement1Proxy<'static> {
    Enforcement1Proxy::builder(connection)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// 1,000 allowed recall checks from one client: as 1,000 single calls one after another, and
/// as one CheckBatch. Criterion reports decisions per second for both.
fn batch_calls(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped the bus benchmark: needs root");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = setup(&runtime);
    let proxy = runtime.block_on(recall_proxy(&setup.clients[0]));
    let batch = vec![setup.recall.clone(); BATCH];
    let answers = runtime
        .block_on(proxy.check_batch("recall", &batch))
        .unwrap();
    assert!(
        answers.iter().all(|(allowed, ..)| *allowed),
        "{:?}",
        answers[0]
    );
    let mut group = c.benchmark_group("check_batch");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("recall_1000_single_calls", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    for _ in 0..BATCH {
                        let (allowed, ..) = proxy.check_recall(&setup.recall).await.unwrap();
                        assert!(allowed);
                    }
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("recall_1000_as_one_batch", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let answers = proxy.check_batch("recall", &batch).await.unwrap();
                    assert!(answers.len() == BATCH && answers[BATCH - 1].0);
                }
                started.elapsed()
            })
        })
    });
    // The floor under any daemon: the same request, sent to the bus itself under a method it
    // does not have, so dbus-daemon reads and validates the whole message and answers at once
    // with a short error. One leg of a batch's two (its reply is about as long again).
    let bus_itself = zbus::fdo::DBusProxy::new(&setup.clients[0]);
    let bus_itself = runtime.block_on(bus_itself).unwrap();
    group.bench_function("recall_1000_request_answered_by_the_bus", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let refused: zbus::Result<()> = bus_itself
                        .inner()
                        .call("NoSuchMethod", &("recall", &batch))
                        .await;
                    assert!(refused.is_err());
                }
                started.elapsed()
            })
        })
    });
    group.finish();
}

/// What the second client asks in `batch_fairness`.
#[derive(Clone, Copy)]
enum SecondCall {
    /// An allowed CheckRecall of the daemon.
    CheckRecall,
    /// `org.freedesktop.DBus.GetId`, which the bus answers itself: the bus's own floor.
    BusGetId,
}

/// The latency of a second client's single calls, alone and while a first client sends
/// 1,000-check batches back to back; p50, p99 and the largest are printed at the end. The
/// second client calls CheckRecall, and GetId of the bus itself, which never reaches the daemon:
/// what the bus alone adds beside the batches. The first client is another agent: its own
/// connection, made and served on its own thread and runtime, so the second client's latency
/// is the bus's and the daemon's, not the wait for a worker thread of the benchmark busy
/// encoding a batch.
fn batch_fairness(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped the bus benchmark: needs root");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = setup(&runtime);
    let second = runtime.block_on(recall_proxy(&setup.clients[1]));
    let second_bus = runtime
        .block_on(zbus::fdo::DBusProxy::new(&setup.clients[1]))
        .unwrap();
    let mut group = c.benchmark_group("batch_fairness");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for load in ["alone", "beside_batches"] {
        let batches = std::sync::atomic::AtomicU64::new(0);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let started = Instant::now();
        let mut measured = Vec::new();
        std::thread::scope(|scope| {
            let first_client = (load == "beside_batches").then(|| {
                let (bus, recall, batches, stop) = (&setup.bus, &setup.recall, &batches, &stop);
                let (ready, connected) = std::sync::mpsc::channel();
                let thread = scope.spawn(move || {
                    let own = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    own.block_on(async {
                        let batcher = recall_proxy(&connect_as(bus, 0, &[0]).await).await;
                        let batch = vec![recall.clone(); BATCH];
                        ready.send(()).unwrap();
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let answers = batcher.check_batch("recall", &batch).await.unwrap();
                            assert!(answers[0].0);
                            batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                });
                connected.recv().unwrap();
                thread
            });
            for call in [SecondCall::CheckRecall, SecondCall::BusGetId] {
                let name = match call {
                    SecondCall::CheckRecall => "check_recall",
                    SecondCall::BusGetId => "bus_get_id",
                };
                let latencies = std::sync::Mutex::new(Vec::new());
                group.bench_function(format!("second_client_{name}/{load}"), |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(async {
                            let mut taken = Vec::with_capacity(iters as usize);
                            let started = Instant::now();
                            for _ in 0..iters {
                                let asked = Instant::now();
                                match call {
                                    SecondCall::CheckRecall => {
                                        let (allowed, ..) =
                                            second.check_recall(&setup.recall).await.unwrap();
                                        assert!(allowed);
                                    }
                                    SecondCall::BusGetId => {
                                        assert!(!second_bus.get_id().await.unwrap().is_empty());
                                    }
                                }
                                taken.push(asked.elapsed());
                            }
                            let elapsed = started.elapsed();
                            latencies.lock().unwrap().extend(taken);
                            elapsed
                        })
                    })
                });
                measured.push((name, latencies.into_inner().unwrap()));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(first_client) = first_client {
                first_client.join().unwrap();
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        let batches = batches.load(std::sync::atomic::Ordering::Relaxed);
        for (name, mut latencies) in measured {
            if latencies.is_empty() {
                continue; // filtered out
            }
            latencies.sort();
            let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
            println!(
                "batch_fairness/{name}/{load}: {} calls of the second client: p50 {:?}, p99 {:?}, \
                 max {:?}",
                latencies.len(),
                at(0.5),
                at(0.99),
                latencies[latencies.len() - 1],
            );
        }
        if batches > 0 {
            println!(
                "batch_fairness/{load}: {batches} batches of the first client ({:.0} decisions/s)",
                (batches * BATCH as u64) as f64 / seconds,
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bus_calls, batch_calls, batch_fairness);
criterion_main!(benches);
