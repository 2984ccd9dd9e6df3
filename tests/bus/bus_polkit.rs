//! The polkit authorizer against python-dbusmock's polkitd template on the private bus
//! (SEMANTICS.md section 12): polkit decides the owner's confirmation and every admin right,
//! uid 0 is always an admin, the unix admin group means nothing under polkit, and without an
//! answer from polkit everything but root is denied.

use crate::common::bus::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OK: &str = "ok";
const DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const NOT_FOUND: &str = "org.learningcontracts.Error.NotFound";
const POLKIT: &str = "org.freedesktop.PolicyKit1";
const AUTHORITY: &str = "/org/freedesktop/PolicyKit1/Authority";

/// python3-dbusmock must be installed for the system python (Debian: python3-dbusmock).
fn require_dbusmock(test: &str) -> bool {
    require_python_module(test, "dbusmock", "python3-dbusmock")
}

/// dbusmock's polkitd on the test bus; by default it authorizes nothing.
struct PolkitMock {
    child: Child,
}

impl PolkitMock {
    fn start(bus: &TestBus) -> PolkitMock {
        let log = bus.dir.path().join("polkit-mock.log");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "dbusmock", "--system", "--template", "polkitd"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start python3 -m dbusmock");
        let mut mock = PolkitMock { child };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = mock.child.try_wait().unwrap() {
                panic!(
                    "the polkitd mock exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let owned = Command::new("busctl")
                .arg(format!("--address={}", bus.address))
                .args(["status", POLKIT])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if owned {
                return mock;
            }
            assert!(
                Instant::now() < deadline,
                "the polkitd mock did not own its name in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Authorizes exactly `actions` from now on.
    async fn allow(root: &zbus::Connection, actions: &[&str]) {
        root.call_method(
            Some(POLKIT),
            AUTHORITY,
            Some("org.freedesktop.DBus.Mock"),
            "SetAllowed",
            &(actions.to_vec(),),
        )
        .await
        .unwrap();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PolkitMock {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bus with the polkitd mock, then the daemon in polkit mode (which looks for polkitd at
/// startup), with `admin_group` configured to show that it means nothing under polkit.
async fn start() -> (TestBus, PolkitMock, DaemonProcess) {
    let bus = TestBus::start();
    let mock = PolkitMock::start(&bus);
    let config = polkit_config("AIRGAP", "").replace(
        "mode = \"polkit\"\n",
        "mode = \"polkit\"\nadmin_group = \"staff\"\n",
    );
    let daemon = DaemonProcess::start(&bus, &config);
    let log = eventually("the daemon to log its authorization mode", || async {
        let log = daemon.log();
        log.contains("authorization mode").then_some(log)
    })
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("authorization mode"))
        .unwrap();
    assert!(
        line.contains("polkit"),
        "the daemon did not choose polkit: {line}"
    );
    (bus, mock, daemon)
}

async fn in_review(contracts: &Contracts1Proxy<'_>, domain: &str) -> String {
    let id = contracts
        .create_draft("episodic", &episodic_spec(&[domain]))
        .await
        .unwrap();
    contracts.submit(&id).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polkit_decides_the_owners_confirmation_and_reading_all() {
    if !require_root("polkit_decides_the_owners_confirmation_and_reading_all")
        || !require_dbusmock("polkit_decides_the_owners_confirmation_and_reading_all")
    {
        return;
    }
    let (bus, _mock, _daemon) = start().await;
    let u = users();
    let root = connect_as(&bus, 0, &[0]).await;
    let owner = Contracts1Proxy::new(&connect_as(&bus, u.owner, &[]).await)
        .await
        .unwrap();
    let other = Contracts1Proxy::new(&connect_as(&bus, u.other, &[]).await)
        .await
        .unwrap();
    let admin = Contracts1Proxy::new(&root).await.unwrap();

    // polkit allows nothing: the owner's activation is refused and nothing changes; root is
    // always an admin.
    let first = in_review(&owner, "coding").await;
    assert_eq!(outcome(&owner.activate(&first).await), DENIED);
    assert_eq!(
        field::<String>(&owner.get(&first).await.unwrap(), "state"),
        "review"
    );
    assert_eq!(outcome(&admin.activate(&first).await), OK);
    assert_eq!(
        field::<String>(&owner.get(&first).await.unwrap(), "state"),
        "active"
    );
    // Asking for a deep purge needs the same confirmation.
    let revoked = in_review(&owner, "music").await;
    owner.revoke(&revoked, "withdrawn").await.unwrap();
    let memories = Memories1Proxy::new(owner.inner().connection())
        .await
        .unwrap();
    assert_eq!(outcome(&memories.request_purge(&revoked).await), DENIED);

    // Once polkit confirms the owner, the owner activates.
    PolkitMock::allow(&root, &["org.learningcontracts.confirm-own"]).await;
    let second = in_review(&owner, "cooking").await;
    assert_eq!(outcome(&owner.activate(&second).await), OK);
    assert_eq!(
        field::<String>(&owner.get(&second).await.unwrap(), "state"),
        "active"
    );
    assert_eq!(outcome(&memories.request_purge(&revoked).await), OK);
    // Confirming one's own is no admin right.
    assert_eq!(outcome(&other.get(&second).await), NOT_FOUND);
    assert_eq!(
        outcome(&other.list(&dict(&[("owner", u.owner.into())])).await),
        DENIED
    );

    // With manage-all, another user reads the owner's contracts.
    PolkitMock::allow(&root, &["org.learningcontracts.manage-all"]).await;
    let read = other.get(&second).await.unwrap();
    assert_eq!(field::<u32>(&read, "owner"), u.owner);
    assert_eq!(field::<String>(&read, "state"), "active");
    let listed = other
        .list(&dict(&[("owner", u.owner.into())]))
        .await
        .unwrap();
    let ids: Vec<String> = listed.iter().map(|c| field(c, "id")).collect();
    assert!(
        ids.contains(&first) && ids.contains(&second),
        "{ids:?} lacks {first} or {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polkit_decides_admin_actions_and_the_unix_group_means_nothing() {
    if !require_root("polkit_decides_admin_actions_and_the_unix_group_means_nothing")
        || !require_dbusmock("polkit_decides_admin_actions_and_the_unix_group_means_nothing")
    {
        return;
    }
    let (bus, _mock, _daemon) = start().await;
    let u = users();
    let root = connect_as(&bus, 0, &[0]).await;
    let group_admin = connect_as(&bus, u.group_admin, &[u.admin_gid]).await;
    let boundary: Boundary1Proxy = uncached(&group_admin).await;
    let daemon1 = Daemon1Proxy::new(&group_admin).await.unwrap();
    let audit = Audit1Proxy::new(&group_admin).await.unwrap();
    let root_boundary = Boundary1Proxy::new(&root).await.unwrap();

    for (what, result) in [
        ("EnterLockdown", boundary.enter_lockdown("drill").await),
        ("PauseAll", boundary.pause_all("incident").await),
        ("SetOverride", boundary.set_override("OPEN", "test").await),
        ("Reload", daemon1.reload().await),
        ("Audit1.Read", audit.read(0, 1).await.map(|_| ())),
    ] {
        assert_eq!(outcome(&result), DENIED, "{what} by the unix admin group");
    }
    assert!(!boundary.lockdown().await.unwrap());

    PolkitMock::allow(
        &root,
        &[
            "org.learningcontracts.enter-lockdown",
            "org.learningcontracts.pause-all",
        ],
    )
    .await;
    assert_eq!(outcome(&boundary.enter_lockdown("drill").await), OK);
    assert!(boundary.lockdown().await.unwrap());
    // Releasing is its own action.
    assert_eq!(outcome(&boundary.release_lockdown("over").await), DENIED);
    assert_eq!(outcome(&boundary.pause_all("incident").await), OK);
    assert_eq!(outcome(&boundary.resume_all().await), OK);
    assert_eq!(
        outcome(&boundary.set_override("OPEN", "test").await),
        DENIED
    );
    PolkitMock::allow(&root, &["org.learningcontracts.release-lockdown"]).await;
    assert_eq!(outcome(&boundary.release_lockdown("over").await), OK);
    assert!(!boundary.lockdown().await.unwrap());
    // Root needs nothing from polkit.
    PolkitMock::allow(&root, &[]).await;
    assert_eq!(
        outcome(&root_boundary.set_override("OPEN", "test").await),
        OK
    );
    assert_eq!(outcome(&root_boundary.clear_override().await), OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_answer_from_polkit_only_root_is_authorized() {
    if !require_root("without_an_answer_from_polkit_only_root_is_authorized")
        || !require_dbusmock("without_an_answer_from_polkit_only_root_is_authorized")
    {
        return;
    }
    let (bus, mut mock, _daemon) = start().await;
    let u = users();
    let root = connect_as(&bus, 0, &[0]).await;
    let owner = Contracts1Proxy::new(&connect_as(&bus, u.owner, &[]).await)
        .await
        .unwrap();
    let admin = Contracts1Proxy::new(&root).await.unwrap();
    PolkitMock::allow(
        &root,
        &[
            "org.learningcontracts.confirm-own",
            "org.learningcontracts.manage-all",
        ],
    )
    .await;
    let id = in_review(&owner, "coding").await;

    // polkitd goes away: fail closed.
    mock.stop();
    let refused = owner.activate(&id).await;
    assert_eq!(outcome(&refused), DENIED, "{refused:?}");
    assert_eq!(
        field::<String>(&owner.get(&id).await.unwrap(), "state"),
        "review"
    );
    // Ordinary calls that need no authorization still work.
    let draft = owner
        .create_draft("episodic", &episodic_spec(&["music"]))
        .await;
    assert_eq!(outcome(&draft), OK);
    assert_eq!(outcome(&admin.activate(&id).await), OK);
}
