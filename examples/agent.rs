//! A minimal agent in Rust, on the client crate (`learning-contracts-client`): it asks
//! learning-contractsd before it keeps a memory, and keeps it only when the answer is yes.
//! `RegisterMemory` runs the check and records the memory in one step, so an agent that stores
//! memories needs no separate `CheckMemoryCreation`.
//!
//! ```sh
//! cargo run --example agent -- coding project-x "prefers small commits"
//! ```
//!
//! It talks to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set); `--user` picks the session bus
//! of a daemon started with `--user`. Exit status: 0 kept, 10 refused by the daemon, 1 error.

use learning_contracts_client::{Client, Request};
use std::process::ExitCode;

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

async fn remember(
    session: bool,
    domain: &str,
    context: &str,
    note: &str,
) -> learning_contracts_client::Result<bool> {
    let client = if session {
        Client::session().await?
    } else {
        Client::system().await?
    };
    let request = Request::new(domain, context)
        .classification(1)
        .abstraction("raw");
    let kept = client.register_memory(&request).await?;
    if kept.decision.allowed {
        println!(
            "kept memory {} under contract {}: {note}",
            kept.memory_id, kept.decision.contract_id
        );
    } else {
        println!(
            "not kept ({}): {}",
            kept.decision.code, kept.decision.reason
        );
    }
    Ok(kept.decision.allowed)
}
