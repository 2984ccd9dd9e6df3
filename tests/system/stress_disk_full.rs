//! A full disk: the store lives on a small loop-mounted ext4 filesystem that a filler file
//! fills up. Mutations must then fail with the named StoreFailed error, checks must keep
//! answering (denying with `store_unavailable`, a named reason), and once space returns the
//! daemon must recover by itself; after a restart every acknowledged change is there and the
//! audit chain verifies.

use crate::common::bus::*;
use crate::common::mount_fixtures::{
    SmallStateDisk, fill, in_private_mount_namespace, loop_tools_available,
};
use std::collections::HashMap;
use zbus::OwnedVariant;

fn error_name(err: &zbus::Error) -> String {
    match err {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        other => format!("{other}"),
    }
}

fn register_request(contract: &str, memory_id: &str) -> HashMap<String, OwnedVariant> {
    let mut request = HashMap::new();
    request.insert("domain".to_string(), variant("coding"));
    request.insert("context".to_string(), variant("work"));
    request.insert("classification".to_string(), variant(1u8));
    request.insert("contract_id".to_string(), variant(contract));
    request.insert("memory_id".to_string(), variant(memory_id));
    request
}

#[test]
fn a_full_disk_fails_mutations_by_name_and_the_daemon_recovers() {
    if !require_root("a_full_disk_fails_mutations_by_name_and_the_daemon_recovers")
        || !loop_tools_available("a_full_disk_fails_mutations_by_name_and_the_daemon_recovers")
    {
        return;
    }
    in_private_mount_namespace(
        "a_full_disk_fails_mutations_by_name_and_the_daemon_recovers",
        || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(full_disk());
        },
    );
}

async fn full_disk() {
    let disk = SmallStateDisk::mount();
    let (root, state) = (&disk.root, &disk.state);
    // The daemon makes its state directory 0700 itself; the filesystem root is 0755.

    let bus = TestBus::start();
    // The free-space mark and the write rate are off: this test is about the store failing
    // beneath the guard (the guard's own test is below).
    let config = static_config(
        "AIRGAP",
        "[limits]\nstore_min_free_bytes = 0\nmax_owner_writes_per_minute = 4000000000\n",
    );
    let mut daemon = DaemonProcess::start_in(&bus, &config, root.path(), &[]);
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;

    let mut spec: HashMap<String, OwnedVariant> = HashMap::new();
    spec.insert("domains".into(), variant(vec!["coding"]));
    spec.insert("contexts".into(), variant(vec!["work"]));
    spec.insert("retention".into(), variant("permanent"));
    let contract: String = call_daemon(
        &owner,
        "Contracts1",
        "CreateDraft",
        &("procedural", spec.clone()),
    )
    .await
    .unwrap();
    let () = call_daemon(&owner, "Contracts1", "Submit", &(contract.as_str(),))
        .await
        .unwrap();
    let () = call_daemon(&owner, "Contracts1", "Activate", &(contract.as_str(),))
        .await
        .unwrap();

    let mut acknowledged = Vec::new();
    let recall = || {
        let mut request: HashMap<String, OwnedVariant> = HashMap::new();
        request.insert("domain".into(), variant("coding"));
        request.insert("context".into(), variant("work"));
        request.insert("classification".into(), variant(1u8));
        request
    };
    let answer: (bool, String, String, String) =
        call_daemon(&owner, "Enforcement1", "CheckRecall", &(recall(),))
            .await
            .unwrap();
    assert!(answer.0, "recall before the disk filled: {answer:?}");

    // Fill the disk, then register until the store refuses. SQLite may still fit a few
    // commits into pages it already has.
    let filler_path = state.join("filler");
    let filler = fill(&filler_path);
    let mut refusal = None;
    for i in 0..5000 {
        let memory_id = format!("01K{i:023}");
        match call_daemon::<_, (bool, String, String, String, String)>(
            &owner,
            "Enforcement1",
            "RegisterMemory",
            &(register_request(&contract, &memory_id),),
        )
        .await
        {
            Ok((true, ..)) => acknowledged.push(memory_id),
            Ok(other) => panic!("a registration was denied, not failed: {other:?}"),
            Err(err) => {
                refusal = Some(err);
                break;
            }
        }
    }
    let refusal = refusal.expect("the store never ran out of space");
    assert_eq!(
        error_name(&refusal),
        "org.learningcontracts.Error.StoreFailed",
        "a full disk must fail with the named error: {refusal}"
    );
    let message = format!("{refusal}");
    assert!(!message.is_empty());

    // Other mutations fail the same way, and nothing half-applied shows.
    let failed = call_daemon::<_, String>(
        &owner,
        "Contracts1",
        "CreateDraft",
        &("procedural", spec.clone()),
    )
    .await;
    let failed = failed.expect_err("a draft was created on a full disk");
    assert_eq!(
        error_name(&failed),
        "org.learningcontracts.Error.StoreFailed"
    );

    // Checks keep answering, and deny with a named reason until a commit succeeds again.
    let answer: (bool, String, String, String) =
        call_daemon(&owner, "Enforcement1", "CheckRecall", &(recall(),))
            .await
            .unwrap();
    assert!(
        !answer.0,
        "a check allowed while the store cannot be written: {answer:?}"
    );
    assert_eq!(answer.1, "store_unavailable", "{answer:?}");
    let _gate_answered: (bool, String, String) =
        call_daemon(&owner, "Enforcement1", "RecallGate", &(1u8,))
            .await
            .unwrap();

    // Space returns: the daemon notices by itself (it retries the store once a second), checks
    // allow again, and the next change commits.
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer: (bool, String, String, String) =
            call_daemon(&owner, "Enforcement1", "CheckRecall", &(recall(),))
                .await
                .unwrap();
        if answer.0 {
            break;
        }
        assert_eq!(answer.1, "store_unavailable", "{answer:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "checks still deny 10 s after space returned: {answer:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let memory_id = "01K9RECOVERED000000000000".to_string();
    let recovered: (bool, String, String, String, String) = call_daemon(
        &owner,
        "Enforcement1",
        "RegisterMemory",
        &(register_request(&contract, &memory_id),),
    )
    .await
    .expect("the daemon did not recover when space returned");
    assert!(recovered.0, "{recovered:?}");
    acknowledged.push(memory_id);
    let answer: (bool, String, String, String) =
        call_daemon(&owner, "Enforcement1", "CheckRecall", &(recall(),))
            .await
            .unwrap();
    assert!(answer.0, "recall after recovery: {answer:?}");

    // A restart keeps everything acknowledged, and the chain verifies.
    assert!(daemon.stop().success(), "{}", daemon.log());
    drop(daemon);
    let _daemon = DaemonProcess::start_in(&bus, &config, root.path(), &[]);
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let memories: Vec<HashMap<String, OwnedVariant>> =
        call_daemon(&owner, "Memories1", "List", &(contract.as_str(),))
            .await
            .unwrap();
    let stored: std::collections::BTreeSet<String> = memories
        .iter()
        .map(|m| String::try_from(m["id"].try_clone().unwrap()).unwrap())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged memory {id} was lost");
    }
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "a refused registration was stored"
    );
    let admin = connect_as(&bus, 0, &[0]).await;
    let verified: (bool, u64, u64, String) =
        call_daemon(&admin, "Audit1", "Verify", &()).await.unwrap();
    assert!(verified.0, "{}", verified.3);
    println!(
        "{} registrations fitted before the disk was full; refused with {}",
        acknowledged.len() - 1,
        error_name(&refusal)
    );
}

#[test]
fn below_the_free_space_mark_owners_are_refused_while_an_admin_lockdown_commits() {
    let name = "below_the_free_space_mark_owners_are_refused_while_an_admin_lockdown_commits";
    if !require_root(name) || !loop_tools_available(name) {
        return;
    }
    in_private_mount_namespace(name, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(free_space_mark());
    });
}

/// Free space on the filesystem holding `dir`, as an unprivileged user sees it.
fn free_bytes(dir: &std::path::Path) -> u64 {
    let stats = nix::sys::statvfs::statvfs(dir).unwrap();
    stats.blocks_available() * stats.fragment_size()
}

async fn free_space_mark() {
    const MARK: u64 = 2 << 20;
    let disk = SmallStateDisk::mount();
    let (root, state) = (&disk.root, &disk.state);
    let bus = TestBus::start();
    let config = static_config(
        "OPEN",
        &format!("[limits]\nstore_min_free_bytes = {MARK}\n"),
    );
    let _daemon = DaemonProcess::start_in(&bus, &config, root.path(), &[]);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let admin = connect_as(&bus, 0, &[0]).await;
    let spec = || {
        let mut spec: HashMap<String, OwnedVariant> = HashMap::new();
        spec.insert("domains".into(), variant(vec!["coding"]));
        spec
    };
    let _: String = call_daemon(&owner, "Contracts1", "CreateDraft", &("episodic", spec()))
        .await
        .expect("a draft while there is room");

    // Fill the disk, then give back a little less than the mark: room for the reserve only.
    let filler_path = state.join("filler");
    let filler = fill(&filler_path);
    let full = filler.metadata().unwrap().len();
    filler.set_len(full - (MARK - (256 << 10))).unwrap();
    filler.sync_all().unwrap();
    let free = free_bytes(state);
    assert!(free < MARK && free > 0, "{free} bytes free");

    let refused =
        call_daemon::<_, String>(&owner, "Contracts1", "CreateDraft", &("episodic", spec()))
            .await
            .expect_err("a draft below the free-space mark");
    assert_eq!(
        error_name(&refused),
        "org.learningcontracts.Error.LimitReached",
        "{refused}"
    );
    assert!(
        format!("{refused}").contains("store_min_free_bytes"),
        "{refused}"
    );

    // The admin's lockdown commits from the reserve and applies.
    let () = call_daemon(&admin, "Boundary1", "EnterLockdown", &("disk nearly full",))
        .await
        .expect("lockdown below the free-space mark");
    let mode = String::try_from(boundary_property(&admin, "Mode").await).unwrap();
    assert_eq!(mode, "LOCKDOWN");
    let verified: (bool, u64, u64, String) =
        call_daemon(&admin, "Audit1", "Verify", &()).await.unwrap();
    assert!(verified.0, "{}", verified.3);
}
