//! `contractctl revoke ID`: its memories are forgotten.

use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Revokes the contract, with the reason for the audit log.
pub async fn run(client: &Client, id: &str, reason: &str) -> Result<u8, CliError> {
    interactive::<_, ()>(&client.contracts, "Revoke", &(id, reason)).await?;
    println!("Contract {id} is revoked.");
    Ok(EXIT_OK)
}
