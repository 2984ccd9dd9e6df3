//! The configuration: the shipped, documented file states exactly the built-in defaults;
//! layers merge key by key; unknown keys and bad values are refused naming the file and key.

use learning_contracts::config::{self, AuthorizationMode, Config, ConfigError};
use std::path::Path;

#[test]
fn the_shipped_config_states_exactly_the_defaults() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/daemon.toml"))
            .unwrap();
    let table = config::parse_layer(&text).expect("config/daemon.toml parses");
    let parsed: Config = toml::Value::Table(table).try_into().unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn the_shipped_config_mentions_every_key() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/daemon.toml"))
            .unwrap();
    for key in [
        "[authorization]",
        "mode =",
        "admin_group",
        "[[delegation]]",
        "agent =",
        "owners =",
        "[mode]",
        "source =",
        "static_mode",
        "settle_time_ms",
        "[gates]",
        "denied_tools",
        "[sessions]",
        "idle_timeout_secs",
        "max_per_owner",
        "max_per_connection",
        "[limits]",
        "max_entries",
        "max_string_bytes",
        "max_audit_read",
        "denial_audit_interval_secs",
        "max_open_drafts_per_owner",
        "max_memories_per_owner",
        "max_owner_writes_per_minute",
        "store_max_bytes",
        "store_min_free_bytes",
        "[audit]",
        "checkpoint_every_records",
        "checkpoint_every_minutes",
        "[mode.detect]",
        "vpn_kinds",
        "vpn_links",
        "ignore_links",
        "route_out_ipv4_prefix",
        "route_out_ipv6_prefix",
        "[mode.detect.tripwires]",
        "link_up_while_isolated",
        "link_appears_while_isolated",
        "removable_media_in_coldroom",
    ] {
        assert!(
            text.contains(key),
            "config/daemon.toml does not document {key}"
        );
    }
}

#[test]
fn later_files_win_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("daemon.toml");
    std::fs::write(&main, "[mode]\nstatic_mode = \"AIRGAP\"\nsettle_time_ms = 500\n[authorization]\nmode = \"unix\"\n").unwrap();
    std::fs::create_dir(dir.path().join("daemon.toml.d")).unwrap();
    std::fs::write(
        dir.path().join("daemon.toml.d/20-second.toml"),
        "[mode]\nsettle_time_ms = 900\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("daemon.toml.d/10-first.toml"),
        "[mode]\nsettle_time_ms = 100\nstatic_mode = \"OPEN\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("daemon.toml.d/ignored.conf"),
        "not toml at all [",
    )
    .unwrap();
    let loaded = config::load(&main).unwrap();
    assert_eq!(
        loaded.config.mode.settle_time_ms, 900,
        "the last drop-in by name wins"
    );
    assert_eq!(loaded.config.mode.static_mode.as_deref(), Some("OPEN"));
    assert_eq!(
        loaded.config.authorization.mode,
        AuthorizationMode::Unix,
        "untouched keys keep the main file's value"
    );
    assert_eq!(loaded.files.len(), 3);
}

#[test]
fn a_missing_main_file_means_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config::load(&dir.path().join("absent.toml")).unwrap();
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.files.is_empty());
}

fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("daemon.toml");
    std::fs::write(&main, text).unwrap();
    let err = config::load(&main).unwrap_err();
    err.to_string()
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_file_and_key() {
    let message = refused("[mode]\nsettle_time = 5\n");
    assert!(
        message.contains("daemon.toml") && message.contains("settle_time"),
        "{message}"
    );
    let message = refused("[authorization]\nmode = \"sudo\"\n");
    assert!(
        message.contains("daemon.toml") && message.contains("sudo"),
        "{message}"
    );
    let message = refused("[sessions]\nmax_per_owner = -1\n");
    assert!(message.contains("daemon.toml"), "{message}");
    let message = refused("[mode]\nstatic_mode = \"SIDEWAYS\"\n");
    assert!(
        message.contains("mode.static_mode") && message.contains("SIDEWAYS"),
        "{message}"
    );
    let message = refused("[authorization]\nadmin_group = \"no-such-group-here\"\n");
    assert!(message.contains("authorization.admin_group"), "{message}");
    let message = refused("[[delegation]]\nagent = \"no-such-user-here\"\nowners = [0]\n");
    assert!(message.contains("delegation[0].agent"), "{message}");
    let message = refused("[[delegation]]\nagent = 0\nowners = []\n");
    assert!(message.contains("delegation[0].owners"), "{message}");
    let message = refused("[gates]\ndenied_tools = [\"\"]\n");
    assert!(message.contains("gates.denied_tools[0]"), "{message}");
    let message = refused("[[mode.detect.rules]]\nwhen = [\"wifi_up\"]\nmode = \"OPEN\"\n");
    assert!(
        message.contains("mode.detect.rules") && message.contains("wifi_up"),
        "{message}"
    );
    for (text, key) in [
        (
            "[mode.detect]\nroute_out_ipv4_prefix = 0\n",
            "route_out_ipv4_prefix",
        ),
        (
            "[mode.detect]\nroute_out_ipv4_prefix = 33\n",
            "route_out_ipv4_prefix",
        ),
        (
            "[mode.detect]\nroute_out_ipv6_prefix = 7\n",
            "route_out_ipv6_prefix",
        ),
        (
            "[mode.detect]\nroute_out_ipv6_prefix = 129\n",
            "route_out_ipv6_prefix",
        ),
    ] {
        let message = refused(text);
        assert!(
            message.contains(&format!("mode.detect.{key}")),
            "{text}: {message}"
        );
    }
    let message = refused("[mode.boundary_daemon]\nsocket = \"relative.sock\"\n");
    assert!(message.contains("mode.boundary_daemon.socket"), "{message}");
    let message = refused("this is not toml");
    assert!(message.contains("daemon.toml"), "{message}");
    for interval in [0, 9, 604_801] {
        let message = refused(&format!("[audit]\nseal_interval_seconds = {interval}\n"));
        assert!(message.contains("audit.seal_interval_seconds"), "{message}");
    }
}

#[test]
fn a_bad_drop_in_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("daemon.toml");
    std::fs::write(&main, "").unwrap();
    std::fs::create_dir(dir.path().join("daemon.toml.d")).unwrap();
    std::fs::write(
        dir.path().join("daemon.toml.d/50-bad.toml"),
        "[limits]\nmax_entries = \"many\"\n",
    )
    .unwrap();
    let err = config::load(&main).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }));
    assert!(err.to_string().contains("50-bad.toml"), "{err}");
}

#[test]
fn delegations_and_deny_lists_are_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("daemon.toml");
    std::fs::write(
        &main,
        "[[delegation]]\nagent = \"nobody\"\nowners = [\"root\", 4242]\n[gates]\ndenied_tools = [\" Curl \"]\n",
    )
    .unwrap();
    let loaded = config::load(&main).unwrap();
    assert_eq!(loaded.delegations.get(&65534), Some(&vec![0, 4242]));
    assert_eq!(
        loaded.config.gates.denied_tools,
        vec!["curl".to_string()],
        "tool names are normalized like requests"
    );
}

#[test]
fn one_text_parses_and_is_checked_without_files() {
    let config = config::parse_checked("[gates]\ndenied_tools = [\" Curl \"]\n").unwrap();
    assert_eq!(config.gates.denied_tools, vec!["curl".to_string()]);
    assert_eq!(config::parse_checked("").unwrap(), Config::default());
    let err = config::parse_checked("[mode]\nstatic_mode = \"SIDEWAYS\"\n").unwrap_err();
    assert!(err.to_string().contains("mode.static_mode"), "{err}");
    let err = config::parse_checked("[[delegation]]\nagent = 0\nowners = []\n").unwrap_err();
    assert!(err.to_string().contains("delegation[0].owners"), "{err}");
    let err = config::parse_checked("[limits]\nmax_entries = \"many\"\n").unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
    // Names are not looked up: that needs the host, and `load` does it.
    assert!(
        config::parse_checked("[[delegation]]\nagent = \"no-such-user-here\"\nowners = [0]\n")
            .is_ok()
    );
}

/// Found writing the config fuzz target, which now asserts it: `idle_timeout_secs` times 1000
/// overflowed `i64` (a panic in debug builds; in release a wrapped, negative timeout that ends
/// every session at once). TOML integers stop at `i64::MAX`, so the settle time could not wrap,
/// but it is read through the same kind of saturating accessor.
#[test]
fn huge_times_saturate_instead_of_wrapping() {
    let config = config::parse_checked(
        "[mode]\nsettle_time_ms = 9223372036854775807\n[sessions]\nidle_timeout_secs = 9223372036854775807\n",
    )
    .unwrap();
    assert_eq!(config.mode.settle_millis(), i64::MAX);
    assert_eq!(config.sessions.idle_timeout_millis(), i64::MAX);
    let config =
        config::parse_checked("[sessions]\nidle_timeout_secs = 9223372036854776\n").unwrap();
    assert_eq!(config.sessions.idle_timeout_millis(), i64::MAX);
    assert_eq!(Config::default().mode.settle_millis(), 2000);
    assert_eq!(Config::default().sessions.idle_timeout_millis(), 3_600_000);
}

#[test]
fn zero_budgets_and_a_zero_denial_interval_are_refused_naming_the_key() {
    for key in [
        "denial_audit_interval_secs",
        "max_open_drafts_per_owner",
        "max_memories_per_owner",
        "max_owner_writes_per_minute",
    ] {
        let message = refused(&format!("[limits]\n{key} = 0\n"));
        assert!(message.contains(&format!("limits.{key}")), "{message}");
    }
}

#[test]
fn checkpoint_cadence_defaults_zero_turns_off_and_bad_values_are_refused() {
    let defaults = Config::default().audit.cadence();
    assert_eq!(
        (defaults.every_records, defaults.every_millis),
        (1000, 5 * 60_000)
    );
    let off = config::parse_checked(
        "[audit]\ncheckpoint_every_records = 0\ncheckpoint_every_minutes = 0\n",
    )
    .unwrap();
    assert_eq!(
        off.audit.cadence(),
        learning_contracts::core::checkpoint::Cadence::OFF
    );
    let day = config::parse_checked("[audit]\ncheckpoint_every_minutes = 1440\n").unwrap();
    assert_eq!(day.audit.cadence().every_millis, 1440 * 60_000);
    let message = refused("[audit]\ncheckpoint_every_minutes = 1441\n");
    assert!(
        message.contains("audit.checkpoint_every_minutes") && message.contains("at most 1440"),
        "{message}"
    );
    for bad in [
        "checkpoint_every_records = -1",
        "checkpoint_every_minutes = 2.5",
        "checkpoint_every_minutes = \"5m\"",
        "checkpoint_every_hours = 1",
    ] {
        let message = refused(&format!("[audit]\n{bad}\n"));
        assert!(message.contains("daemon.toml"), "{bad}: {message}");
    }
}
