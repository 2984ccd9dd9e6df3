//! `contractctl check`: what the daemon would tell an agent, for debugging one. Exit status 10
//! when denied.

use super::print_json;
use crate::cli_args::CheckArgs;
use contractctl::client::{CliError, Client, EXIT_CHECK_DENIED, EXIT_OK};
use learning_contracts_client::zbus::Variant;
use learning_contracts_client::{CheckKind, Decision, Request};
use std::collections::HashMap;

/// Asks the check or gate named in `args` and prints the answer.
pub async fn run(client: &Client, args: CheckArgs, json: bool) -> Result<u8, CliError> {
    let decision = match args.check.as_str() {
        "recall-gate" => {
            let gate = client.recall_gate(args.class).await?;
            gate_decision(gate.allowed, gate.code, gate.reason)
        }
        "tool-gate" => {
            let tool = args
                .tool
                .clone()
                .ok_or_else(|| CliError::Input("tool-gate needs --tool".into()))?;
            let needs: HashMap<&str, Variant<'_>> = [
                ("network", args.network),
                ("filesystem", args.filesystem),
                ("usb", args.usb),
            ]
            .into_iter()
            .map(|(need, given)| (need, Variant::from(given)))
            .collect();
            let (allowed, code, reason) = client.enforcement.tool_gate(&tool, &needs).await?;
            gate_decision(allowed, code, reason)
        }
        name => {
            let kind = match name {
                "memory-creation" => CheckKind::MemoryCreation,
                "abstraction" => CheckKind::Abstraction,
                "recall" => CheckKind::Recall,
                "export" => CheckKind::Export,
                other => {
                    return Err(CliError::Input(format!(
                        "'{other}' is not a check; use memory-creation, abstraction, recall, export, recall-gate or tool-gate"
                    )));
                }
            };
            let required = |given: &Option<String>, flag: &str| {
                given
                    .clone()
                    .ok_or_else(|| CliError::Input(format!("{name} needs --{flag}")))
            };
            let domain = required(&args.domain, "domain")?;
            let context = required(&args.context, "context")?;
            let mut request = Request::new(&domain, &context).classification(args.class);
            if let Some(tool) = &args.tool {
                request = request.tool(tool);
            }
            if let Some(contract_id) = &args.contract_id {
                request = request.contract(contract_id);
            }
            if let Some(memory_id) = &args.memory_id {
                request = request.memory(memory_id);
            }
            if let Some(abstraction) = &args.abstraction {
                request = request.abstraction(abstraction);
            }
            client.check(kind, &request).await?
        }
    };
    let Decision {
        allowed,
        code,
        reason,
        contract_id,
    } = decision;
    if json {
        print_json(
            &serde_json::json!({"allowed": allowed, "code": code, "reason": reason, "contract_id": contract_id}),
        );
    } else {
        println!(
            "{} ({code}): {reason}",
            if allowed { "ALLOWED" } else { "DENIED" }
        );
    }
    Ok(if allowed { EXIT_OK } else { EXIT_CHECK_DENIED })
}

/// A gate's answer as a decision: no contract decides a gate.
fn gate_decision(allowed: bool, code: String, reason: String) -> Decision {
    Decision {
        allowed,
        code,
        reason,
        contract_id: String::new(),
    }
}
