//! `contractctl edit ID`: changes a draft; flags not given keep their value.

use crate::cli_args::SpecArgs;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};

/// Changes the draft.
pub async fn run(client: &Client, id: &str, spec: &SpecArgs) -> Result<u8, CliError> {
    interactive::<_, ()>(&client.contracts, "UpdateDraft", &(id, spec.dict()?)).await?;
    println!("Draft {id} changed.");
    Ok(EXIT_OK)
}
