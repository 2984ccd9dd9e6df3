//! The daemon's config, from text to a checked `Config` (`config::parse_checked`: the same
//! parsing and checks as loading a file, without the file and without user look-ups). Must
//! never panic, and whatever it accepts must hold the values the daemon relies on: checks
//! passed, tool names normalized, and times the service can compute with.

#![no_main]

use learning_contracts::config::{self, ConfigError};
use learning_contracts::core::Name;
use learning_contracts::source::boundary_daemon::next_poll_delay;
use learning_contracts::source::detect::rules::compile_rules;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let config = match config::parse_checked(&text) {
        Ok(config) => config,
        Err(err) => {
            match &err {
                ConfigError::Invalid { .. } => {}
                ConfigError::Value { key, .. } => assert!(!key.is_empty()),
                ConfigError::Read { .. } => panic!("parse_checked read a file: {err}"),
            }
            let _ = err.to_string();
            return;
        }
    };
    // Every layer that makes a config also passes the per-file check of `load`.
    assert!(config::parse_layer(&text).is_ok());

    if let Some(mode) = &config.mode.static_mode {
        assert!(config.mode.static_mode().is_some(), "{mode:?} was accepted");
    }
    assert!(compile_rules(&config.mode.detect.rules).is_ok());
    let _ = config.mode.detect.link_policy();
    assert!(config.limits.max_entries >= 1 && config.limits.max_audit_read >= 1);
    assert!(config.sessions.max_per_owner >= 1);
    for tool in &config.gates.denied_tools {
        let normalized = Name::parse(tool).expect("a checked deny list holds names");
        assert_eq!(normalized.as_str(), tool, "the deny list is normalized");
    }
    assert!(config.delegation.iter().all(|d| !d.owners.is_empty()));

    // The times the service derives from the config.
    assert!(
        config.mode.settle_millis() >= 0,
        "a settle time never wraps to none"
    );
    assert!(
        config.sessions.idle_timeout_millis() >= 0,
        "an idle timeout never wraps"
    );
    let boundary = &config.mode.boundary_daemon;
    assert!(boundary.validate().is_ok());
    assert!(boundary.socket.is_absolute());
    assert!(boundary.poll_interval() >= Duration::from_millis(10));
    assert!(boundary.timeout() >= Duration::from_millis(1));
    assert!(boundary.max_backoff() >= boundary.poll_interval());
    let mut previous = Duration::ZERO;
    for failures in [0, 1, 2, 3, 10, 31, 32, 33, 1000, u32::MAX] {
        let delay = next_poll_delay(boundary, failures);
        assert!(delay >= previous && delay <= boundary.max_backoff().max(boundary.poll_interval()));
        previous = delay;
    }
    let _ = format!("{config:?}");
});
