//! A deep purge leaves nothing to recover (SEMANTICS.md section 9): after `ConfirmPurge`, no
//! byte of the purged memories' ids, contexts or derivation links is in any of the store's
//! files (database, write-ahead log, shared memory), while the daemon runs and after it stops,
//! and the audit chain still verifies and still says who purged how many memories of which
//! contract. Memory ids belong to their owner.

use crate::common::bus::*;
use std::path::Path;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Every file in the daemon's state directory, the store's database, write-ahead log and
/// shared-memory index among them.
fn state_files(state_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![state_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Where each of `needles` occurs in the raw bytes of the state files, as "file: needle".
fn raw_findings(state_dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let files = state_files(state_dir);
    assert!(
        files.iter().any(|f| f.ends_with("contracts.db")),
        "no store among {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in needles {
            let count = bytes
                .windows(needle.len())
                .filter(|window| *window == needle.as_bytes())
                .count();
            if count > 0 {
                found.push(format!("{}: {needle} x{count}", file.display()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_purge_leaves_no_byte_of_its_memories_in_the_store_files() {
    if !require_root("a_deep_purge_leaves_no_byte_of_its_memories_in_the_store_files") {
        return;
    }
    let bus = TestBus::start();
    let mut daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let memories = Memories1Proxy::new(&owner).await.unwrap();
    let audit_admin = connect_as(&bus, 0, &[]).await;
    let audit = Audit1Proxy::new(&audit_admin).await.unwrap();
    let spec = || {
        dict(&[
            ("domains", strings(&["coding"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("retention", "permanent".into()),
        ])
    };
    let forgotten = activate_new(&contracts, "procedural", spec()).await;
    let kept = activate_new(&contracts, "procedural", spec()).await;

    // Two memories of the contract to forget, in contexts only they use, and a memory of the
    // kept contract derived from one of them.
    let secret_ids = ["mem-fgt-7f3a91", "mem-fgt-second-c2d4"];
    let secret_contexts = ["ctx-fgt-91b2e6", "ctx-fgt-second-aa07"];
    for (id, context) in secret_ids.iter().zip(secret_contexts) {
        let mut request = check_request("coding", context, 2);
        request.extend(dict(&[
            ("memory_id", (*id).into()),
            ("contract_id", forgotten.as_str().into()),
        ]));
        let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
        assert!(allowed, "{id}: {code}");
    }
    let mut request = check_request("coding", "shared-work", 2);
    request.extend(dict(&[
        ("memory_id", "mem-kept-derived".into()),
        ("contract_id", kept.as_str().into()),
        ("derived_from", strings(&[secret_ids[0]]).into()),
    ]));
    let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");
    let needles: Vec<&str> = secret_ids.iter().chain(&secret_contexts).copied().collect();
    assert!(
        !raw_findings(&daemon.state_dir, &needles).is_empty(),
        "the test's needles must be findable before the purge, or it proves nothing"
    );

    // While the memories exist, an admin reads their sealed audit details opened.
    let opened = |records: &[std::collections::HashMap<String, zbus::OwnedVariant>]| {
        records
            .iter()
            .filter(|r| field::<String>(r, "action") == "memory.register")
            .map(|r| {
                assert!(
                    !field::<String>(r, "details").contains("mem-"),
                    "the chained details hold the id in the clear"
                );
                serde_json::from_str::<serde_json::Value>(&field::<String>(r, "opened")).unwrap()
                    ["memory"]
                    .clone()
            })
            .collect::<Vec<_>>()
    };
    let registered = opened(&audit.read(0, 1000).await.unwrap());
    assert_eq!(registered.len(), 3, "{registered:?}");
    assert_eq!(registered[0]["memory_id"], secret_ids[0]);
    assert_eq!(registered[0]["context"], secret_contexts[0]);
    assert_eq!(registered[2]["memory_id"], "mem-kept-derived");
    assert_eq!(registered[2]["derived_from"][0], secret_ids[0]);

    contracts.revoke(&forgotten, "forget it").await.unwrap();
    let head_before = audit.head_seq().await.unwrap();
    let token = memories.request_purge(&forgotten).await.unwrap();
    assert_eq!(memories.confirm_purge(&forgotten, &token).await.unwrap(), 2);

    // Live: nothing of the purged memories in any state file (the WAL and the shared-memory
    // index exist while the daemon runs).
    let live = state_files(&daemon.state_dir);
    assert!(
        live.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "{live:?}"
    );
    assert_eq!(
        raw_findings(&daemon.state_dir, &needles),
        Vec::<String>::new(),
        "purged bytes found while the daemon runs"
    );
    // The derived memory keeps an opaque link.
    let derived = memories.get("mem-kept-derived").await.unwrap();
    let links = field::<Vec<String>>(&derived, "derived_from");
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(!links[0].contains(secret_ids[0]), "{links:?}");
    // The purged ids are gone, not answered as purged.
    for id in secret_ids {
        assert_eq!(
            outcome(&memories.get(id).await),
            "org.learningcontracts.Error.NotFound",
            "{id}"
        );
    }
    // The purged memories' audit details cannot be opened any more; the kept memory's can,
    // but its link to the purged source cannot.
    let after = opened(&audit.read(0, 1000).await.unwrap());
    assert_eq!(after[0], "(purged)");
    assert_eq!(after[1], "(purged)");
    assert_eq!(after[2]["memory_id"], "mem-kept-derived");
    assert_eq!(after[2]["derived_from"][0], "(purged source)");
    // The chain verifies and says who purged how many of which contract.
    let (ok, _, first_bad, message) = audit.verify().await.unwrap();
    assert!(ok, "{first_bad}: {message}");
    let records = audit.read(head_before, 100).await.unwrap();
    let purge = records
        .iter()
        .find(|r| field::<String>(r, "action") == "memory.purge")
        .expect("a memory.purge record");
    assert_eq!(field::<String>(purge, "contract_id"), forgotten);
    assert_eq!(field::<u32>(purge, "caller_uid"), owner_uid);
    let details: serde_json::Value =
        serde_json::from_str(&field::<String>(purge, "details")).unwrap();
    assert_eq!(details["count"], 2);

    // After a clean stop: still nothing.
    assert!(daemon.stop().success(), "{}", daemon.log());
    assert_eq!(
        raw_findings(&daemon.state_dir, &needles),
        Vec::<String>::new(),
        "purged bytes found after a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ids_belong_to_their_owner_and_answers_do_not_tell_another_owners_exist() {
    if !require_root(
        "memory_ids_belong_to_their_owner_and_answers_do_not_tell_another_owners_exist",
    ) {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let spec = || {
        dict(&[
            ("domains", strings(&["coding"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("retention", "permanent".into()),
        ])
    };
    let register = |enforcement: Enforcement1Proxy<'static>, id: &'static str| async move {
        let mut request = check_request("coding", "work", 1);
        request.extend(dict(&[("memory_id", id.into())]));
        enforcement.register_memory(&request).await
    };
    let (owner_uid, other_uid) = (users().owner, users().other);
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let other = connect_as(&bus, other_uid, &[]).await;
    let owner_contract = activate_new(
        &Contracts1Proxy::new(&owner).await.unwrap(),
        "procedural",
        spec(),
    )
    .await;
    activate_new(
        &Contracts1Proxy::new(&other).await.unwrap(),
        "procedural",
        spec(),
    )
    .await;
    let owner_enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let other_enforcement = Enforcement1Proxy::new(&other).await.unwrap();

    // The owner registers first; the other owner's registration of the same id is its own
    // memory, answered exactly as an unused id would be.
    let (allowed, code, ..) = register(owner_enforcement.clone(), "shared-id")
        .await
        .unwrap();
    assert!(allowed, "{code}");
    let (allowed, code, ..) = register(other_enforcement.clone(), "shared-id")
        .await
        .unwrap();
    assert!(allowed, "the same id under another owner: {code}");
    let (allowed, code, ..) = register(other_enforcement.clone(), "unused-id")
        .await
        .unwrap();
    assert!(allowed, "an unused id: {code}");
    // Only the owner's own second registration is AlreadyExists.
    assert_eq!(
        outcome(&register(owner_enforcement.clone(), "shared-id").await),
        "org.learningcontracts.Error.AlreadyExists"
    );

    // Each owner's Get finds its own memory.
    let owner_memories = Memories1Proxy::new(&owner).await.unwrap();
    let other_memories = Memories1Proxy::new(&other).await.unwrap();
    let mine = owner_memories.get("shared-id").await.unwrap();
    assert_eq!(field::<String>(&mine, "contract_id"), owner_contract);
    assert_eq!(field::<u32>(&mine, "owner"), owner_uid);
    let theirs = other_memories.get("shared-id").await.unwrap();
    assert_eq!(field::<u32>(&theirs, "owner"), other_uid);

    // Naming the owner explicitly: another owner's existing memory and a missing one get the
    // same answer, word for word (only the id differs).
    let existing = other_memories.get_for_owner(owner_uid, "shared-id").await;
    let missing = other_memories.get_for_owner(owner_uid, "no-such-id").await;
    assert_eq!(outcome(&existing), outcome(&missing));
    assert_eq!(
        error_message(&existing).replace("shared-id", "ID"),
        error_message(&missing).replace("no-such-id", "ID")
    );
    assert_eq!(outcome(&missing), "org.learningcontracts.Error.NotFound");
    assert_eq!(
        outcome(&other_memories.get("never-registered").await),
        "org.learningcontracts.Error.NotFound"
    );
    // The owner and an admin may name the owner.
    let admin = connect_as(&bus, 0, &[]).await;
    let by_admin = Memories1Proxy::new(&admin)
        .await
        .unwrap()
        .get_for_owner(owner_uid, "shared-id")
        .await
        .unwrap();
    assert_eq!(field::<String>(&by_admin, "contract_id"), owner_contract);
    let by_owner = owner_memories
        .get_for_owner(owner_uid, "shared-id")
        .await
        .unwrap();
    assert_eq!(field::<String>(&by_owner, "contract_id"), owner_contract);
}
