//! `contractctl completions SHELL` and `contractctl man`: made from the command line's
//! definitions, without the daemon.

use super::write_stdout;
use crate::cli_args::Cli;
use contractctl::client::{CliError, EXIT_OK};

/// Prints the shell completions for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, CliError> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "contractctl", &mut script);
    write_stdout(&script);
    Ok(EXIT_OK)
}

/// Prints the man page (roff).
pub fn man() -> Result<u8, CliError> {
    let command = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|err| CliError::Input(err.to_string()))?;
    write_stdout(&page);
    Ok(EXIT_OK)
}
