//! `contractctl activate ID`: the owner's approval of a contract in review, after its summary
//! and a question with no default (`--yes` only without a terminal).

use super::{confirm, say, summarize};
use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Shows the summary, asks, and activates.
pub async fn run(client: &Client, id: &str, yes: bool, json: bool) -> Result<u8, CliError> {
    let summary = summarize(client, id).await?;
    say(json, &format!("{summary}\n"));
    confirm("Approve this contract?", yes)?;
    interactive::<_, ()>(&client.contracts, "Activate", &(id,)).await?;
    println!("Contract {id} is active.");
    Ok(EXIT_OK)
}
