//! `contractctl override MODE` (admin): claims less isolation than detected, or `--clear`s
//! the override.

use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Sets the override to `mode` with the reason, or clears it.
pub async fn run(
    client: &Client,
    mode: Option<String>,
    reason: &str,
    clear: bool,
) -> Result<u8, CliError> {
    if clear {
        interactive::<_, ()>(&client.boundary, "ClearOverride", &()).await?;
        println!("Override cleared.");
    } else {
        let mode = mode.unwrap_or_default();
        interactive::<_, ()>(&client.boundary, "SetOverride", &(mode.as_str(), reason)).await?;
        println!("Override set: the mode is at most {mode}.");
    }
    Ok(EXIT_OK)
}
