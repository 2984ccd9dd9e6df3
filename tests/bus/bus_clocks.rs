//! Timebound expiry on a real bus (SEMANTICS.md section 6, docs/DECISIONS.md "Clocks"): a
//! contract expires at its end by the wall clock on its own, without any call waking the
//! daemon, and its checks deny from then on. The daemon's timer sleeps on a wall-clock alarm
//! that also goes off when the clock is set; the clock is not set here (the machine is
//! shared), the rules for a set clock are tested in tests/core/core_sessions.rs.

use crate::common::bus::*;
use futures_util::StreamExt;
use std::time::{SystemTime, UNIX_EPOCH};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timebound_contract_expires_at_its_end_on_its_own() {
    if !require_root("a_timebound_contract_expires_at_its_end_on_its_own") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let mut changes = contracts.receive_contract_changed().await.unwrap();

    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = now_secs + 2;
    let mut spec = episodic_spec(&["chat"]);
    spec.extend(dict(&[
        ("retention", "timebound".into()),
        ("retention_until", end.into()),
    ]));
    let id = activate_new(&contracts, "episodic", spec).await;

    let reason = within("ContractChanged(expired)", async {
        loop {
            let signal = changes.next().await.unwrap();
            let args = signal.args().unwrap();
            if args.id() == &id && args.state() == "expired" {
                return args.reason().to_string();
            }
        }
    })
    .await;
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(after >= end * 1000, "expired before its end: {reason}");
    assert_eq!(
        field::<String>(&contracts.get(&id).await.unwrap(), "state"),
        "expired"
    );
    let (allowed, code, ..) = enforcement
        .check_memory_creation(&check_request("chat", "support", 1))
        .await
        .unwrap();
    assert!(!allowed, "{code}");
}
