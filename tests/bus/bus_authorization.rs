//! The authorization matrix of SEMANTICS.md section 12 in unix mode, on a private system bus:
//! callers root, the owner, another user, an agent the owner delegated to, and a member of the
//! configured admin group, against every mutating method (and the reads they rely on).
//!
//! Unix mode: an admin is uid 0 or a member of `admin_group`; the owner's human confirmation is
//! being the owner's own uid, which a delegated agent never is. A contract the caller may not
//! see answers NotFound, so that its existence is not revealed; an admin sees every contract,
//! so an admin refused an owner-only action is told AccessDenied.

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

const OK: &str = "ok";
const DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const NOT_FOUND: &str = "org.learningcontracts.Error.NotFound";
const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    Root,
    Owner,
    Other,
    Agent,
    GroupAdmin,
}

use Who::*;

/// The delegated agent may read its owner's contracts (SEMANTICS.md section 12), so a change it
/// may not make answers AccessDenied; a stranger's answer is NotFound, revealing nothing.
const CALLERS: [Who; 5] = [Root, Owner, Other, Agent, GroupAdmin];

/// One bus and daemon with a connection per caller.
struct World {
    _daemon: InProcessDaemon,
    _bus: TestBus,
    users: Users,
    connections: HashMap<Who, zbus::Connection>,
    next: AtomicUsize,
}

impl World {
    async fn start() -> World {
        let users = users();
        let config = unix_config(
            "AIRGAP",
            "staff",
            &format!(
                "[[delegation]]\nagent = {}\nowners = [{}]\n",
                users.agent, users.owner
            ),
        );
        let bus = TestBus::start();
        let daemon = InProcessDaemon::start(&bus, &config);
        let mut connections = HashMap::new();
        connections.insert(Root, connect_as(&bus, 0, &[0]).await);
        connections.insert(Owner, connect_as(&bus, users.owner, &[]).await);
        connections.insert(Other, connect_as(&bus, users.other, &[]).await);
        connections.insert(Agent, connect_as(&bus, users.agent, &[]).await);
        connections.insert(
            GroupAdmin,
            connect_as(&bus, users.group_admin, &[users.admin_gid]).await,
        );
        World {
            _daemon: daemon,
            _bus: bus,
            users,
            connections,
            next: AtomicUsize::new(0),
        }
    }

    fn uid(&self, who: Who) -> u32 {
        match who {
            Root => 0,
            Owner => self.users.owner,
            Other => self.users.other,
            Agent => self.users.agent,
            GroupAdmin => self.users.group_admin,
        }
    }

    fn conn(&self, who: Who) -> &zbus::Connection {
        &self.connections[&who]
    }

    async fn contracts(&self, who: Who) -> Contracts1Proxy<'static> {
        uncached(self.conn(who)).await
    }

    async fn boundary(&self, who: Who) -> Boundary1Proxy<'static> {
        uncached(self.conn(who)).await
    }

    async fn memories(&self, who: Who) -> Memories1Proxy<'static> {
        Memories1Proxy::new(self.conn(who)).await.unwrap()
    }

    async fn sessions(&self, who: Who) -> Sessions1Proxy<'static> {
        Sessions1Proxy::new(self.conn(who)).await.unwrap()
    }

    async fn enforcement(&self, who: Who) -> Enforcement1Proxy<'static> {
        Enforcement1Proxy::new(self.conn(who)).await.unwrap()
    }

    /// A fresh domain name, so contracts of one cell never decide another's checks.
    fn domain(&self) -> String {
        format!("domain-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// A new Draft of the owner.
    async fn draft(&self) -> String {
        self.contracts(Owner)
            .await
            .create_draft("episodic", &episodic_spec(&[&self.domain()]))
            .await
            .unwrap()
    }

    /// A new contract of the owner in Review.
    async fn review(&self) -> String {
        let id = self.draft().await;
        self.contracts(Owner).await.submit(&id).await.unwrap();
        id
    }

    /// A new Active contract of the owner.
    async fn active(&self) -> String {
        let id = self.review().await;
        self.contracts(Owner).await.activate(&id).await.unwrap();
        id
    }

    /// A new Active session-retention contract of the owner.
    async fn active_session_contract(&self) -> String {
        activate_new(
            &self.contracts(Owner).await,
            "episodic",
            session_spec(&[&self.domain()]),
        )
        .await
    }

    /// A Revoked contract of the owner that holds one memory record.
    async fn revoked_with_memory(&self) -> String {
        let domain = self.domain();
        let contracts = self.contracts(Owner).await;
        let id = activate_new(&contracts, "episodic", episodic_spec(&[&domain])).await;
        let (allowed, code, ..) = self
            .enforcement(Owner)
            .await
            .register_memory(&check_request(&domain, "home", 1))
            .await
            .unwrap();
        assert!(allowed, "{code}");
        contracts.revoke(&id, "to purge").await.unwrap();
        id
    }

    /// A contract's state, as root sees it.
    async fn state(&self, id: &str) -> String {
        field(&self.contracts(Root).await.get(id).await.unwrap(), "state")
    }
}

/// What differs in a row of the matrix: every caller whose outcome is not the expected one (an
/// unexpected "ok" first), or `None`.
fn mismatches(method: &str, got: &[(Who, String)], expected: &[(Who, &str)]) -> Option<String> {
    let mut wrong = Vec::new();
    for (who, want) in expected {
        let actual = got
            .iter()
            .find(|(w, _)| w == who)
            .map(|(_, o)| o.as_str())
            .unwrap_or("(not called)");
        if actual != *want {
            let alarm = if actual == OK { "UNEXPECTED OK: " } else { "" };
            wrong.push(format!("{alarm}{who:?}: expected {want}, got {actual}"));
        }
    }
    wrong.sort_by_key(|line| !line.starts_with("UNEXPECTED"));
    (!wrong.is_empty()).then(|| {
        format!(
            "{method}: {} cell(s) differ:\n  {}",
            wrong.len(),
            wrong.join("\n  ")
        )
    })
}

/// Asserts a row of the matrix.
fn assert_row(method: &str, got: &[(Who, String)], expected: &[(Who, &str)]) {
    if let Some(report) = mismatches(method, got, expected) {
        panic!("{report}");
    }
}

/// A row of the matrix: the method, what each caller got, what each should get.
type Row = (&'static str, Vec<(Who, String)>, [(Who, &'static str); 5]);

/// After a refused call, the contract must be as it was.
async fn unchanged(world: &World, who: Who, outcome: &str, id: &str, state: &str) {
    if outcome != OK {
        assert_eq!(
            world.state(id).await,
            state,
            "{who:?} was refused ({outcome}) but the contract changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_draft_is_open_to_every_local_user_who_becomes_its_owner() {
    if !require_root("create_draft_is_open_to_every_local_user_who_becomes_its_owner") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let contracts = w.contracts(who).await;
        let result = contracts
            .create_draft("episodic", &episodic_spec(&[&w.domain()]))
            .await;
        if let Ok(id) = &result {
            // A delegated agent cannot create a contract for its owner: the draft is its own.
            let owner: u32 = field(&contracts.get(id).await.unwrap(), "owner");
            assert_eq!(owner, w.uid(who), "{who:?}'s draft belongs to someone else");
        }
        got.push((who, outcome(&result)));
    }
    assert_row(
        "CreateDraft",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, OK),
            (Agent, OK),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_prohibitions_need_an_admin() {
    if !require_root("system_prohibitions_need_an_admin") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let result = w
            .contracts(who)
            .await
            .create_draft(
                "prohibited",
                &dict(&[
                    ("domains", vec![w.domain()].into()),
                    ("contexts", vec!["*".to_string()].into()),
                    ("retention", "permanent".into()),
                    ("system", true.into()),
                ]),
            )
            .await;
        got.push((who, outcome(&result)));
    }
    assert_row(
        "CreateDraft(system = true)",
        &got,
        &[
            (Root, OK),
            (Owner, DENIED),
            (Other, DENIED),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
    // A refused system prohibition left nothing behind.
    let all = w.contracts(Root).await.list(&Args::new()).await.unwrap();
    assert_eq!(all.len(), 2, "only the admins' prohibitions exist: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_draft_is_the_owners() {
    if !require_root("update_draft_is_the_owners") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.draft().await;
        let result = w
            .contracts(who)
            .await
            .update_draft(&id, &dict(&[("description", "edited".into())]))
            .await;
        let description: String = field(
            &w.contracts(Root).await.get(&id).await.unwrap(),
            "description",
        );
        if result.is_err() {
            assert_eq!(description, "", "{who:?} was refused but the draft changed");
        }
        got.push((who, outcome(&result)));
    }
    assert_row(
        "UpdateDraft",
        &got,
        &[
            (Root, DENIED),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, DENIED),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_is_the_owners() {
    if !require_root("submit_is_the_owners") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.draft().await;
        let result = outcome(&w.contracts(who).await.submit(&id).await);
        unchanged(&w, who, &result, &id, "draft").await;
        got.push((who, result));
    }
    assert_row(
        "Submit",
        &got,
        &[
            (Root, DENIED),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, DENIED),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_to_draft_is_the_owners_or_an_admins() {
    if !require_root("return_to_draft_is_the_owners_or_an_admins") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.review().await;
        let result = outcome(
            &w.contracts(who)
                .await
                .return_to_draft(&id, "please change")
                .await,
        );
        unchanged(&w, who, &result, &id, "review").await;
        got.push((who, result));
    }
    assert_row(
        "ReturnToDraft",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_needs_the_owners_confirmation_or_an_admin() {
    if !require_root("activate_needs_the_owners_confirmation_or_an_admin") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.review().await;
        let result = outcome(&w.contracts(who).await.activate(&id).await);
        unchanged(&w, who, &result, &id, "review").await;
        got.push((who, result));
    }
    assert_row(
        "Activate",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amend_is_the_owners() {
    if !require_root("amend_is_the_owners") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.active().await;
        let before = w
            .contracts(Root)
            .await
            .list(&Args::new())
            .await
            .unwrap()
            .len();
        let result = outcome(
            &w.contracts(who)
                .await
                .amend(&id, &dict(&[("description", "amended".into())]))
                .await,
        );
        if result != OK {
            let after = w
                .contracts(Root)
                .await
                .list(&Args::new())
                .await
                .unwrap()
                .len();
            assert_eq!(after, before, "{who:?} was refused but a draft was made");
        }
        got.push((who, result));
    }
    assert_row(
        "Amend",
        &got,
        &[
            (Root, DENIED),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, DENIED),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activating_an_amendment_needs_the_owners_confirmation_or_an_admin() {
    if !require_root("activating_an_amendment_needs_the_owners_confirmation_or_an_admin") {
        return;
    }
    let w = World::start().await;
    let owner = w.contracts(Owner).await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.active().await;
        let amendment = owner
            .amend(&id, &dict(&[("description", "amended".into())]))
            .await
            .unwrap();
        owner.submit(&amendment).await.unwrap();
        let result = outcome(&w.contracts(who).await.activate(&amendment).await);
        if result == OK {
            assert_eq!(w.state(&id).await, "amended");
        } else {
            assert_eq!(w.state(&id).await, "active");
            unchanged(&w, who, &result, &amendment, "review").await;
        }
        got.push((who, result));
    }
    assert_row(
        "Activate(amendment)",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_is_the_owners_or_an_admins() {
    if !require_root("revoke_is_the_owners_or_an_admins") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.active().await;
        let result = outcome(&w.contracts(who).await.revoke(&id, "stop").await);
        unchanged(&w, who, &result, &id, "active").await;
        got.push((who, result));
    }
    assert_row(
        "Revoke",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_purge_needs_the_owners_confirmation_or_an_admin() {
    if !require_root("request_purge_needs_the_owners_confirmation_or_an_admin") {
        return;
    }
    let w = World::start().await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.revoked_with_memory().await;
        let result = w.memories(who).await.request_purge(&id).await;
        if let Ok(token) = &result {
            assert!(!token.is_empty());
        }
        got.push((who, outcome(&result)));
    }
    assert_row(
        "RequestPurge",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_purge_needs_a_token_of_ones_own() {
    if !require_root("confirm_purge_needs_a_token_of_ones_own") {
        return;
    }
    let w = World::start().await;
    let root_memories = w.memories(Root).await;
    let mut got = Vec::new();
    for who in CALLERS {
        let id = w.revoked_with_memory().await;
        // Those who may ask for a token use their own; the others present the owner's.
        let token = match w.memories(who).await.request_purge(&id).await {
            Ok(token) => token,
            Err(_) => w.memories(Owner).await.request_purge(&id).await.unwrap(),
        };
        let result = w.memories(who).await.confirm_purge(&id, &token).await;
        match &result {
            Ok(count) => assert_eq!(*count, 1),
            Err(_) => assert_eq!(
                root_memories.list(&id).await.unwrap().len(),
                1,
                "{who:?} was refused but the records are gone"
            ),
        }
        got.push((who, outcome(&result)));
    }
    assert_row(
        "ConfirmPurge",
        &got,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_purge_by_a_stranger_looks_like_a_missing_contract() {
    if !require_root("confirm_purge_by_a_stranger_looks_like_a_missing_contract") {
        return;
    }
    let w = World::start().await;
    // A stranger guessing a token for the owner's contract learns nothing either: the answer is
    // the one for a contract that does not exist.
    let id = w.revoked_with_memory().await;
    let guess = "0".repeat(64);
    let strangers = w.memories(Other).await;
    let existing = outcome(&strangers.confirm_purge(&id, &guess).await);
    let missing = outcome(
        &strangers
            .confirm_purge("01ARZ3NDEKTSV4RRFFQ69G5FAV", &guess)
            .await,
    );
    assert_eq!(
        (existing.as_str(), missing.as_str()),
        (NOT_FOUND, NOT_FOUND),
        "ConfirmPurge by a stranger reveals that the owner's contract exists"
    );
}

/// Runs an admin-only Boundary1 or Daemon1 action for every caller; `prepare` sets the state
/// before each call and `undo` restores it after a call that succeeded (both as root).
async fn admin_only_row<C, P, U>(w: &World, method: &str, call: C, prepare: P, undo: U)
where
    C: AsyncFn(&World, Who) -> zbus::Result<()>,
    P: AsyncFn(&World),
    U: AsyncFn(&World),
{
    let mut got = Vec::new();
    for who in CALLERS {
        prepare(w).await;
        let result = call(w, who).await;
        if result.is_ok() {
            undo(w).await;
        }
        got.push((who, outcome(&result)));
    }
    assert_row(
        method,
        &got,
        &[
            (Root, OK),
            (Owner, DENIED),
            (Other, DENIED),
            (Agent, DENIED),
            (GroupAdmin, OK),
        ],
    );
}

async fn nothing(_: &World) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdown_is_for_admins() {
    if !require_root("lockdown_is_for_admins") {
        return;
    }
    let w = World::start().await;
    let release = async |w: &World| {
        let boundary = w.boundary(Root).await;
        if boundary.lockdown().await.unwrap() {
            boundary.release_lockdown("test cell done").await.unwrap();
        }
    };
    admin_only_row(
        &w,
        "EnterLockdown",
        async |w: &World, who| w.boundary(who).await.enter_lockdown("drill").await,
        nothing,
        release,
    )
    .await;
    assert!(!w.boundary(Root).await.lockdown().await.unwrap());
    admin_only_row(
        &w,
        "ReleaseLockdown",
        async |w: &World, who| w.boundary(who).await.release_lockdown("over").await,
        async |w: &World| {
            let boundary = w.boundary(Root).await;
            if !boundary.lockdown().await.unwrap() {
                boundary.enter_lockdown("drill").await.unwrap();
            }
        },
        nothing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mode_override_is_for_admins() {
    if !require_root("the_mode_override_is_for_admins") {
        return;
    }
    let w = World::start().await;
    admin_only_row(
        &w,
        "SetOverride",
        async |w: &World, who| {
            w.boundary(who)
                .await
                .set_override("RESTRICTED", "maintenance")
                .await
        },
        nothing,
        async |w: &World| w.boundary(Root).await.clear_override().await.unwrap(),
    )
    .await;
    assert_eq!(w.boundary(Root).await.mode_override().await.unwrap(), "");
    admin_only_row(
        &w,
        "ClearOverride",
        async |w: &World, who| w.boundary(who).await.clear_override().await,
        async |w: &World| {
            w.boundary(Root)
                .await
                .set_override("RESTRICTED", "maintenance")
                .await
                .unwrap()
        },
        nothing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_everyone_is_for_admins() {
    if !require_root("pausing_everyone_is_for_admins") {
        return;
    }
    let w = World::start().await;
    admin_only_row(
        &w,
        "PauseAll",
        async |w: &World, who| w.boundary(who).await.pause_all("incident").await,
        nothing,
        async |w: &World| w.boundary(Root).await.resume_all().await.unwrap(),
    )
    .await;
    assert!(!w.boundary(Root).await.paused_all().await.unwrap());
    admin_only_row(
        &w,
        "ResumeAll",
        async |w: &World, who| w.boundary(who).await.resume_all().await,
        async |w: &World| {
            let boundary = w.boundary(Root).await;
            if !boundary.paused_all().await.unwrap() {
                boundary.pause_all("incident").await.unwrap();
            }
        },
        nothing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_is_for_admins() {
    if !require_root("reload_is_for_admins") {
        return;
    }
    let w = World::start().await;
    admin_only_row(
        &w,
        "Reload",
        async |w: &World, who| Daemon1Proxy::new(w.conn(who)).await.unwrap().reload().await,
        nothing,
        nothing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_audit_log_is_for_admins() {
    if !require_root("reading_the_audit_log_is_for_admins") {
        return;
    }
    let w = World::start().await;
    admin_only_row(
        &w,
        "Audit1.Read",
        async |w: &World, who| {
            Audit1Proxy::new(w.conn(who))
                .await
                .unwrap()
                .read(0, 10)
                .await
                .map(|_| ())
        },
        nothing,
        nothing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_the_audit_log_is_for_admins() {
    if !require_root("verifying_the_audit_log_is_for_admins") {
        return;
    }
    let w = World::start().await;
    admin_only_row(
        &w,
        "Audit1.Verify",
        async |w: &World, who| {
            Audit1Proxy::new(w.conn(who))
                .await
                .unwrap()
                .verify()
                .await
                .map(|_| ())
        },
        nothing,
        nothing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_pauses_and_resumes_only_their_own_learning() {
    if !require_root("everyone_pauses_and_resumes_only_their_own_learning") {
        return;
    }
    let w = World::start().await;
    let domain = w.domain();
    activate_new(
        &w.contracts(Owner).await,
        "episodic",
        episodic_spec(&[&domain]),
    )
    .await;
    let owners_check = async || {
        let (_, code, ..) = w
            .enforcement(Owner)
            .await
            .check_memory_creation(&check_request(&domain, "home", 1))
            .await
            .unwrap();
        code
    };
    let mut paused = Vec::new();
    let mut resumed = Vec::new();
    for who in CALLERS {
        let boundary = w.boundary(who).await;
        let result = boundary.pause_learning("a break").await;
        let expected = if who == Owner { "paused" } else { "allowed" };
        assert_eq!(
            owners_check().await,
            expected,
            "{who:?}'s pause must concern {who:?}'s own learning only"
        );
        paused.push((who, outcome(&result)));
        resumed.push((who, outcome(&boundary.resume_learning().await)));
        assert_eq!(owners_check().await, "allowed");
    }
    let everyone = [
        (Root, OK),
        (Owner, OK),
        (Other, OK),
        (Agent, OK),
        (GroupAdmin, OK),
    ];
    assert_row("PauseLearning", &paused, &everyone);
    assert_row("ResumeLearning", &resumed, &everyone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_open_is_open_to_every_local_caller() {
    if !require_root("sessions_open_is_open_to_every_local_caller") {
        return;
    }
    let w = World::start().await;
    let mut opened = Vec::new();
    for who in CALLERS {
        opened.push((
            who,
            outcome(&w.sessions(who).await.open(&Args::new()).await),
        ));
    }
    assert_row(
        "Sessions1.Open",
        &opened,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, OK),
            (Agent, OK),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_is_for_the_opener_the_owner_or_an_admin() {
    if !require_root("sessions_end_is_for_the_opener_the_owner_or_an_admin") {
        return;
    }
    let w = World::start().await;
    let owner_sessions = w.sessions(Owner).await;
    // End a session the owner opened: its opener, its owner or an admin.
    let mut ended = Vec::new();
    for who in CALLERS {
        let session = owner_sessions.open(&Args::new()).await.unwrap();
        let result = outcome(&w.sessions(who).await.end(&session).await);
        if result != OK {
            // Still open: the owner can end it.
            owner_sessions.end(&session).await.unwrap();
        }
        ended.push((who, result));
    }
    assert_row(
        "Sessions1.End",
        &ended,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, NOT_FOUND),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_bind_is_for_the_opener_the_owner_or_an_admin() {
    if !require_root("sessions_bind_is_for_the_opener_the_owner_or_an_admin") {
        return;
    }
    let w = World::start().await;
    let owner_sessions = w.sessions(Owner).await;
    // Bind the owner's session contract to a session the owner opened.
    let mut bound = Vec::new();
    for who in CALLERS {
        let session = owner_sessions.open(&Args::new()).await.unwrap();
        let id = w.active_session_contract().await;
        let result = outcome(&w.sessions(who).await.bind(&session, &id).await);
        let session_id: String = field(
            &w.contracts(Root).await.get(&id).await.unwrap(),
            "session_id",
        );
        if result == OK {
            assert_eq!(session_id, session);
        } else {
            assert_eq!(
                session_id, "",
                "{who:?} was refused but the contract is bound"
            );
        }
        owner_sessions.end(&session).await.unwrap();
        bound.push((who, result));
    }
    assert_row(
        "Sessions1.Bind",
        &bound,
        &[
            (Root, OK),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, NOT_FOUND),
            (GroupAdmin, OK),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_follow_ownership_delegation_and_admin_rights() {
    if !require_root("reads_follow_ownership_delegation_and_admin_rights") {
        return;
    }
    let w = World::start().await;
    let domain = w.domain();
    let id = activate_new(
        &w.contracts(Owner).await,
        "episodic",
        episodic_spec(&[&domain]),
    )
    .await;
    let mut request = check_request(&domain, "home", 1);
    request.extend(dict(&[("memory_id", "owners-memory".into())]));
    let (allowed, code, ..) = w
        .enforcement(Owner)
        .await
        .register_memory(&request)
        .await
        .unwrap();
    assert!(allowed, "{code}");
    let everyone_but_strangers = |stranger: &'static str| {
        [
            (Root, OK),
            (Owner, OK),
            (Other, stranger),
            (Agent, OK),
            (GroupAdmin, OK),
        ]
    };

    let mut rows: Vec<Row> = Vec::new();
    let mut got = Vec::new();
    for who in CALLERS {
        got.push((who, outcome(&w.contracts(who).await.get(&id).await)));
    }
    rows.push(("Contracts1.Get", got, everyone_but_strangers(NOT_FOUND)));
    let mut got = Vec::new();
    for who in CALLERS {
        let result = w
            .contracts(who)
            .await
            .list(&dict(&[("owner", w.users.owner.into())]))
            .await;
        if let Ok(list) = &result {
            assert!(
                list.iter().any(|c| field::<String>(c, "id") == id),
                "{who:?} listed the owner's contracts without {id}"
            );
        }
        got.push((who, outcome(&result)));
    }
    rows.push((
        "Contracts1.List(owner)",
        got,
        everyone_but_strangers(DENIED),
    ));
    let mut got = Vec::new();
    for who in CALLERS {
        got.push((
            who,
            outcome(&w.memories(who).await.get("owners-memory").await),
        ));
    }
    // Memory ids belong to their owner: Get looks among the caller's own memories only.
    rows.push((
        "Memories1.Get",
        got,
        [
            (Root, NOT_FOUND),
            (Owner, OK),
            (Other, NOT_FOUND),
            (Agent, NOT_FOUND),
            (GroupAdmin, NOT_FOUND),
        ],
    ));
    let mut got = Vec::new();
    for who in CALLERS {
        got.push((
            who,
            outcome(
                &w.memories(who)
                    .await
                    .get_for_owner(w.users.owner, "owners-memory")
                    .await,
            ),
        ));
    }
    rows.push((
        "Memories1.GetForOwner",
        got,
        everyone_but_strangers(NOT_FOUND),
    ));
    let mut got = Vec::new();
    for who in CALLERS {
        got.push((who, outcome(&w.memories(who).await.list(&id).await)));
    }
    rows.push(("Memories1.List", got, everyone_but_strangers(NOT_FOUND)));

    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(method, got, expected)| mismatches(method, got, expected))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegated_agent_checks_registers_and_opens_sessions_for_its_owner() {
    if !require_root("a_delegated_agent_checks_registers_and_opens_sessions_for_its_owner") {
        return;
    }
    let w = World::start().await;
    let domain = w.domain();
    let id = activate_new(
        &w.contracts(Owner).await,
        "procedural",
        dict(&[
            ("domains", vec![domain.clone()].into()),
            ("contexts", vec!["*".to_string()].into()),
            ("retention", "permanent".into()),
            ("transferable", true.into()),
        ]),
    )
    .await;
    let agent = w.enforcement(Agent).await;
    let named = |owner: u32| {
        let mut request = check_request(&domain, "home", 1);
        request.extend(dict(&[("owner", owner.into())]));
        request
    };

    // Every check, with the owner left out (one owner) and named: the owner's contract decides.
    for request in [check_request(&domain, "home", 1), named(w.users.owner)] {
        let mut abstraction = request.clone();
        abstraction.extend(dict(&[("abstraction", "heuristic".into())]));
        for (check, result) in [
            ("creation", agent.check_memory_creation(&request).await),
            ("abstraction", agent.check_abstraction(&abstraction).await),
            ("recall", agent.check_recall(&request).await),
        ] {
            let (allowed, code, _, decided) = result.unwrap();
            assert_eq!(
                (allowed, code.as_str(), decided.as_str()),
                (true, "allowed", id.as_str()),
                "the agent's {check} check"
            );
        }
        // Export is refused in AIRGAP, by the owner's contract.
        let (allowed, code, _, decided) = agent.check_export(&request).await.unwrap();
        assert_eq!(
            (allowed, code.as_str(), decided.as_str()),
            (false, "boundary_mode", id.as_str())
        );
    }

    // RegisterMemory for the owner: the record is the owner's.
    let mut request = check_request(&domain, "home", 1);
    request.extend(dict(&[("memory_id", "agents-memory".into())]));
    let (allowed, code, _, decided, memory) = agent.register_memory(&request).await.unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str(), memory.as_str()),
        (true, "allowed", id.as_str(), "agents-memory")
    );
    let record = w.memories(Owner).await.get("agents-memory").await.unwrap();
    assert_eq!(field::<String>(&record, "contract_id"), id);
    let (allowed, code, ..) = agent.register_memory(&named(w.users.owner)).await.unwrap();
    assert!(allowed, "{code}");

    // Naming an owner that did not delegate is refused, for the agent and for anyone else.
    for (who, owner) in [
        (Agent, w.users.other),
        (Other, w.users.owner),
        (Owner, w.users.other),
        (GroupAdmin, w.users.owner),
    ] {
        let enforcement = w.enforcement(who).await;
        assert_eq!(
            outcome(&enforcement.check_memory_creation(&named(owner)).await),
            DENIED,
            "{who:?} naming owner {owner} in a check"
        );
        assert_eq!(
            outcome(&enforcement.register_memory(&named(owner)).await),
            DENIED,
            "{who:?} naming owner {owner} in RegisterMemory"
        );
        let options = dict(&[("owner", owner.into())]);
        assert_eq!(
            outcome(&w.sessions(who).await.open(&options).await),
            DENIED,
            "{who:?} naming owner {owner} in Sessions1.Open"
        );
    }

    // A session the agent opens is its owner's: it binds the owner's session contract, the
    // agent ends it, and the contract expires with it.
    let sessions = w.sessions(Agent).await;
    let mut ended = sessions.receive_session_ended().await.unwrap();
    let session = sessions.open(&Args::new()).await.unwrap();
    let contract = w.active_session_contract().await;
    sessions.bind(&session, &contract).await.unwrap();
    sessions.end(&session).await.unwrap();
    let signal = within("SessionEnded", ended.next()).await.unwrap();
    assert_eq!(
        signal.args().unwrap().expired_contract_ids().clone(),
        vec![contract.clone()]
    );
    assert_eq!(w.state(&contract).await, "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_of_several_owners_must_name_one() {
    if !require_root("an_agent_of_several_owners_must_name_one") {
        return;
    }
    let u = users();
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(
        &bus,
        &unix_config(
            "AIRGAP",
            "",
            &format!(
                "[[delegation]]\nagent = {}\nowners = [{}, {}]\n",
                u.agent, u.owner, u.other
            ),
        ),
    );
    let owner = connect_as(&bus, u.owner, &[]).await;
    let agent = connect_as(&bus, u.agent, &[]).await;
    let id = activate_new(
        &Contracts1Proxy::new(&owner).await.unwrap(),
        "episodic",
        episodic_spec(&["coding"]),
    )
    .await;
    let enforcement = Enforcement1Proxy::new(&agent).await.unwrap();
    let unnamed = enforcement
        .check_memory_creation(&check_request("coding", "home", 1))
        .await;
    assert_eq!(outcome(&unnamed), INVALID_ARGS);
    assert!(error_message(&unnamed).contains("owner"));
    let mut request = check_request("coding", "home", 1);
    request.extend(dict(&[("owner", u.owner.into())]));
    let (allowed, code, _, decided) = enforcement.check_memory_creation(&request).await.unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    let mut request = check_request("coding", "home", 1);
    request.extend(dict(&[("owner", u.other.into())]));
    let (allowed, code, ..) = enforcement.check_memory_creation(&request).await.unwrap();
    assert_eq!((allowed, code.as_str()), (false, "no_contract"));
    let sessions = Sessions1Proxy::new(&agent).await.unwrap();
    assert_eq!(outcome(&sessions.open(&Args::new()).await), INVALID_ARGS);
    assert_eq!(
        outcome(&sessions.open(&dict(&[("owner", u.owner.into())])).await),
        OK
    );
}
