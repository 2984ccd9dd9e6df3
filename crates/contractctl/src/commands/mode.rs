//! `contractctl mode`: the boundary mode; with `--explain` the facts and the rule behind it.

use super::print_json;
use contractctl::client::{CliError, Client, EXIT_OK};
use contractctl::explain;

/// Reads the mode (and the explanation) and prints it.
pub async fn run(client: &Client, explain: bool, json: bool) -> Result<u8, CliError> {
    let mode = client.boundary.mode().await?;
    let why = if explain {
        Some(client.boundary.explain().await?)
    } else {
        None
    };
    match (why, json) {
        (None, true) => print_json(&serde_json::json!({"mode": mode, "explain": null})),
        (None, false) => println!("{mode}"),
        (Some(why), true) => {
            let facts = explain::parse(&why).facts;
            print_json(&serde_json::json!({"mode": mode, "explain": why, "facts": facts}));
        }
        (Some(why), false) => {
            let explained = explain::parse(&why);
            println!("{}", explain::render(&explained));
        }
    }
    Ok(EXIT_OK)
}
