//! contractctl: read, approve and revoke what your assistant may learn, and manage the host's
//! learning boundary, through learning-contractsd.

mod cli_args;
mod commands;

use clap::Parser;
use cli_args::{Cli, Command};
use commands::*;
use contractctl::client::{self, Bus, CliError};
use std::process::ExitCode;

/// Runs the command: what needs no daemon first, then the rest over the bus.
async fn run(cli: Cli) -> Result<u8, CliError> {
    match &cli.command {
        Command::Completions { shell } => return generate::completions(*shell),
        Command::Man => return generate::man(),
        Command::Audit { action } => {
            if let Some(done) = audit::without_daemon(action, cli.user, cli.json) {
                return done;
            }
        }
        _ => {}
    }
    let bus = match (&cli.bus_address, cli.user) {
        (Some(address), _) => Bus::Address(address.clone()),
        (None, true) => Bus::Session,
        (None, false) => Bus::System,
    };
    let client = &client::connect(&bus).await?;
    let json = cli.json;
    match cli.command {
        Command::Status => status::run(client, json).await,
        Command::List { state, kind, owner } => list::run(client, state, kind, owner, json).await,
        Command::Show { id } => show::run(client, &id, json).await,
        Command::Templates => templates::run(client, json).await,
        Command::New(args) => new::run(client, args, json).await,
        Command::Edit { id, spec } => edit::run(client, &id, &spec).await,
        Command::Submit { id } => submit::run(client, &id).await,
        Command::Activate { id, yes } => activate::run(client, &id, yes, json).await,
        Command::Revoke { id, reason } => revoke::run(client, &id, &reason).await,
        Command::Amend { id, spec } => amend::run(client, &id, &spec, json).await,
        Command::Memories { action } => memories::run(client, action, json).await,
        Command::Withdraw { id } => withdraw::run(client, &id).await,
        Command::Mode { explain } => mode::run(client, explain, json).await,
        Command::Pause { all, reason } => pause::run(client, all, &reason).await,
        Command::Resume { all } => resume::run(client, all).await,
        Command::Lockdown { reason } => lockdown::run(client, &reason, json).await,
        Command::ReleaseLockdown { reason } => release_lockdown::run(client, &reason, json).await,
        Command::Override {
            mode,
            reason,
            clear,
        } => override_mode::run(client, mode, &reason, clear).await,
        Command::Check(args) => check::run(client, args, json).await,
        Command::Audit { action } => audit::run(client, &bus, action, json).await,
        Command::Watch => {
            contractctl::watch::run(client, json).await?;
            Ok(client::EXIT_OK)
        }
        Command::Completions { .. } | Command::Man => unreachable!("answered before connecting"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("contractctl: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("contractctl: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("{hint}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}
