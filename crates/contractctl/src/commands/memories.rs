//! `contractctl memories`: the memory records of a contract, or the deep purge of a revoked
//! or expired contract's records (asked first; `--yes` only without a terminal).

use super::{confirm, print_json, say, summarize};
use crate::cli_args::MemoriesAction;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use contractctl::output::{self, Dict, dict_json, table, text};

/// Runs the action.
pub async fn run(client: &Client, action: MemoriesAction, json: bool) -> Result<u8, CliError> {
    match action {
        MemoriesAction::List { contract_id } => list(client, &contract_id, json).await,
        MemoriesAction::Purge { contract_id, yes } => purge(client, &contract_id, yes, json).await,
    }
}

/// The records of a contract (never their content).
async fn records(client: &Client, contract_id: &str) -> Result<Vec<Dict>, CliError> {
    interactive(&client.memories, "List", &(contract_id,)).await
}

async fn list(client: &Client, contract_id: &str, json: bool) -> Result<u8, CliError> {
    let memories = records(client, contract_id).await?;
    if json {
        print_json(&serde_json::Value::Array(
            memories.iter().map(dict_json).collect(),
        ));
    } else if memories.is_empty() {
        println!("No memory records under contract {contract_id}.");
    } else {
        let rows: Vec<Vec<String>> = memories
            .iter()
            .map(|m| {
                vec![
                    text(m, "id"),
                    text(m, "status"),
                    text(m, "domain"),
                    text(m, "context"),
                    output::to_json(&m["classification"]).to_string(),
                    text(m, "abstraction"),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &["ID", "STATUS", "DOMAIN", "CONTEXT", "CLASS", "ABSTRACTION"],
                &rows
            )
        );
    }
    Ok(EXIT_OK)
}

/// Says what will go, asks, then takes a one-time token and purges with it.
async fn purge(client: &Client, contract_id: &str, yes: bool, json: bool) -> Result<u8, CliError> {
    let memories = records(client, contract_id).await?;
    let summary = summarize(client, contract_id).await?;
    say(json, &format!("{summary}\n"));
    say(
        json,
        &format!(
            "This deletes the records of {} memories of contract {contract_id} for good; nothing of them is kept. It cannot be undone.",
            memories.len()
        ),
    );
    confirm("Purge them?", yes)?;
    let token: String = interactive(&client.memories, "RequestPurge", &(contract_id,)).await?;
    let count: u32 = interactive(
        &client.memories,
        "ConfirmPurge",
        &(contract_id, token.as_str()),
    )
    .await?;
    if json {
        print_json(&serde_json::json!({"contract_id": contract_id, "purged": count}));
    } else {
        println!("Purged {count} memory records of contract {contract_id}.");
    }
    Ok(EXIT_OK)
}
