//! `contractctl show ID`: one contract's plain-language summary and every field.

use super::{print_json, summarize};
use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use contractctl::output::{self, Dict, dict_json};

/// Reads the contract and its summary and prints them.
pub async fn run(client: &Client, id: &str, json: bool) -> Result<u8, CliError> {
    let contract: Dict = interactive(&client.contracts, "Get", &(id,)).await?;
    let summary = summarize(client, id).await?;
    if json {
        let mut value = dict_json(&contract);
        value["summary"] = serde_json::Value::from(summary);
        print_json(&value);
    } else {
        println!("{}\n", summary);
        let mut keys: Vec<&String> = contract.keys().collect();
        keys.sort();
        for key in keys {
            println!("  {key:<22} {}", output::to_json(&contract[key]));
        }
    }
    Ok(EXIT_OK)
}
