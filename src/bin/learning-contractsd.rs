//! learning-contractsd: the daemon that enforces learning contracts on this host.

use clap::Parser;
use learning_contracts::service::{self, BusChoice, Options, ServiceError};
use std::path::PathBuf;
use std::process::ExitCode;

/// Enforces learning contracts: what local AI agents may learn from their owners, how far they
/// may generalize it, how long they may keep it, when they may recall it, and whether it may
/// leave the machine. Nothing is learned by default.
///
/// The daemon keeps the contracts in an SQLite store, follows the host's boundary mode,
/// suspends and resumes contracts when it changes, and answers agents on D-Bus as
/// org.learningcontracts.Daemon1 at /org/learningcontracts/Daemon1.
///
/// As a system service it runs under systemd (Type=notify) on the system bus, with its store
/// in $STATE_DIRECTORY (else /var/lib/learning-contracts) and its configuration in
/// /etc/learning-contracts/daemon.toml plus daemon.toml.d/*.toml. With --user it serves the
/// caller's session bus, with its store under $XDG_STATE_HOME/learning-contracts and its
/// configuration under $XDG_CONFIG_HOME/learning-contracts.
///
/// Signals: SIGHUP reloads the configuration (a configuration that does not parse is refused
/// and the old one stays in force); SIGTERM and SIGINT stop the daemon cleanly.
///
/// Exit status: 0 after a clean stop; 1 on a failure while running or a bus that cannot be
/// reached; 2 on bad command-line arguments; 65 when the store is damaged, from a newer
/// version, or not a store; 69 when another instance already owns the bus name; 78 when the
/// configuration is invalid.
#[derive(Debug, Parser)]
#[command(name = "learning-contractsd", version, verbatim_doc_comment)]
struct Cli {
    /// Serve the session bus of the calling user instead of the system bus, with the store and
    /// configuration under the user's XDG directories.
    #[arg(long, conflicts_with = "bus_address")]
    user: bool,

    /// Serve the bus at this D-Bus address (for example unix:path=/tmp/bus.sock) instead of the
    /// system bus. Used by tests.
    #[arg(long, value_name = "ADDRESS")]
    bus_address: Option<String>,

    /// The directory that holds the store (contracts.db). Created with mode 0700 if missing.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// The main configuration file; drop-ins are read from FILE.d/*.toml. A missing file means
    /// the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Check the configuration, print what is in force, and exit (0 when valid, 78 when not).
    #[arg(long)]
    check_config: bool,

    /// Log level when RUST_LOG is not set: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,

    /// Verify the audit log of the store FILE offline, read-only, without serving: the hash
    /// chain, and the seals when sealing is on. Prints the verification as JSON and exits 0
    /// when it verified, 1 when it did not, 65 when the file cannot be read as a store.
    /// `contractctl audit verify --store` runs this, since only the daemon reads its store.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "bus_address", "check_config"])]
    verify_audit: Option<PathBuf>,

    /// With --verify-audit: the verification key (from `contractctl audit setup-keys`), or
    /// "-" to read it from standard input, so that it need not appear in the process list.
    /// Every sealed epoch is then proven, not only the seals' order.
    #[arg(long, value_name = "KEY", requires = "verify_audit")]
    verification_key: Option<String>,

    /// Print the learning-contractsd(8) manual page, generated from these definitions, and
    /// exit. Hidden: it is a packaging step (`make assets`), not something an admin runs.
    #[arg(long, hide = true, exclusive = true)]
    man: bool,
}

/// Writes the man page (section 8: a system daemon) to stdout.
fn print_man_page() -> ExitCode {
    use std::io::Write;
    let command = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    let rendered = clap_mangen::Man::new(command)
        .section("8")
        .render(&mut page)
        .and_then(|()| std::io::stdout().write_all(&page));
    match rendered {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("learning-contractsd: cannot write the man page: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `--verify-audit`: verifies the store at `path` read-only and prints the outcome as JSON.
fn verify_audit(path: &std::path::Path, key: Option<&str>) -> ExitCode {
    use learning_contracts::store::seal::VerificationKey;
    let key = match key {
        None => None,
        Some(given) => {
            let text = if given == "-" {
                let mut line = String::new();
                if let Err(err) = std::io::stdin().read_line(&mut line) {
                    eprintln!("learning-contractsd: cannot read the key from stdin: {err}");
                    return ExitCode::from(2);
                }
                line
            } else {
                given.to_string()
            };
            match text.parse::<VerificationKey>() {
                Ok(key) => Some(key),
                Err(err) => {
                    eprintln!("learning-contractsd: {err}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let verified = learning_contracts::store::AuditReader::open(path).and_then(|mut reader| {
        reader.verify_sealed(key.as_ref(), learning_contracts::core::Timestamp::now())
    });
    match verified {
        Ok(verification) => {
            println!(
                "{}",
                serde_json::to_string(&verification).unwrap_or_default()
            );
            if verification.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!(
                "learning-contractsd: cannot read the store at {}: {err}",
                path.display()
            );
            ExitCode::from(65)
        }
    }
}

fn xdg_dir(variable: &str, fallback: &str) -> PathBuf {
    std::env::var_os(variable)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(fallback)
        })
        .join("learning-contracts")
}

fn options(cli: &Cli) -> Options {
    let bus = match (&cli.bus_address, cli.user) {
        (Some(address), _) => BusChoice::Address(address.clone()),
        (None, true) => BusChoice::Session,
        (None, false) => BusChoice::System,
    };
    let state_dir = cli.state_dir.clone().unwrap_or_else(|| {
        if cli.user {
            xdg_dir("XDG_STATE_HOME", ".local/state")
        } else {
            std::env::var_os("STATE_DIRECTORY")
                .and_then(|dirs| std::env::split_paths(&dirs).next())
                .unwrap_or_else(|| PathBuf::from("/var/lib/learning-contracts"))
        }
    });
    let config = cli.config.clone().unwrap_or_else(|| {
        if cli.user {
            xdg_dir("XDG_CONFIG_HOME", ".config").join("daemon.toml")
        } else {
            PathBuf::from(learning_contracts::config::SYSTEM_CONFIG)
        }
    });
    Options {
        bus,
        state_dir,
        config,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.man {
        return print_man_page();
    }
    if let Some(path) = &cli.verify_audit {
        return verify_audit(path, cli.verification_key.as_deref());
    }
    service::logging::init(&cli.log_level);
    let options = options(&cli);
    if cli.check_config {
        return match learning_contracts::config::load(&options.config) {
            Ok(loaded) => {
                println!(
                    "configuration is valid ({} file(s) read)",
                    loaded.files.len()
                );
                println!("{:#?}", loaded.config);
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("learning-contractsd: invalid configuration: {err}");
                ExitCode::from(78)
            }
        };
    }
    // One thread serves the bus: checks are short and never block (the store has a thread of
    // its own, large calls such as batches a bulk thread: bus/fair.rs), and staying on one
    // thread saves the cross-thread wake-ups that dominate a bus round trip on a small machine.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("learning-contractsd: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("learning-contractsd: {err}");
            ExitCode::from(match err {
                ServiceError::Config(_) => 78,
                ServiceError::Store(_) => 65,
                ServiceError::NameTaken => 69,
                _ => 1,
            })
        }
    }
}
