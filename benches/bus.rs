//! Allowed CheckRecall calls per second over a private bus from 1 and 8 concurrent clients,
//! next to the same clients calling org.freedesktop.DBus.Peer.Ping on the daemon: the bus's
//! own round-trip limit. Needs root (the shipped policy lets only root or the service user own
//! the name). Numbers: benches/README.md.

#[path = "../tests/common/bus.rs"]
mod bus;

use bus::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use zbus::OwnedVariant;

/// The recall check with the request passed by reference, as an agent that keeps its request
/// would call it (no copy per call on the client).
#[zbus::proxy(
    interface = "org.learningcontracts.Enforcement1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
trait Recall {
    fn check_recall(
        &self,
        request: &HashMap<String, OwnedVariant>,
    ) -> zbus::Result<(bool, String, String, String)>;
}

struct Setup {
    _bus: TestBus,
    _daemon: DaemonProcess,
    clients: Vec<zbus::Connection>,
    recall: HashMap<String, OwnedVariant>,
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
            .create_draft("episodic", episodic_spec(&["coding"]))
            .await
            .unwrap();
        contracts.submit(&id).await.unwrap();
        contracts.activate(&id).await.unwrap();
        let enforcement = Enforcement1Proxy::new(&clients[0]).await.unwrap();
        let (allowed, code, ..) = enforcement
            .register_memory(dict(&[
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
        let (allowed, code, ..) = enforcement.check_recall(recall.clone()).await.unwrap();
        assert!(allowed, "{code}");
        Setup {
            _bus: bus,
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
        let proxies: Vec<RecallProxy<'static>> = runtime.block_on(async {
            let mut proxies = Vec::new();
            for connection in &connections {
                let proxy = RecallProxy::builder(connection)
                    .cache_properties(zbus::proxy::CacheProperties::No)
                    .build()
                    .await
                    .unwrap();
                proxies.push(proxy);
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

criterion_group!(benches, bus_calls);
criterion_main!(benches);
