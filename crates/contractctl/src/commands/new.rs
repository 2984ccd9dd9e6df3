//! `contractctl new`: a draft by kind with the spec's flags, from a template, or from a
//! sentence.

use super::{print_json, summarize};
use crate::cli_args::NewArgs;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use learning_contracts_client::zbus::Variant;
use std::collections::HashMap;

/// Creates the draft and prints its id, summary and any open questions.
pub async fn run(client: &Client, args: NewArgs, json: bool) -> Result<u8, CliError> {
    let (id, summary, questions) = if let Some(name) = args.template {
        let mut params: HashMap<&str, Variant<'_>> = HashMap::new();
        for pair in &args.params {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Input(format!("--param '{pair}' is not NAME=VALUE")))?;
            params.insert(k, Variant::from(v));
        }
        let id = client.contracts.draft_from_template(&name, &params).await?;
        let summary = summarize(client, &id).await?;
        (id, summary, Vec::new())
    } else if let Some(sentence) = args.from_text {
        client.contracts.draft_from_text(&sentence).await?
    } else {
        let kind = args.kind.unwrap_or_default();
        let id: String = interactive(
            &client.contracts,
            "CreateDraft",
            &(kind.as_str(), args.spec.dict()?),
        )
        .await?;
        let summary = summarize(client, &id).await?;
        (id, summary, Vec::new())
    };
    if json {
        print_json(&serde_json::json!({"id": id, "summary": summary, "questions": questions}));
    } else {
        if id.is_empty() {
            println!("No draft was made.");
        } else {
            println!("Draft {id} created.\n\n{summary}");
        }
        for question in &questions {
            println!("? {question}");
        }
        if !id.is_empty() {
            println!("\nNext: contractctl submit {id}");
        }
    }
    Ok(EXIT_OK)
}
