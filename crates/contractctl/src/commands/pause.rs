//! `contractctl pause`: stops the caller's learning now, or everyone's with `--all` (admin).

use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Pauses, with the reason.
pub async fn run(client: &Client, all: bool, reason: &str) -> Result<u8, CliError> {
    if all {
        interactive::<_, ()>(&client.boundary, "PauseAll", &(reason,)).await?;
    } else {
        client.boundary.pause_learning(reason).await?;
    }
    println!(
        "Learning is paused{}.",
        if all { " for everyone" } else { "" }
    );
    Ok(EXIT_OK)
}
