//! The client crate (`learning-contracts-client`) against the real daemon on a private bus:
//! an agent's whole afternoon in typed calls, and named errors as typed variants.

use crate::common::bus::*;
use futures_util::StreamExt;
use learning_contracts_client::{CheckKind, Client, ContractSpec, Error, Request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_drafts_checks_registers_recalls_and_sees_its_memories_forgotten() {
    if !require_root("an_agent_drafts_checks_registers_recalls_and_sees_its_memories_forgotten") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &unix_config("AIRGAP", "", ""));
    // Uncached: each property read asks the daemon (the generation below).
    let owner = Client::with_connection_uncached(connect_as(&bus, users().owner, &[]).await)
        .await
        .unwrap();
    let admin = Client::with_connection(connect_as(&bus, 0, &[]).await)
        .await
        .unwrap();

    owner.subscribe().await.unwrap();
    let mut forgotten = owner.memories.receive_memories_changed().await.unwrap();
    assert_eq!(owner.mode().await.unwrap(), "AIRGAP");

    let spec = ContractSpec::new()
        .domains(&["coding"])
        .contexts(&["*"])
        .retention("permanent")
        .classification_cap(3)
        .description("what I do in my editor");
    let id = owner.create_draft("episodic", &spec).await.unwrap();
    owner.submit(&id).await.unwrap();
    admin.activate(&id).await.unwrap();
    let contract = owner.contract(&id).await.unwrap();
    assert_eq!(field::<String>(&contract, "state"), "active");

    let about = Request::new("coding", "editor").classification(1);
    let decision = owner
        .check(CheckKind::MemoryCreation, &about)
        .await
        .unwrap();
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(
        (decision.code.as_str(), decision.contract_id.as_str()),
        ("allowed", id.as_str())
    );

    let kept = owner.register_memory(&about).await.unwrap();
    assert!(kept.decision.allowed, "{kept:?}");
    assert!(!kept.memory_id.is_empty());
    let recall = about.clone().memory(&kept.memory_id);
    let allowed = owner.check(CheckKind::Recall, &recall).await.unwrap();
    assert!(allowed.allowed, "{allowed:?}");
    assert_eq!(owner.memories(&id).await.unwrap().len(), 1);

    // Too sensitive for the contract: denied with the code the rules name.
    let denied = owner
        .check(
            CheckKind::MemoryCreation,
            &Request::new("coding", "editor").classification(5),
        )
        .await
        .unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.code, "classification_cap", "{denied:?}");

    // A batch answers each request as the single call does.
    let asked = [
        recall.clone(),
        Request::new("coding", "editor")
            .classification(5)
            .memory(&kept.memory_id),
        Request::new("music", "player").classification(1),
    ];
    let batch = owner.check_batch(CheckKind::Recall, &asked).await.unwrap();
    let mut singles = Vec::new();
    for request in &asked {
        singles.push(owner.check(CheckKind::Recall, request).await.unwrap());
    }
    assert_eq!(batch, singles);
    assert_eq!(
        batch.iter().map(|d| d.allowed).collect::<Vec<_>>(),
        [true, false, false]
    );

    // The generation moves when a decision could change, and not on a read.
    let before = owner.generation().await.unwrap();
    owner.check(CheckKind::Recall, &recall).await.unwrap();
    assert_eq!(owner.generation().await.unwrap(), before);
    owner.revoke(&id, "done with it").await.unwrap();
    assert!(owner.generation().await.unwrap() > before);
    let signal = within("MemoriesChanged after the revocation", forgotten.next())
        .await
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(args.contract_id, id);
    assert_eq!(args.memory_ids, std::slice::from_ref(&kept.memory_id));
    let after = owner.check(CheckKind::Recall, &recall).await.unwrap();
    assert!(!after.allowed, "{after:?}");

    // Named errors arrive as their own variants.
    match owner.submit(&id).await {
        Err(Error::InvalidState(message)) => assert!(!message.is_empty()),
        other => panic!("submitting a revoked contract gave {other:?}"),
    }
    let err = owner
        .contract("01J0000000000000000000000Z")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.name(), Some("org.learningcontracts.Error.NotFound"));
    let err = owner
        .check(CheckKind::Recall, &Request::new("coding", "*"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgs(_)), "{err:?}");
    let err = owner.revoke(&id, "again").await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidState(_) | Error::NotRevocable(_)),
        "{err:?}"
    );
    let err = admin
        .boundary
        .set_override("NOT-A-MODE", "test")
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgs(_)), "{err:?}");
    let err = owner
        .boundary
        .enter_lockdown("not mine to call")
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AccessDenied(_) | Error::InteractiveAuthorizationRequired(_)
        ),
        "{err:?}"
    );
}
