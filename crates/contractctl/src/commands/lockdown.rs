//! `contractctl lockdown`: latches LOCKDOWN now (admin); everything is denied until released.

use super::print_json;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Enters the lockdown, with the reason.
pub async fn run(client: &Client, reason: &str, json: bool) -> Result<u8, CliError> {
    interactive::<_, ()>(&client.boundary, "EnterLockdown", &(reason,)).await?;
    if json {
        let mode = client.boundary.mode().await?;
        print_json(&serde_json::json!({"latched": true, "mode": mode}));
    } else {
        println!("LOCKDOWN is latched: everything is denied until an admin releases it.");
    }
    Ok(EXIT_OK)
}
