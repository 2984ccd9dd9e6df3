//! One module per command. Each takes the connected client (or nothing, for what runs without
//! the daemon) and the parsed arguments, prints its answer, and returns the exit status.

pub mod activate;
pub mod amend;
pub mod audit;
pub mod check;
pub mod edit;
pub mod generate;
pub mod list;
pub mod lockdown;
pub mod memories;
pub mod mode;
pub mod new;
pub mod override_mode;
pub mod pause;
pub mod release_lockdown;
pub mod resume;
pub mod revoke;
pub mod show;
pub mod status;
pub mod submit;
pub mod templates;
pub mod withdraw;

use contractctl::client::{CliError, Client, interactive};
use learning_contracts_client::zbus::{OwnedVariant, Variant};
use std::io::{BufRead, IsTerminal, Write};

/// A plain value (text, number, flag, list of text) as a dictionary value.
pub fn value<'a>(v: impl Into<Variant<'a>>) -> OwnedVariant {
    OwnedVariant::try_from(v.into()).expect("plain values always convert")
}

/// Context for a question: on stdout for people, on stderr when stdout carries JSON.
pub fn say(json: bool, text: &str) {
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// Writes generated text to stdout; a reader that stops early (a pager, `head`) is fine.
pub fn write_stdout(bytes: &[u8]) {
    let _ = std::io::stdout().lock().write_all(bytes);
}

/// Prints JSON for scripts, indented.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Asks a yes/no question on the terminal; "no" unless the person types yes.
pub fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return if yes {
            Ok(())
        } else {
            Err(CliError::Declined(
                "there is no terminal to confirm on; pass --yes to approve without asking".into(),
            ))
        };
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Declined(
            "not approved; nothing was changed".into(),
        ))
    }
}

/// A contract's plain-language summary, as a person approves it.
pub async fn summarize(client: &Client, id: &str) -> Result<String, CliError> {
    interactive(&client.contracts, "Summarize", &(id,)).await
}
