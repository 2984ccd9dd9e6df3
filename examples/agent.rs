//! A minimal agent in Rust with zbus: it asks learning-contractsd before it keeps a memory, and
//! keeps it only when the answer is yes. `RegisterMemory` runs the check and records the memory
//! in one step, so an agent that stores memories needs no separate `CheckMemoryCreation`.
//!
//! ```sh
//! cargo run --example agent -- coding project-x "prefers small commits"
//! ```
//!
//! It talks to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set); `--user` picks the session bus
//! of a daemon started with `--user`. Exit status: 0 kept, 10 refused by the daemon, 1 error.

use std::collections::HashMap;
use std::process::ExitCode;
use zbus::Variant;

/// The part of org.learningcontracts.Enforcement1 this agent uses (the whole interface is in
/// dbus/org.learningcontracts.Enforcement1.xml).
#[zbus::proxy(
    interface = "org.learningcontracts.Enforcement1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
trait Enforcement1 {
    /// Checks and records a memory: (allowed, code, reason, contract id, memory id).
    fn register_memory(
        &self,
        request: HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String, String, String)>;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let session = args.first().is_some_and(|a| a == "--user");
    if session {
        args.remove(0);
    }
    let [domain, context, note] = args.as_slice() else {
        eprintln!("usage: agent [--user] DOMAIN CONTEXT NOTE");
        return ExitCode::from(2);
    };
    match remember(session, domain, context, note).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(10),
        Err(err) => {
            eprintln!("agent: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Asks to keep `note` as a raw memory of class 1 in `domain` and `context`; true when kept.
async fn remember(session: bool, domain: &str, context: &str, note: &str) -> zbus::Result<bool> {
    let connection = if session {
        zbus::Connection::session().await?
    } else {
        zbus::Connection::system().await?
    };
    let enforcement = Enforcement1Proxy::new(&connection).await?;
    let request = HashMap::from([
        ("domain", Variant::from(domain)),
        ("context", Variant::from(context)),
        ("classification", Variant::from(1u8)),
        ("abstraction", Variant::from("raw")),
    ]);
    let (allowed, code, reason, contract, memory) = enforcement.register_memory(request).await?;
    if allowed {
        // The daemon said yes: this is where the agent stores the note in its own memory.
        println!("kept memory {memory} under contract {contract}: {note}");
    } else {
        // Act on `allowed`, log `code`, show `reason` to the person.
        println!("not kept ({code}): {reason}");
    }
    Ok(allowed)
}
