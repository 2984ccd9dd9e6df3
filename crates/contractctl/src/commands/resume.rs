//! `contractctl resume`: ends the caller's pause, or everyone's with `--all` (admin).

use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Resumes.
pub async fn run(client: &Client, all: bool) -> Result<u8, CliError> {
    if all {
        interactive::<_, ()>(&client.boundary, "ResumeAll", &()).await?;
    } else {
        client.boundary.resume_learning().await?;
    }
    println!(
        "Learning is resumed{}.",
        if all { " for everyone" } else { "" }
    );
    Ok(EXIT_OK)
}
