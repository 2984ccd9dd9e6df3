//! The real `contractctl` binary against a real daemon on a private bus, run as the owner, as
//! another user and as root: every subcommand's happy path, the main errors with their exit
//! statuses, and JSON that parses.

use crate::common;

use crate::common::bus::*;
use crate::common::cli::*;
use crate::common::netns::NetNs;
use std::process::Command;

#[test]
fn every_subcommand_through_the_real_binary() {
    if !require_root("every_subcommand_through_the_real_binary") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    let other = users().other;

    let status = json(
        contractctl(&bus, owner, &["--json", "status"]),
        "status --json",
    );
    assert_eq!(status["mode"], "AIRGAP");
    assert_eq!(status["source"], "static");
    assert!(ok(contractctl(&bus, owner, &["status"]), "status").contains("Mode:       AIRGAP"));

    let created = json(
        contractctl(
            &bus,
            owner,
            &[
                "--json",
                "new",
                "episodic",
                "--domain",
                "coding",
                "--context",
                "*",
                "--retention",
                "permanent",
            ],
        ),
        "new episodic",
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["summary"].as_str().unwrap().contains("coding"));
    ok(
        contractctl(&bus, owner, &["edit", &id, "--description", "practice"]),
        "edit",
    );
    let listed = json(contractctl(&bus, owner, &["--json", "list"]), "list --json");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str() && c["description"] == "practice")
    );
    let table = ok(
        contractctl(&bus, owner, &["list", "--state", "draft"]),
        "list",
    );
    assert!(table.contains("ID") && table.contains(&id));

    ok(contractctl(&bus, owner, &["submit", &id]), "submit");
    let shown = ok(contractctl(&bus, owner, &["show", &id]), "show");
    assert!(
        shown.contains("Nothing will leave this machine."),
        "{shown}"
    );
    let activated = ok(
        contractctl(&bus, owner, &["activate", &id, "--yes"]),
        "activate --yes",
    );
    assert!(activated.contains("is active"), "{activated}");
    let shown = json(
        contractctl(&bus, owner, &["--json", "show", &id]),
        "show --json",
    );
    assert_eq!(shown["state"], "active");

    let allowed = contractctl(
        &bus,
        owner,
        &[
            "check",
            "memory-creation",
            "--domain",
            "coding",
            "--context",
            "home",
            "--class",
            "1",
        ],
    );
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
    assert!(allowed.stdout.starts_with("ALLOWED (allowed)"));
    let denied = contractctl(
        &bus,
        owner,
        &[
            "--json",
            "check",
            "recall",
            "--domain",
            "finance",
            "--context",
            "home",
        ],
    );
    assert_eq!(denied.code, 10);
    let decision: serde_json::Value = serde_json::from_str(&denied.stdout).unwrap();
    assert_eq!(decision["code"], "no_contract");
    assert_eq!(
        contractctl(&bus, owner, &["check", "recall-gate", "--class", "4"]).code,
        0
    );
    assert_eq!(
        contractctl(
            &bus,
            owner,
            &["check", "tool-gate", "--tool", "browser", "--network"]
        )
        .code,
        10
    );

    let mode = ok(
        contractctl(&bus, owner, &["mode", "--explain"]),
        "mode --explain",
    );
    assert!(
        mode.contains("Mode: AIRGAP") && mode.contains("Source: static"),
        "{mode}"
    );
    // The facts are read out, not printed as a JSON line.
    assert!(
        mode.contains("Static mode: AIRGAP (mode.static_mode in the config") && !mode.contains('{'),
        "{mode}"
    );
    ok(
        contractctl(&bus, owner, &["pause", "--reason", "thinking"]),
        "pause",
    );
    assert_eq!(
        contractctl(
            &bus,
            owner,
            &[
                "check",
                "memory-creation",
                "--domain",
                "coding",
                "--context",
                "home"
            ]
        )
        .code,
        10
    );
    ok(contractctl(&bus, owner, &["resume"]), "resume");

    let journal = json(
        contractctl(
            &bus,
            owner,
            &["--json", "new", "--template", "personal-journal"],
        ),
        "new --template personal-journal",
    );
    assert!(!journal["id"].as_str().unwrap().is_empty());
    let draft = json(
        contractctl(
            &bus,
            owner,
            &[
                "--json",
                "new",
                "--from-text",
                "Remember my cooking experiments at home for 3 weeks",
            ],
        ),
        "new --from-text",
    );
    let draft_id = draft["id"].as_str().unwrap().to_string();
    ok(
        contractctl(&bus, owner, &["withdraw", &draft_id]),
        "withdraw",
    );
    ok(
        contractctl(&bus, owner, &["revoke", &id, "--reason", "done"]),
        "revoke",
    );
    assert_eq!(
        json(contractctl(&bus, owner, &["--json", "show", &id]), "show")["state"],
        "revoked"
    );

    let verified = json(
        contractctl(&bus, 0, &["--json", "audit", "verify"]),
        "audit verify",
    );
    assert_eq!(verified["ok"], true);
    let records = json(
        contractctl(&bus, 0, &["--json", "audit", "show", "--limit", "5"]),
        "audit show",
    );
    assert_eq!(records.as_array().unwrap().len(), 5);

    ok(
        contractctl(&bus, 0, &["override", "OPEN", "--reason", "testing"]),
        "override",
    );
    ok(
        contractctl(&bus, 0, &["override", "--clear"]),
        "override --clear",
    );
    ok(
        contractctl(&bus, 0, &["lockdown", "--reason", "drill"]),
        "lockdown",
    );
    assert!(ok(contractctl(&bus, owner, &["status"]), "status").contains("LATCHED: drill"));
    // The release commits the mode it means before it answers: it can say which.
    let released = ok(
        contractctl(&bus, 0, &["release-lockdown", "--reason", "drill over"]),
        "release-lockdown",
    );
    assert!(released.contains("the mode is now AIRGAP"), "{released}");
    ok(contractctl(&bus, 0, &["pause", "--all"]), "pause --all");
    ok(contractctl(&bus, 0, &["resume", "--all"]), "resume --all");

    // The main errors, each with its exit status and a message that says what to do.
    let missing = contractctl(&bus, owner, &["show", "01NOSUCHCONTRACT"]);
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("contractctl list"),
        "{}",
        missing.stderr
    );
    let stranger = contractctl(&bus, other, &["lockdown", "--reason", "mine"]);
    assert_eq!(stranger.code, 3, "{}", stranger.stderr);
    let bad_date = contractctl(
        &bus,
        owner,
        &[
            "new",
            "episodic",
            "--domain",
            "x",
            "--until",
            "next tuesday",
        ],
    );
    assert_eq!(bad_date.code, 5);
    assert!(
        bad_date.stderr.contains("YYYY-MM-DD"),
        "{}",
        bad_date.stderr
    );
    let second = json(
        contractctl(
            &bus,
            owner,
            &[
                "--json",
                "new",
                "episodic",
                "--domain",
                "music",
                "--context",
                "*",
                "--retention",
                "permanent",
            ],
        ),
        "new",
    );
    let second = second["id"].as_str().unwrap().to_string();
    ok(contractctl(&bus, owner, &["submit", &second]), "submit");
    let unconfirmed = contractctl(&bus, owner, &["activate", &second]);
    assert_eq!(
        unconfirmed.code, 1,
        "activation without a terminal needs --yes"
    );
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(
        json(
            contractctl(&bus, owner, &["--json", "show", &second]),
            "show"
        )["state"],
        "review",
        "nothing changed"
    );
    let invalid = contractctl(&bus, owner, &["new", "episodic", "--cap", "9"]);
    assert_eq!(invalid.code, 5, "{}", invalid.stderr);
}

#[test]
fn an_unreachable_daemon_says_so_with_status_6() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("nothing.sock").display());
    let output = Command::new(common::contractctl_bin())
        .args(["--bus-address", &address, "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach learning-contractsd"));
}

#[test]
fn a_bus_without_the_daemon_says_the_daemon_cannot_be_reached() {
    if !require_root("a_bus_without_the_daemon_says_the_daemon_cannot_be_reached") {
        return;
    }
    // A real bus, and no daemon on it: the bus answers ServiceUnknown.
    let bus = TestBus::start();
    let run = contractctl(&bus, users().owner, &["status"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach learning-contractsd"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amend_memories_and_the_purge_ceremony() {
    if !require_root("amend_memories_and_the_purge_ceremony") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;

    let created = json(
        contractctl(
            &bus,
            owner,
            &[
                "--json",
                "new",
                "procedural",
                "--domain",
                "coding",
                "--context",
                "*",
                "--retention",
                "permanent",
            ],
        ),
        "new",
    );
    let id = created["id"].as_str().unwrap().to_string();
    ok(contractctl(&bus, owner, &["submit", &id]), "submit");
    ok(
        contractctl(&bus, owner, &["activate", &id, "--yes"]),
        "activate",
    );

    // A memory recorded by the owner's agent, through the bus.
    let agent = connect_as(&bus, owner, &[]).await;
    let enforcement = Enforcement1Proxy::new(&agent).await.unwrap();
    let (allowed, code, ..) = enforcement
        .register_memory(&dict(&[
            ("domain", "coding".into()),
            ("context", "home".into()),
            ("classification", 1u8.into()),
            ("memory_id", "tip-1".into()),
        ]))
        .await
        .unwrap();
    assert!(allowed, "{code}");

    let amended = json(
        contractctl(
            &bus,
            owner,
            &["--json", "amend", &id, "--description", "narrower"],
        ),
        "amend",
    );
    let new = amended["id"].as_str().unwrap().to_string();
    ok(
        contractctl(&bus, owner, &["submit", &new]),
        "submit amendment",
    );
    ok(
        contractctl(&bus, owner, &["activate", &new, "--yes"]),
        "activate amendment",
    );
    assert_eq!(
        json(contractctl(&bus, owner, &["--json", "show", &id]), "show")["state"],
        "amended"
    );
    let memories = json(
        contractctl(&bus, owner, &["--json", "memories", "list", &new]),
        "memories list",
    );
    assert_eq!(
        memories[0]["id"], "tip-1",
        "the memory moved to the amendment"
    );
    assert!(
        ok(
            contractctl(&bus, owner, &["memories", "list", &new]),
            "memories list"
        )
        .contains("tip-1")
    );

    // The purge ceremony: refused while active, then after revocation.
    let active = contractctl(&bus, owner, &["memories", "purge", &new, "--yes"]);
    assert_eq!(active.code, 1, "{}", active.stderr);
    ok(contractctl(&bus, owner, &["revoke", &new]), "revoke");
    let unconfirmed = contractctl(&bus, owner, &["memories", "purge", &new]);
    assert_eq!(
        unconfirmed.code, 1,
        "no terminal and no --yes: nothing purged"
    );
    assert!(
        unconfirmed.stdout.contains("You allow the assistant")
            && unconfirmed.stdout.contains("cannot be undone"),
        "the purge prompt shows the contract and what it does: {}",
        unconfirmed.stdout
    );
    let purged = json(
        contractctl(&bus, owner, &["--json", "memories", "purge", &new, "--yes"]),
        "purge",
    );
    assert_eq!(purged["purged"], 1);
    assert_eq!(
        json(
            contractctl(&bus, owner, &["--json", "memories", "list", &new]),
            "list"
        )
        .as_array()
        .unwrap()
        .len(),
        0
    );

    let records = json(
        contractctl(&bus, 0, &["--json", "audit", "show", "--limit", "200"]),
        "audit show",
    );
    let actions: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for action in [
        "contract.create",
        "contract.activate",
        "memory.register",
        "contract.amended",
        "contract.revoke",
        "memory.purge",
    ] {
        assert!(
            actions.contains(&action),
            "the audit log lacks {action}: {actions:?}"
        );
    }
}

/// The calls the daemon authorizes allow interactive authorization, so polkit may ask the
/// person (for a password, or to confirm an activation) instead of refusing: a monitor on the
/// bus sees the flag on each of them, as the owner and as an admin drive every such command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_the_daemon_authorizes_allow_interactive_authorization() {
    use futures_util::StreamExt;
    use zbus::message::{Flags, Type};
    if !require_root("calls_the_daemon_authorizes_allow_interactive_authorization") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;

    // Every method call on the bus, in the order the bus routes them, until the sentinel.
    let monitor = connect_as(&bus, 0, &[]).await;
    let mut stream = zbus::MessageStream::from(&monitor);
    let rule = zbus::MatchRule::builder()
        .msg_type(Type::MethodCall)
        .build()
        .unwrap();
    zbus::fdo::MonitoringProxy::new(&monitor)
        .await
        .unwrap()
        .become_monitor(&[rule], 0)
        .await
        .unwrap();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(Ok(message)) = stream.next().await {
            let header = message.header();
            if header.message_type() != Type::MethodCall {
                continue;
            }
            let interface = header
                .interface()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let member = header.member().map(|m| m.to_string()).unwrap_or_default();
            if interface == "org.freedesktop.DBus.Peer" && member == "Ping" {
                return seen;
            }
            let interactive = header
                .primary()
                .flags()
                .contains(Flags::ALLOW_INTERACTIVE_AUTH);
            seen.push((interface, member, interactive));
        }
        panic!("the monitor's stream ended before the sentinel");
    });

    let run = |uid: u32, args: &[&str]| ok(contractctl(&bus, uid, args), &args.join(" "));
    let id = json(
        contractctl(
            &bus,
            owner,
            &[
                "--json",
                "new",
                "episodic",
                "--domain",
                "coding",
                "--context",
                "*",
                "--retention",
                "permanent",
            ],
        ),
        "new",
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    run(owner, &["edit", &id, "--description", "practice"]);
    run(owner, &["list"]);
    run(owner, &["show", &id]);
    run(owner, &["submit", &id]);
    run(owner, &["activate", &id, "--yes"]);
    let amendment = json(
        contractctl(
            &bus,
            owner,
            &["--json", "amend", &id, "--description", "less"],
        ),
        "amend",
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    run(owner, &["withdraw", &amendment]);
    run(owner, &["memories", "list", &id]);
    run(owner, &["revoke", &id]);
    run(owner, &["memories", "purge", &id, "--yes"]);
    run(0, &["lockdown", "--reason", "drill"]);
    run(0, &["release-lockdown", "--reason", "drill over"]);
    run(0, &["override", "RESTRICTED"]);
    run(0, &["override", "--clear"]);
    run(0, &["pause", "--all"]);
    run(0, &["resume", "--all"]);
    run(0, &["audit", "show"]);
    run(0, &["audit", "verify"]);
    run(0, &["audit", "setup-keys"]);
    let archive = bus.dir.path().join("audit.archive");
    run(
        0,
        &[
            "audit",
            "archive",
            "--before",
            "3",
            archive.to_str().unwrap(),
        ],
    );

    // The sentinel, routed after every call above.
    let root = connect_as(&bus, 0, &[]).await;
    zbus::fdo::PeerProxy::builder(&root)
        .destination(BUS_NAME)
        .path(PATH)
        .build()
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
    let seen = seen.await.unwrap();

    let authorized = [
        ("Contracts1", "CreateDraft"),
        ("Contracts1", "UpdateDraft"),
        ("Contracts1", "Submit"),
        ("Contracts1", "Activate"),
        ("Contracts1", "Amend"),
        ("Contracts1", "Revoke"),
        ("Contracts1", "Get"),
        ("Contracts1", "List"),
        ("Contracts1", "Summarize"),
        ("Memories1", "List"),
        ("Memories1", "RequestPurge"),
        ("Memories1", "ConfirmPurge"),
        ("Boundary1", "EnterLockdown"),
        ("Boundary1", "ReleaseLockdown"),
        ("Boundary1", "SetOverride"),
        ("Boundary1", "ClearOverride"),
        ("Boundary1", "PauseAll"),
        ("Boundary1", "ResumeAll"),
        ("Audit1", "Read"),
        ("Audit1", "Verify"),
        ("Audit1", "Archive"),
        ("Audit1", "SetupSealing"),
    ];
    for (interface, member) in authorized {
        let interface = format!("org.learningcontracts.{interface}");
        let calls: Vec<bool> = seen
            .iter()
            .filter(|(i, m, _)| *i == interface && m == member)
            .map(|(.., interactive)| *interactive)
            .collect();
        assert!(
            !calls.is_empty(),
            "no call of {interface}.{member} was seen"
        );
        assert!(
            calls.iter().all(|interactive| *interactive),
            "{interface}.{member} was called without allowing interactive authorization"
        );
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_definitions() {
    let run = |args: &[&str]| {
        Command::new(common::contractctl_bin())
            .args(args)
            .output()
            .unwrap()
    };
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(
        script.contains("_contractctl()") && script.contains("release-lockdown"),
        "bash completion lacks subcommands"
    );
    let man = run(&["man"]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.contains(".TH contractctl 1") && page.contains("Exit status"),
        "the man page lacks its header or exit statuses"
    );
}

/// Lines a child prints, read on a thread so a test can wait for one with a deadline.
fn line_reader(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (lines, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits up to `limit` for a line that `wanted` accepts, and returns it.
fn wait_for_line(
    lines: &std::sync::mpsc::Receiver<String>,
    limit: std::time::Duration,
    wanted: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        match lines.recv_timeout(left) {
            Ok(line) if wanted(&line) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// Waits up to `limit` for the child to exit and returns its status; kills it otherwise.
fn wait_for_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn audit_follow_prints_new_records_and_stops_on_ctrl_c() {
    if !require_root("audit_follow_prints_new_records_and_stops_on_ctrl_c") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    let second = std::time::Duration::from_secs(5);

    for (json, marker) in [(false, "contract.create"), (true, "\"contract.create\"")] {
        let mut args = vec!["--bus-address", &bus.address, "audit", "show", "--follow"];
        if json {
            args.insert(2, "--json");
        }
        let mut follower = Command::new(common::contractctl_bin())
            .args(&args)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = line_reader(follower.stdout.take().unwrap());
        // The log already holds the first mode reading; the follower prints it first.
        assert!(
            wait_for_line(&lines, second, |l| l.contains("mode.change")).is_some(),
            "the follower did not print the existing records (json {json})"
        );
        let created = json_of(contractctl(
            &bus,
            owner,
            &["--json", "new", "episodic", "--domain", "coding"],
        ));
        let id = created["id"].as_str().unwrap().to_string();
        let line = wait_for_line(&lines, second, |l| l.contains(marker) && l.contains(&id))
            .unwrap_or_else(|| panic!("the new record did not appear (json {json})"));
        if json {
            let record: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(record["contract_id"], id.as_str());
            assert_eq!(record["caller_uid"], owner);
        } else {
            assert!(line.contains(&format!("uid {owner}")), "{line}");
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(follower.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = wait_for_exit(&mut follower, second)
            .unwrap_or_else(|| panic!("the follower did not stop on SIGINT (json {json})"));
        assert_eq!(status.code(), Some(0), "the follower's exit after Ctrl-C");
    }

    // Not an admin: refused with status 3 at once, not left waiting.
    let denied = contractctl(&bus, owner, &["audit", "show", "--follow"]);
    assert_eq!(denied.code, 3, "{}", denied.stderr);
}

fn json_of(run: Run) -> serde_json::Value {
    json(run, "a command")
}

/// A private tmux server for driving a full-screen command, stopped on drop.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` in a detached 100×30 session, through a shell that prints its exit
    /// status afterwards and keeps the pane open to read it.
    fn start(command: &str) -> Self {
        let tmux = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let shell = format!("{command}; echo EXIT=$?; sleep 60");
        let status = tmux
            .command()
            .args(["new-session", "-d", "-x", "100", "-y", "30", &shell])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed");
        assert!(status.success(), "tmux did not start");
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(self.dir.path().join("tmux.sock"));
        command
    }

    /// The pane's text.
    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn send_keys(&self, keys: &str) {
        assert!(
            self.command()
                .args(["send-keys", keys])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits up to `limit` for the screen to satisfy `wanted`; returns the last screen and
    /// whether it did.
    fn wait_for(
        &self,
        limit: std::time::Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> (String, bool) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let screen = self.screen();
            if wanted(&screen) {
                return (screen, true);
            }
            if std::time::Instant::now() > deadline {
                return (screen, false);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

#[test]
fn watch_follows_signals_under_tmux_and_quits_cleanly() {
    if !require_root("watch_follows_signals_under_tmux_and_quits_cleanly") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    let created = json_of(contractctl(
        &bus,
        owner,
        &[
            "--json",
            "new",
            "episodic",
            "--domain",
            "coding",
            "--context",
            "*",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let watch = format!(
        "setpriv --reuid={owner} --regid={owner} --clear-groups {} --bus-address {} watch",
        common::contractctl_bin().display(),
        bus.address
    );
    let limit = std::time::Duration::from_secs(10);
    let second = std::time::Duration::from_secs(1);

    for quit_key in ["q", "C-c"] {
        let tmux = Tmux::start(&watch);
        let (screen, shown) =
            tmux.wait_for(limit, |s| s.contains("Mode      AIRGAP") && s.contains(&id));
        assert!(
            shown,
            "the view did not show the mode and the contract:\n{screen}"
        );
        assert!(screen.contains("draft"), "{screen}");

        // LOCKDOWN: the view shows it within a second of the daemon's answer (the signal goes
        // out with the answer).
        ok(
            contractctl(&bus, 0, &["lockdown", "--reason", "watch test"]),
            "lockdown",
        );
        let (screen, shown) = tmux.wait_for(second, |s| {
            s.contains("Mode      LOCKDOWN") && s.contains("LATCHED: watch test")
        });
        assert!(
            shown,
            "the view did not show LOCKDOWN within a second:\n{screen}"
        );
        assert!(
            screen.contains("mode AIRGAP → LOCKDOWN"),
            "no event line:\n{screen}"
        );

        ok(
            contractctl(&bus, 0, &["release-lockdown", "--reason", "done"]),
            "release",
        );
        let (screen, shown) = tmux.wait_for(second, |s| {
            s.contains("Mode      AIRGAP") && s.contains("Lockdown  no")
        });
        assert!(
            shown,
            "the view did not show the release within a second:\n{screen}"
        );

        tmux.send_keys(quit_key);
        let (screen, quit) = tmux.wait_for(limit, |s| s.contains("EXIT="));
        assert!(quit, "the view did not quit on {quit_key}:\n{screen}");
        assert!(
            screen.contains("EXIT=0"),
            "{quit_key} exit status:\n{screen}"
        );
        // The alternate screen is gone: the shell's own screen is back.
        assert!(
            !screen.contains("Recent events"),
            "the view was left on screen:\n{screen}"
        );
    }

    // Without a terminal it says to use --json; with --json it prints snapshots a line.
    let refused = contractctl(&bus, owner, &["watch"]);
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(refused.stderr.contains("--json"), "{}", refused.stderr);
    let mut stream = Command::new(common::contractctl_bin())
        .args(["--bus-address", &bus.address, "--json", "watch"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_reader(stream.stdout.take().unwrap());
    let first = wait_for_line(&lines, limit, |_| true).expect("a first snapshot");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["mode"], "AIRGAP");
    assert!(
        first["contracts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str())
    );
    ok(
        contractctl(&bus, 0, &["override", "OPEN", "--reason", "watch test"]),
        "override",
    );
    let lowered = wait_for_line(&lines, limit, |l| l.contains("\"mode\":\"OPEN\""))
        .expect("a snapshot after the override");
    let lowered: serde_json::Value = serde_json::from_str(&lowered).unwrap();
    assert_eq!(lowered["override"], "OPEN");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stream.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_for_exit(&mut stream, limit).expect("watch --json stops on SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn activation_on_a_terminal_asks_and_has_no_default_yes() {
    if !require_root("activation_on_a_terminal_asks_and_has_no_default_yes") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    let made = json_of(contractctl(
        &bus,
        owner,
        &[
            "--json",
            "new",
            "--template",
            "coding-practice",
            "--param",
            "project=alpha",
        ],
    ));
    let id = made["id"].as_str().unwrap().to_string();
    ok(contractctl(&bus, owner, &["submit", &id]), "submit");
    let activate = format!(
        "setpriv --reuid={owner} --regid={owner} --clear-groups {} --bus-address {} activate {id}",
        common::contractctl_bin().display(),
        bus.address
    );
    let limit = std::time::Duration::from_secs(10);

    // Enter alone is no.
    let tmux = Tmux::start(&activate);
    let (screen, asked) = tmux.wait_for(limit, |s| s.contains("Approve this contract? [y/N]"));
    assert!(asked, "no question on the terminal:\n{screen}");
    assert!(
        screen.contains("learn and reuse tips about coding"),
        "no summary before the question:\n{screen}"
    );
    tmux.send_keys("Enter");
    let (screen, done) = tmux.wait_for(limit, |s| s.contains("EXIT="));
    assert!(
        done && screen.contains("EXIT=1"),
        "Enter must decline:\n{screen}"
    );
    assert!(
        screen.contains("not approved; nothing was changed"),
        "{screen}"
    );
    let state = json_of(contractctl(&bus, owner, &["--json", "show", &id]));
    assert_eq!(state["state"], "review");
    drop(tmux);

    // y is yes.
    let tmux = Tmux::start(&activate);
    let (screen, asked) = tmux.wait_for(limit, |s| s.contains("[y/N]"));
    assert!(asked, "{screen}");
    tmux.send_keys("y");
    tmux.send_keys("Enter");
    let (screen, done) = tmux.wait_for(limit, |s| s.contains("EXIT="));
    assert!(
        done && screen.contains("EXIT=0"),
        "y must approve:\n{screen}"
    );
    let state = json_of(contractctl(&bus, owner, &["--json", "show", &id]));
    assert_eq!(state["state"], "active");
}

#[test]
fn audit_archive_moves_old_records_into_a_file_that_verifies_offline() {
    if !require_root("audit_archive_moves_old_records_into_a_file_that_verifies_offline") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    for n in 0..5 {
        ok(
            contractctl(
                &bus,
                owner,
                &[
                    "new",
                    "episodic",
                    "--domain",
                    &format!("d{n}"),
                    "--retention",
                    "permanent",
                ],
            ),
            "new",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit-archive.jsonl");
    let file_arg = file.to_str().unwrap();
    // Not an admin: refused, nothing written to the store.
    let denied = contractctl(
        &bus,
        owner,
        &["audit", "archive", "--before", "4", file_arg],
    );
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    let _ = std::fs::remove_file(&file);
    // A --before that is neither a number nor a date.
    let bad = contractctl(
        &bus,
        0,
        &["audit", "archive", "--before", "last week", file_arg],
    );
    assert_eq!(bad.code, 5, "{}{}", bad.stdout, bad.stderr);

    let done = json(
        contractctl(
            &bus,
            0,
            &["--json", "audit", "archive", "--before", "4", file_arg],
        ),
        "audit archive",
    );
    assert_eq!(done["archived"], 3, "{done}");
    assert_eq!(done["removed"], 3, "{done}");
    assert_eq!(done["last_seq"], 3, "{done}");
    // The store's chain still verifies, and starts after the archive.
    let verified = ok(contractctl(&bus, 0, &["audit", "verify"]), "audit verify");
    assert!(
        verified.contains("records 1 to 3 were archived"),
        "{verified}"
    );
    let shown = json(
        contractctl(&bus, 0, &["--json", "audit", "show", "--limit", "1"]),
        "audit show",
    );
    assert_eq!(shown[0]["seq"], 4, "{shown}");
    // The archive verifies on its own, with no daemon to ask.
    let offline = Command::new(common::contractctl_bin())
        .args(["audit", "verify", "--file", file_arg])
        .output()
        .unwrap();
    assert_eq!(offline.status.code(), Some(0), "{offline:?}");
    assert!(
        String::from_utf8_lossy(&offline.stdout).contains("3 archived records verified"),
        "{offline:?}"
    );
    // Archiving again to the same file is refused: an archive is never overwritten.
    let again = contractctl(&bus, 0, &["audit", "archive", "--before", "6", file_arg]);
    assert_ne!(again.code, 0, "{}", again.stdout);
    // An altered archive is BROKEN, exit status 1.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("contract.create", "contract.delete", 1),
    )
    .unwrap();
    let broken = Command::new(common::contractctl_bin())
        .args(["audit", "verify", "--file", file_arg])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(String::from_utf8_lossy(&broken.stdout).starts_with("BROKEN:"));
    // A date far ahead archives the rest, up to the newest record.
    let rest = dir.path().join("rest.jsonl");
    let all = json(
        contractctl(
            &bus,
            0,
            &[
                "--json",
                "audit",
                "archive",
                "--before",
                "2999-01-01",
                rest.to_str().unwrap(),
            ],
        ),
        "audit archive --before DATE",
    );
    assert_eq!(all["archived"], all["removed"], "{all}");
    assert!(all["archived"].as_u64().unwrap() >= 3, "{all}");
    ok(
        contractctl(&bus, 0, &["audit", "verify"]),
        "audit verify after all",
    );
}

#[test]
fn mode_explain_reads_the_detectors_facts_as_a_person_would() {
    if !require_root("mode_explain_reads_the_detectors_facts_as_a_person_would") {
        return;
    }
    // A link with a way out through a tun named wg0 (a VPN by name), in a namespace.
    let ns = NetNs::new();
    ns.add_ethernet();
    ns.add_tun("wg0");
    ns.ip(&["link", "set", "wg0", "up"]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.0.2.254",
        "dev",
        "eth0",
    ]);
    let bus = TestBus::start();
    let config =
        "[authorization]\nmode = \"unix\"\n\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n";
    let _daemon = DaemonProcess::start_in_netns(&bus, config, &ns.name);
    let owner = users().owner;
    // Up to 5 s for the first reading with the mount facts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let explained = loop {
        let run = contractctl(&bus, owner, &["mode", "--explain"]);
        if run.code == 0 && run.stdout.contains("Mounts:") && run.stdout.contains("Mode: OPEN") {
            break run.stdout;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reading with mounts: {}{}",
            run.stdout,
            run.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for part in [
        "Mode: OPEN",
        "Source: detect (healthy)",
        "Rule that matched: ",
        "Links:",
        "Routes out:",
        "Mounts:",
        "MOUNT POINT",
    ] {
        assert!(explained.contains(part), "no {part:?} in:\n{explained}");
    }
    let eth0 = explained
        .lines()
        .find(|line| line.trim_start().starts_with("eth0 "))
        .unwrap_or_else(|| panic!("no row for eth0:\n{explained}"));
    assert!(eth0.contains("veth") && eth0.contains("up"), "{eth0}");
    assert!(
        explained
            .lines()
            .any(|line| line.contains("0.0.0.0/0") && line.contains("eth0")),
        "the route out names its link:\n{explained}"
    );
    assert!(
        !explained.contains("{\""),
        "no JSON left for people:\n{explained}"
    );

    // --json: the full facts, pretty.
    let run = contractctl(&bus, owner, &["--json", "mode", "--explain"]);
    assert!(run.stdout.contains("\n  \"facts\": {"), "{}", run.stdout);
    let as_json = json(run, "--json mode --explain");
    assert_eq!(as_json["mode"], "OPEN");
    let links = as_json["facts"]["links"].as_array().expect("facts.links");
    assert!(links.iter().any(|link| link["name"] == "wg0"), "{as_json}");
    assert!(as_json["facts"]["mounts"]["mounts"].is_array(), "{as_json}");
    assert!(
        as_json["explain"].as_str().unwrap().contains("Facts: "),
        "{as_json}"
    );
}
