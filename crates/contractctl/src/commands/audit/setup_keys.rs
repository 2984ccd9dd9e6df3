//! `contractctl audit setup-keys`: forward-secure sealing set up by the daemon, its
//! verification key shown once; or with `--offline` a sealing key made here for systemd
//! credentials.

use contractctl::client::{CliError, Client, EXIT_OK, interactive};
use learning_contracts_rules::Timestamp;
use learning_contracts_rules::seal::VerificationKey;
use std::io::Write;
use std::path::Path;

/// The daemon sets up sealing (a new era with `force`) and the key is shown.
pub async fn run(client: &Client, force: bool, json: bool) -> Result<u8, CliError> {
    let mut options = contractctl::output::Dict::new();
    if force {
        options.insert("force".into(), crate::commands::value(true));
    }
    let key: String = interactive(&client.audit, "SetupSealing", &(options,)).await?;
    let interval = key
        .parse::<VerificationKey>()
        .ok()
        .map(|key| key.clock.interval_secs);
    contractctl::seal::show_key(&key, interval, json);
    Ok(EXIT_OK)
}

/// `setup-keys --offline --output FILE`: a new era's sealing key for systemd credentials,
/// written to `output` (mode 0600, never over an existing file), and its verification key
/// shown.
pub fn offline(output: &Path, interval_secs: u64, json: bool) -> Result<u8, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = VerificationKey::generate(Timestamp::now(), interval_secs)
        .map_err(|err| CliError::Input(err.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .map_err(|err| {
            CliError::Input(format!(
                "cannot create {} (an existing file is never overwritten): {err}",
                output.display()
            ))
        })?;
    file.write_all(key.credential().to_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|err| CliError::Input(format!("cannot write {}: {err}", output.display())))?;
    contractctl::seal::show_key(&key.to_string(), Some(interval_secs), json);
    let say = |text: String| {
        if json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    say(format!(
        "\nThe sealing key is in {file}. Encrypt it for the service and remove the plain file:\n\n\
         \x20   systemd-creds encrypt --name={name} {file} /etc/credstore.encrypted/{name}\n\
         \x20   shred -u {file}\n\n\
         then add LoadCredentialEncrypted={name} to the service (systemctl edit learning-contractsd)\n\
         and restart it. At its next start, if its store is not sealed yet, the daemon takes the key,\n\
         moves it on to the current epoch and logs that the credential may be removed: remove it then\n\
         (and the line), because it still holds an early key from which every later seal could be forged.",
        file = output.display(),
        name = learning_contracts_rules::install::SEALING_CREDENTIAL,
    ));
    Ok(EXIT_OK)
}
