//! `contractctl audit archive`: older records moved out of the store into a file that
//! verifies on its own (the steps are in `contractctl::archive`).

use crate::commands::print_json;
use contractctl::archive::{self, Archived, Before};
use contractctl::client::{CliError, Client, EXIT_OK};
use std::path::Path;

/// Archives the records before `before` into `file`, and says what moved.
pub async fn run(client: &Client, before: &str, file: &Path, json: bool) -> Result<u8, CliError> {
    let before = Before::parse(before)?;
    match archive::run(client, before, file).await? {
        Archived::Nothing if json => print_json(&serde_json::json!({"archived": 0, "removed": 0})),
        Archived::Nothing => println!("No audit records to archive before that."),
        Archived::Done { header, removed } if json => print_json(&serde_json::json!({
            "archived": header.count,
            "removed": removed,
            "first_seq": header.first_seq,
            "last_seq": header.last_seq,
            "last_hash": header.last_hash,
            "file": file.display().to_string(),
        })),
        Archived::Done { header, removed } => println!(
            "Archived records {} to {} ({} records) to {}; the store removed {removed} \
             and continues the chain from record {}.",
            header.first_seq,
            header.last_seq,
            header.count,
            file.display(),
            header.last_seq + 1
        ),
    }
    Ok(EXIT_OK)
}
