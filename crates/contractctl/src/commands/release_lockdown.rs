//! `contractctl release-lockdown`: releases a latched LOCKDOWN (admin) and says the mode it
//! left, or what still holds LOCKDOWN.

use super::print_json;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use contractctl::output::dict_json;

/// Releases the lockdown, with the reason.
pub async fn run(client: &Client, reason: &str, json: bool) -> Result<u8, CliError> {
    let boundary = &client.boundary;
    interactive::<_, ()>(boundary, "ReleaseLockdown", &(reason,)).await?;
    // The release commits the mode it means before it replies, so this is the mode now,
    // and the source's facts say what, if anything, still holds LOCKDOWN.
    let mode = boundary.mode().await?;
    let held_by = if mode == "LOCKDOWN" {
        Some(if boundary.lockdown().await? {
            let why = boundary.lockdown_reason().await?;
            format!("a new lockdown is latched ({why})")
        } else {
            let source = boundary.source().await?;
            let facts = boundary.facts().await?;
            contractctl::explain::lockdown_holder(&source, &dict_json(&facts))
        })
    } else {
        None
    };
    if json {
        print_json(&serde_json::json!({"released": true, "mode": mode, "held_by": held_by}));
    } else if let Some(held_by) = held_by {
        println!("Lockdown released; the mode stays LOCKDOWN: {held_by}.");
    } else if mode == "UNKNOWN" {
        println!(
            "Lockdown released; the mode is now UNKNOWN (the source gives no good reading), enforced like LOCKDOWN."
        );
    } else {
        println!("Lockdown released; the mode is now {mode}.");
    }
    Ok(EXIT_OK)
}
