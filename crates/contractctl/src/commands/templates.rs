//! `contractctl templates`: the ready-made contracts for `new --template`, with their
//! parameters.

use super::print_json;
use contractctl::client::{CliError, Client, EXIT_OK};
use contractctl::output::{self, Dict, dict_json, text};

/// Reads the templates and prints them.
pub async fn run(client: &Client, json: bool) -> Result<u8, CliError> {
    let templates: Vec<Dict> = client.contracts.templates().await?;
    if json {
        print_json(&serde_json::Value::Array(
            templates.iter().map(dict_json).collect(),
        ));
        return Ok(EXIT_OK);
    }
    for template in &templates {
        println!(
            "{} ({}): {}\n  {}",
            output::bold(&text(template, "name")),
            text(template, "kind"),
            text(template, "title"),
            text(template, "description")
        );
        let params: Vec<Dict> = template
            .get("params")
            .and_then(|v| Vec::<Dict>::try_from(v.try_clone().ok()?).ok())
            .unwrap_or_default();
        for param in &params {
            let required = param
                .get("required")
                .and_then(|v| bool::try_from(v.try_clone().ok()?).ok())
                .unwrap_or(false);
            let default = text(param, "default");
            let note = if required {
                " (required)".to_string()
            } else if default.is_empty() {
                String::new()
            } else {
                format!(" (default {default})")
            };
            println!(
                "  --param {:<16} {}{note}",
                format!("{}=…", text(param, "name")),
                text(param, "description")
            );
        }
        println!();
    }
    println!("Use one with: contractctl new --template NAME --param NAME=VALUE …");
    Ok(EXIT_OK)
}
