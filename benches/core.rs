//! The measurements: checks with 100,000 active contracts across 1,000 owners, a mode
//! change that suspends or resumes 10,000 active contracts including the committed
//! transaction, registering a memory (commit included), and audit verification speed, unsealed
//! and sealed (checked with the verification key), and judging the routes out of a host with a
//! full routing table.
//! Numbers and how to read them: benches/README.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use learning_contracts::core::{
    Abstraction, Actor, BoundaryMode, Caller, Change, CheckKind, CheckRequest, Contract,
    ContractKind, EffectiveMode, HostState, MemoryClass, MemoryRecord, MemoryStatus, Name,
    Registry, RetentionKind, Scope, SpecPatch, Timestamp,
};
use learning_contracts::ledger::Ledger;
use learning_contracts::store::seal::VerificationKey;
use learning_contracts::store::sealing::SealingSetup;

#[path = "../tests/common/stored.rs"]
mod stored;
use std::hint::black_box;
use std::time::Duration;
use stored::active_contract;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

/// `owners` owners with `per_owner` Active contracts each, spread over 20 domains, half with
/// an explicit context and half with `*`, kinds rotating through episodic, procedural and
/// strategic.
fn contracts(owners: u32, per_owner: u32) -> Vec<Contract> {
    let kinds = [
        ContractKind::Episodic,
        ContractKind::Procedural,
        ContractKind::Strategic,
    ];
    let mut all = Vec::with_capacity((owners * per_owner) as usize);
    for owner in 0..owners {
        for n in 0..per_owner {
            let context = if n % 2 == 0 {
                format!("ctx-{}", n % 7)
            } else {
                "*".into()
            };
            let scope = Scope {
                domains: vec![name(&format!("domain-{}", n % 20))],
                contexts: vec![name(&context)],
                tools: vec![name("editor")],
            };
            let id = format!("c-{owner:05}-{n:04}");
            let kind = kinds[(n % 3) as usize];
            all.push(Contract {
                activated: Some(NOW.plus_millis(i64::from(n))),
                ..active_contract(id, 1000 + owner, kind, scope, String::new(), NOW)
            });
        }
    }
    all
}

fn airgap_host() -> HostState {
    HostState::default()
}

fn checks(c: &mut Criterion) {
    let all = contracts(1_000, 100);
    // One memory to recall by id, under an episodic contract of owner 1500.
    let memory = MemoryRecord {
        id: "m-recall".into(),
        contract_id: "c-00500-0003".into(),
        owner: 1500,
        domain: name("domain-3"),
        context: name("ctx-3"),
        classification: MemoryClass::Internal,
        abstraction: Abstraction::Raw,
        derived_from: vec![],
        status: MemoryStatus::Active,
        created: NOW,
        shred: learning_contracts::core::memory::ShredKey::from_random([7; 48]),
    };
    let mut registry = Registry::from_parts(all, vec![memory], airgap_host());
    let change = registry
        .plan_mode_change(EffectiveMode::Known(BoundaryMode::Airgap), "bench", NOW)
        .unwrap();
    registry.apply(change);
    assert_eq!(registry.active_count(), 100_000);

    let mut creation = CheckRequest::new(
        1500,
        name("domain-7"),
        name("ctx-0"),
        MemoryClass::Confidential,
    );
    creation.tool = Some(name("editor"));
    assert!(
        registry
            .check(CheckKind::MemoryCreation, &creation, NOW)
            .allowed
    );
    let mut recall =
        CheckRequest::new(1500, name("domain-3"), name("ctx-3"), MemoryClass::Internal);
    recall.memory_id = Some("m-recall".into());
    assert!(registry.check(CheckKind::Recall, &recall, NOW).allowed);

    let mut group = c.benchmark_group("check_100k_contracts_1k_owners");
    group.bench_function("memory_creation_by_discovery", |b| {
        b.iter(|| registry.check(CheckKind::MemoryCreation, black_box(&creation), NOW))
    });
    group.bench_function("recall_of_named_memory", |b| {
        b.iter(|| registry.check(CheckKind::Recall, black_box(&recall), NOW))
    });
    group.finish();
}

/// A ledger on a real file with `count` Active contracts (one owner per 10), in OPEN.
fn ledger_with_contracts(dir: &std::path::Path, count: u32) -> Ledger {
    let (mut ledger, _) = Ledger::open(&dir.join("bench.db"), NOW).unwrap();
    let mut change = Change::at(NOW);
    change.contracts = contracts(count / 10, 10);
    ledger.commit(change).unwrap();
    let open = ledger
        .registry()
        .plan_mode_change(EffectiveMode::Known(BoundaryMode::Open), "bench", NOW)
        .unwrap();
    ledger.commit(open).unwrap();
    ledger
}

fn mode_change(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with_contracts(dir.path(), 10_000);
    let mut group = c.benchmark_group("mode_change_10k_active_committed");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    // OPEN → LOCKDOWN suspends all 10,000; LOCKDOWN → OPEN resumes them. Each iteration is
    // one full change: plan, commit (fsync), apply.
    let mut to_lockdown = true;
    group.bench_function("suspend_or_resume_all", |b| {
        b.iter(|| {
            let next = if to_lockdown {
                BoundaryMode::Lockdown
            } else {
                BoundaryMode::Open
            };
            to_lockdown = !to_lockdown;
            let change = ledger
                .registry()
                .plan_mode_change(EffectiveMode::Known(next), "bench", NOW)
                .unwrap();
            ledger.commit(change).unwrap()
        })
    });
    // OPEN ↔ TRUSTED: only the OPEN-level contracts stay; strategic ones (a third) change.
    let mut to_trusted = true;
    group.bench_function("suspend_or_resume_strategic_third", |b| {
        b.iter(|| {
            let next = if to_trusted {
                BoundaryMode::Restricted
            } else {
                BoundaryMode::Trusted
            };
            to_trusted = !to_trusted;
            let change = ledger
                .registry()
                .plan_mode_change(EffectiveMode::Known(next), "bench", NOW)
                .unwrap();
            ledger.commit(change).unwrap()
        })
    });
    group.finish();
}

fn register_memory(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with_contracts(dir.path(), 10_000);
    // The bench registers more memories than an owner's default budget allows.
    ledger.set_limits(learning_contracts::ledger::Limits {
        budgets: learning_contracts::core::OwnerBudgets {
            max_active_memories: usize::MAX,
            // One owner registers thousands a second here; the per-minute write cap would stop it.
            max_writes_per_minute: u32::MAX,
            ..Default::default()
        },
        ..Default::default()
    });
    let owner = Actor::user(1000);
    let spec = SpecPatch {
        domains: Some(vec![name("notes")]),
        contexts: Some(vec![name("*")]),
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    };
    ledger
        .run(|r| r.plan_create_draft(&owner, ContractKind::Episodic, &spec, "notes".into(), NOW))
        .unwrap();
    ledger.run(|r| r.plan_submit(&owner, "notes", NOW)).unwrap();
    ledger
        .run(|r| r.plan_activate(&owner.clone().confirmed(), "notes", NOW))
        .unwrap();
    let request = CheckRequest::new(1000, name("notes"), name("diary"), MemoryClass::Public);
    let caller = Caller::uid(1000);
    let mut group = c.benchmark_group("register_memory");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    let mut n = 0u64;
    group.bench_function("check_and_commit", |b| {
        b.iter(|| {
            n += 1;
            let (decision, _, _) = ledger
                .register_memory(&caller, &request, Some(format!("m{n}")), &[], NOW)
                .unwrap();
            assert!(decision.allowed);
        })
    });
    group.finish();
}

/// A deep purge of 10,000 memories: the planned change committed (rows deleted under
/// `secure_delete`, links rewritten, the audit record) and the write-ahead log truncated.
fn deep_purge(c: &mut Criterion) {
    const MEMORIES: usize = 10_000;
    let mut group = c.benchmark_group("deep_purge");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let owner = Actor::user(1000);
    let admin = Actor::admin(0);
    let spec = SpecPatch {
        domains: Some(vec![name("notes")]),
        contexts: Some(vec![name("*")]),
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    };
    group.bench_function("10k_memories", |b| {
        b.iter_batched(
            || {
                // A revoked contract holding 10,000 tombstoned memories, each with its key.
                let dir = tempfile::tempdir().unwrap();
                let (mut ledger, _) = Ledger::open(&dir.path().join("purge.db"), NOW).unwrap();
                ledger
                    .run(|r| {
                        r.plan_create_draft(
                            &owner,
                            ContractKind::Episodic,
                            &spec,
                            "gone".into(),
                            NOW,
                        )
                    })
                    .unwrap();
                ledger.run(|r| r.plan_submit(&owner, "gone", NOW)).unwrap();
                ledger
                    .run(|r| r.plan_activate(&owner.clone().confirmed(), "gone", NOW))
                    .unwrap();
                let mut change = Change::at(NOW);
                for n in 0..MEMORIES {
                    let mut random = [0u8; 48];
                    random[..8].copy_from_slice(&(n as u64).to_le_bytes());
                    change.memories.push(MemoryRecord {
                        id: format!("memory-{n:05}"),
                        contract_id: "gone".into(),
                        owner: 1000,
                        domain: name("notes"),
                        context: name("diary"),
                        classification: MemoryClass::Public,
                        abstraction: Abstraction::Raw,
                        derived_from: vec![],
                        status: MemoryStatus::Active,
                        created: NOW,
                        shred: learning_contracts::core::memory::ShredKey::from_random(random),
                    });
                }
                ledger.commit(change).unwrap();
                ledger
                    .run(|r| r.plan_revoke(&owner, "gone", "bench", NOW))
                    .unwrap();
                (dir, ledger)
            },
            |(dir, mut ledger)| {
                ledger.run(|r| r.plan_purge(&admin, "gone", NOW)).unwrap();
                assert_eq!(ledger.registry().memories_of("gone").count(), 0);
                (dir, ledger)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn audit_verification(c: &mut Criterion) {
    const RECORDS: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, _) = Ledger::open(&dir.path().join("audit.db"), NOW).unwrap();
    // Denials as the bus would batch them, 1,000 per transaction.
    let event = learning_contracts::core::AuditEvent {
        caller: Caller::uid(1000),
        action: "check.denied",
        contract_id: Some("c-00001-0001".into()),
        details: serde_json::json!({"check": "memory_creation", "code": "out_of_scope", "owner": 1000, "domain": "coding", "context": "project", "classification": 1}),
    };
    let batch = vec![event; 1_000];
    for _ in 0..RECORDS / 1_000 {
        ledger.record_audit(&batch, NOW).unwrap();
    }
    // The same log sealed: an epoch ends after every 1,000 records (100 seals), and the
    // verification checks each seal's MAC with the verification key.
    const INTERVAL_SECS: u64 = 60;
    let (mut sealed, _) = Ledger::open(&dir.path().join("sealed.db"), NOW).unwrap();
    let key = VerificationKey::generate(NOW, INTERVAL_SECS).unwrap();
    sealed
        .enable_sealing(
            SealingSetup {
                key: key.seed.clone(),
                key_epoch: 0,
                clock: key.clock,
                key_id: key.key_id(),
                origin: "bus",
                caller: Caller::uid(0),
                force: false,
            },
            NOW,
        )
        .unwrap();
    let epoch_millis = INTERVAL_SECS as i64 * 1000;
    for epoch in 0..RECORDS / 1_000 {
        let start = NOW.plus_millis(epoch as i64 * epoch_millis);
        // One record fewer in the first epoch: the enabling record is one of the 100,000.
        let take = if epoch == 0 {
            batch.len() - 1
        } else {
            batch.len()
        };
        sealed
            .record_audit(&batch[..take], start.plus_millis(1))
            .unwrap();
        let tick = sealed.seal_due(start.plus_millis(epoch_millis)).unwrap();
        assert!(tick.sealed.is_some());
    }
    let verified_at = NOW.plus_millis((RECORDS / 1_000) as i64 * epoch_millis + 1);
    let mut group = c.benchmark_group("audit_verify");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(RECORDS));
    group.bench_function("100k_records", |b| {
        b.iter_batched(
            || (),
            |()| {
                let verification = ledger.store().verify_audit().unwrap();
                assert!(verification.ok && verification.records == RECORDS);
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("100k_records_sealed_with_key", |b| {
        b.iter_batched(
            || (),
            |()| {
                let verification = sealed
                    .store()
                    .verify_sealed(Some(&key), verified_at)
                    .unwrap();
                assert!(
                    verification.ok && verification.key_checked,
                    "{verification:?}"
                );
                assert_eq!((verification.records, verification.seals), (RECORDS, 101));
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Judging a network with a full routing table: 100,000 IPv4 /24 routes through eth0 beside a
/// default route through wg0 (what the detector does after every netlink event).
fn routes_out(c: &mut Criterion) {
    use learning_contracts::source::detect::links::{LinkFact, NetworkSnapshot, RouteFact};
    use learning_contracts::source::detect::rules::{LinkPolicy, view_network};
    let link = |index: u32, name: &str, kind: &str, tun_mode: &str| LinkFact {
        index,
        name: name.into(),
        kind: kind.into(),
        link_type: "ether".into(),
        tun_mode: tun_mode.into(),
        address: String::new(),
        up: true,
        lower_up: true,
        loopback: index == 1,
    };
    let route = |destination: std::net::IpAddr, prefix_len: u8, link: u32| RouteFact {
        family: "ipv4",
        destination,
        prefix_len,
        table: 254,
        link_indexes: vec![link],
        gateway: None,
    };
    let mut routes: Vec<RouteFact> = (0..100_000u32)
        .map(|n| {
            route(
                std::net::Ipv4Addr::from((1u32 << 24) + (n << 8)).into(),
                24,
                2,
            )
        })
        .collect();
    routes.push(route(std::net::Ipv4Addr::UNSPECIFIED.into(), 0, 3));
    let network = NetworkSnapshot {
        links: vec![
            link(1, "lo", "", ""),
            link(2, "eth0", "veth", ""),
            link(3, "wg0", "tun", "tun"),
        ],
        routes,
        ..NetworkSnapshot::default()
    };
    let policy = LinkPolicy::default();
    let mut group = c.benchmark_group("routes_out");
    group.sample_size(20);
    group.bench_function("view_network_100k_routes", |b| {
        b.iter(|| {
            let view = view_network(black_box(&network), &policy);
            assert!(view.route_out_non_vpn);
            view
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    checks,
    mode_change,
    register_memory,
    deep_purge,
    audit_verification,
    routes_out
);
criterion_main!(benches);
