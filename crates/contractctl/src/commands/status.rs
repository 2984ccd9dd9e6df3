//! `contractctl status`: the boundary mode, its source, lockdown, pauses, and how many
//! contracts are active.

use super::print_json;
use contractctl::client::{CliError, Client, EXIT_OK};
use contractctl::output;

/// Reads the properties and prints them.
pub async fn run(client: &Client, json: bool) -> Result<u8, CliError> {
    let boundary = &client.boundary;
    let mode = boundary.mode().await?;
    let source = boundary.source().await?;
    let healthy = boundary.source_healthy().await?;
    let lockdown = boundary.lockdown().await?;
    let reason = boundary.lockdown_reason().await?;
    let lowered = boundary.mode_override().await?;
    let paused_all = boundary.paused_all().await?;
    let active = client.contracts.active_count().await?;
    let suspended = client.contracts.suspended_count().await?;
    if json {
        print_json(&serde_json::json!({
            "mode": mode, "source": source, "source_healthy": healthy, "lockdown": lockdown,
            "lockdown_reason": reason, "override": lowered, "paused_all": paused_all,
            "active": active, "suspended": suspended,
        }));
    } else {
        println!(
            "Mode:       {} (source {source}, {})",
            output::bold(&mode),
            if healthy { "healthy" } else { "NOT healthy" }
        );
        if lockdown {
            println!("Lockdown:   LATCHED: {reason}");
        }
        if !lowered.is_empty() {
            println!("Override:   {lowered}");
        }
        if paused_all {
            println!("Learning:   paused for everyone");
        }
        println!("Contracts:  {active} active, {suspended} suspended");
    }
    Ok(EXIT_OK)
}
