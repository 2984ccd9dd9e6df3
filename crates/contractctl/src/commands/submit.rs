//! `contractctl submit ID`: a draft goes to review; the daemon checks it in full.

use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Submits the draft.
pub async fn run(client: &Client, id: &str) -> Result<u8, CliError> {
    interactive::<_, ()>(&client.contracts, "Submit", &(id,)).await?;
    println!("Contract {id} is in review. Approve it with: contractctl activate {id}");
    Ok(EXIT_OK)
}
