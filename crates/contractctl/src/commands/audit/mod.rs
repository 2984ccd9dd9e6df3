//! `contractctl audit`: verify the chain and its seals, archive older records, set up sealing,
//! show records (admin). Some of it runs without the daemon: an archive file or a store file
//! verified here, and a sealing key made offline.

pub mod archive;
pub mod setup_keys;
pub mod show;
pub mod verify;

use crate::cli_args::AuditAction;
use contractctl::client::{Bus, CliError, Client};

/// What runs without the daemon, run; None for what needs it.
pub fn without_daemon(
    action: &AuditAction,
    user: bool,
    json: bool,
) -> Option<Result<u8, CliError>> {
    match action {
        AuditAction::Verify {
            file: Some(file), ..
        } => Some(verify::archive_file(file, json)),
        // The store file, read here with the key, without the daemon.
        AuditAction::Verify { key, store, .. } if key.is_some() || store.is_some() => Some(
            verify::store_file(key.as_deref(), store.as_deref(), user, json),
        ),
        AuditAction::SetupKeys {
            offline: true,
            output: Some(output),
            interval,
            ..
        } => Some(setup_keys::offline(output, *interval, json)),
        _ => None,
    }
}

/// Runs an action that needs the daemon.
pub async fn run(
    client: &Client,
    bus: &Bus,
    action: AuditAction,
    json: bool,
) -> Result<u8, CliError> {
    match action {
        AuditAction::Verify {
            file: None,
            journal,
            unit,
            ..
        } => verify::run(client, bus, journal, unit, json).await,
        AuditAction::Verify { file: Some(_), .. } => unreachable!("answered without the daemon"),
        AuditAction::Archive { before, file } => archive::run(client, &before, &file, json).await,
        AuditAction::SetupKeys { force, .. } => setup_keys::run(client, force, json).await,
        AuditAction::Show {
            after,
            limit,
            follow,
        } => show::run(client, after, limit, follow, json).await,
    }
}
