//! `contractctl audit show`: audit records after a sequence number, one a line in fixed
//! columns (or JSON); with `--follow`, new ones as they are written until Ctrl-C.

use crate::commands::print_json;
use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use contractctl::follow;
use contractctl::output::{self, Dict, dict_json, text};

/// Prints up to `limit` records after `after`, or with `following` every record after it as it is
/// written.
pub async fn run(
    client: &Client,
    after: u64,
    limit: u32,
    following: bool,
    json: bool,
) -> Result<u8, CliError> {
    if following {
        if !json {
            println!("{}", audit_header());
        }
        follow::audit(client, after, |out, record| {
            if json {
                writeln!(out, "{}", dict_json(record))
            } else {
                writeln!(out, "{}", audit_line(record))
            }
        })
        .await?;
        return Ok(EXIT_OK);
    }
    let records: Vec<Dict> = interactive(&client.audit, "Read", &(after, limit)).await?;
    if json {
        print_json(&serde_json::Value::Array(
            records.iter().map(dict_json).collect(),
        ));
    } else if records.is_empty() {
        println!("No audit records after {after}.");
    } else {
        println!("{}", audit_header());
        for record in &records {
            println!("{}", audit_line(record));
        }
    }
    Ok(EXIT_OK)
}

/// The columns' header.
fn audit_header() -> String {
    output::bold(&format!(
        "{:>6}  {:<20}  {:<24}  {:<26}  CALLER",
        "SEQ", "TIME", "ACTION", "CONTRACT"
    ))
}

/// One audit record on one line, in fixed columns, so a followed log lines up.
fn audit_line(record: &Dict) -> String {
    let number = |key: &str| record.get(key).map(|v| output::to_json(v).to_string());
    let time = record
        .get("ts")
        .and_then(|v| i64::try_from(v.try_clone().ok()?).ok())
        .map(|secs| {
            learning_contracts_rules::plain::format_iso_utc(
                learning_contracts_rules::time::Timestamp::from_secs(secs),
            )
        })
        .unwrap_or_default();
    let contract = text(record, "contract_id");
    format!(
        "{:>6}  {time:<20}  {:<24}  {:<26}  {}",
        number("seq").unwrap_or_default(),
        text(record, "action"),
        if contract.is_empty() {
            "-".to_string()
        } else {
            contract
        },
        number("caller_uid")
            .map(|uid| format!("uid {uid}"))
            .unwrap_or_else(|| "daemon".into()),
    )
}
