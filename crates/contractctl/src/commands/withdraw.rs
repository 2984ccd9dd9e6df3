//! `contractctl withdraw ID`: a draft or a contract in review, withdrawn before it is ever
//! used.

use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use contractctl::output::{Dict, text};

/// Withdraws the contract if it is a draft or in review; refuses anything else.
pub async fn run(client: &Client, id: &str) -> Result<u8, CliError> {
    let contract: Dict = interactive(&client.contracts, "Get", &(id,)).await?;
    if !matches!(text(&contract, "state").as_str(), "draft" | "review") {
        return Err(CliError::Declined(format!(
            "contract {id} is {}; only a draft or a contract in review can be withdrawn (use revoke)",
            text(&contract, "state")
        )));
    }
    interactive::<_, ()>(&client.contracts, "Revoke", &(id, "withdrawn before use")).await?;
    println!("Contract {id} is withdrawn.");
    Ok(EXIT_OK)
}
