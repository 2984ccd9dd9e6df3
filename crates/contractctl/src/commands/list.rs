//! `contractctl list`: the contracts the caller can see, as a table or JSON.

use super::{print_json, value};
use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use contractctl::output::{Dict, dict_json, table, text, texts};

/// Lists the contracts matching the filter (each part optional).
pub async fn run(
    client: &Client,
    state: Option<String>,
    kind: Option<String>,
    owner: Option<u32>,
    json: bool,
) -> Result<u8, CliError> {
    let mut filter = Dict::new();
    if let Some(state) = state {
        filter.insert("state".to_string(), value(state));
    }
    if let Some(kind) = kind {
        filter.insert("kind".to_string(), value(kind));
    }
    if let Some(owner) = owner {
        filter.insert("owner".to_string(), value(owner));
    }
    let contracts: Vec<Dict> = interactive(&client.contracts, "List", &(filter,)).await?;
    if json {
        print_json(&serde_json::Value::Array(
            contracts.iter().map(dict_json).collect(),
        ));
    } else if contracts.is_empty() {
        println!("No contracts. Create one with: contractctl new --help");
    } else {
        let rows: Vec<Vec<String>> = contracts
            .iter()
            .map(|c| {
                let suspension = texts(c, "suspension").join(",");
                vec![
                    text(c, "id"),
                    text(c, "kind"),
                    text(c, "state"),
                    if suspension.is_empty() {
                        "-".into()
                    } else {
                        suspension
                    },
                    texts(c, "domains").join(","),
                    texts(c, "contexts").join(","),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &["ID", "KIND", "STATE", "SUSPENDED", "DOMAINS", "CONTEXTS"],
                &rows
            )
        );
    }
    Ok(EXIT_OK)
}
