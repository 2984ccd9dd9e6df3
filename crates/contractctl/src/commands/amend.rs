//! `contractctl amend ID`: a draft amendment of an active contract, which replaces it once
//! activated.

use super::{print_json, summarize};
use crate::cli_args::SpecArgs;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Drafts the amendment and prints its summary.
pub async fn run(client: &Client, id: &str, spec: &SpecArgs, json: bool) -> Result<u8, CliError> {
    let new: String = interactive(&client.contracts, "Amend", &(id, spec.dict()?)).await?;
    let summary = summarize(client, &new).await?;
    if json {
        print_json(&serde_json::json!({"id": new, "amends": id, "summary": summary}));
    } else {
        println!(
            "Amendment {new} drafted; {id} stays in force until it is activated.\n\n{summary}\n\nNext: contractctl submit {new} && contractctl activate {new}"
        );
    }
    Ok(EXIT_OK)
}
