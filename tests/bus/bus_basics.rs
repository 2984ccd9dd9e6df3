//! The daemon on a real private bus: a contract's whole life through the interface, checks,
//! signals and property changes as a client sees them.

use crate::common::bus::*;
use futures_util::StreamExt;
use std::time::Duration;

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_lives_through_the_bus_and_is_announced() {
    if !require_root("a_contract_lives_through_the_bus_and_is_announced") {
        return;
    }
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let mut changes = contracts.receive_contract_changed().await.unwrap();
    let mut active_count = contracts.receive_active_count_changed().await;
    assert_eq!(contracts.active_count().await.unwrap(), 0);
    let _ = within("the initial ActiveCount", active_count.next()).await;

    let id = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    let created = within("ContractChanged(draft)", changes.next())
        .await
        .unwrap();
    let args = created.args().unwrap();
    assert_eq!(
        (args.id().as_str(), args.state().as_str()),
        (id.as_str(), "draft")
    );

    contracts.submit(&id).await.unwrap();
    // In unix mode the owner's own uid is the confirmation.
    contracts.activate(&id).await.unwrap();
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("active") {
        let signal = within("ContractChanged(active)", changes.next())
            .await
            .unwrap();
        states.push(signal.args().unwrap().state().to_string());
    }
    assert_eq!(states, ["review", "active"]);
    let count = within("ActiveCount changed", async {
        loop {
            let change = active_count.next().await.unwrap();
            let value = change.get().await.unwrap();
            if value == 1 {
                return value;
            }
        }
    })
    .await;
    assert_eq!(count, 1);

    let contract = contracts.get(&id).await.unwrap();
    assert_eq!(
        String::try_from(contract["state"].try_clone().unwrap()).unwrap(),
        "active"
    );
    assert_eq!(
        u32::try_from(contract["owner"].try_clone().unwrap()).unwrap(),
        owner_uid
    );
    assert!(bool::try_from(contract["effective"].try_clone().unwrap()).unwrap());

    let request = dict(&[
        ("domain", "Coding".into()),
        ("context", "project-x".into()),
        ("classification", 1u8.into()),
    ]);
    let (allowed, code, _, decided_by) = enforcement.check_memory_creation(&request).await.unwrap();
    assert!(allowed, "{code}");
    assert_eq!(decided_by, id);

    let (allowed, code, _, _) = enforcement
        .check_memory_creation(&dict(&[
            ("domain", "finance".into()),
            ("context", "home".into()),
            ("classification", 1u8.into()),
        ]))
        .await
        .unwrap();
    assert!(!allowed);
    assert_eq!(code, "no_contract");

    // Lifecycle events reach the log with their stable MESSAGE_ID.
    let log = daemon.log();
    assert!(
        log.contains(&format!("contract {id} is now active")),
        "{log}"
    );
    assert!(
        log.contains("MESSAGE_ID=\"6f3c1a0e2b7d4f55a1c9e8d7b6a50003\""),
        "{log}"
    );
}
