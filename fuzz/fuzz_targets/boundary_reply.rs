//! The Boundary Daemon's `status` reply, as bytes off its socket: `parse_status` must never
//! panic, must accept only what BOUNDARY-DAEMON-PROTOCOL.md calls a good reply, and must
//! never fail open. Checked against an independent reading of the same JSON.

#![no_main]

use learning_contracts::core::{BoundaryMode, EffectiveMode};
use learning_contracts::source::boundary_daemon::{
    BoundaryDaemonConfig, BoundaryDaemonSource, Cause, MAX_REPLY_BYTES, parse_status,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The six names of the protocol, exactly.
fn wire_mode(name: &str) -> Option<BoundaryMode> {
    let index = [
        "open",
        "restricted",
        "trusted",
        "airgap",
        "coldroom",
        "lockdown",
    ]
    .iter()
    .position(|wire| *wire == name)?;
    Some(BoundaryMode::ALL[index])
}

/// Server text reaches logs and bus properties: one line, at most 200 characters and "…".
fn check_quoted(text: &Option<String>) {
    if let Some(text) = text {
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.chars().count() <= 201, "{}", text.len());
    }
}

fuzz_target!(|reply: &[u8]| {
    let outcome = parse_status(reply);
    let independent: Option<Value> = serde_json::from_slice(reply).ok();
    match &outcome {
        Ok(status) => {
            let value = independent.expect("accepted a reply that is not JSON");
            assert_eq!(value.get("success"), Some(&Value::Bool(true)));
            let mode = value["status"]["boundary_state"]["mode"]
                .as_str()
                .and_then(wire_mode);
            assert_eq!(mode, Some(status.reported_mode), "the mode is read exactly");
            let latched = !matches!(value["status"].get("lockdown"), None | Some(Value::Null));
            assert_eq!(status.latch.is_some(), latched);
            // The latch always wins: never a mode more permissive than LOCKDOWN under it.
            if latched {
                assert_eq!(status.effective_mode(), BoundaryMode::Lockdown);
            } else {
                assert_eq!(status.effective_mode(), status.reported_mode);
            }
            for text in [&status.last_transition, &status.operator, &status.network] {
                check_quoted(text);
            }
            if let Some(latch) = &status.latch {
                check_quoted(&latch.reason);
                check_quoted(&latch.since);
            }
        }
        Err(cause) => {
            match cause {
                Cause::ReplyTooLarge => assert!(reply.len() > MAX_REPLY_BYTES),
                Cause::NotJson => assert!(!independent.as_ref().is_some_and(Value::is_object)),
                Cause::NotSuccess { message, .. } => check_quoted(message),
                Cause::MissingMode | Cause::UnknownMode(_) => {}
                other => panic!("a parse cannot fail with a socket cause: {other:?}"),
            }
            // A cause is logged on one line.
            let shown = cause.to_string();
            assert!(!shown.contains(['\n', '\r']), "{shown:?}");
        }
    }
    // The reading the source makes of it: a failure is UNKNOWN from an unhealthy source.
    let reading = BoundaryDaemonSource::new(BoundaryDaemonConfig::default()).reading(&outcome);
    match &outcome {
        Ok(status) => {
            assert!(reading.healthy);
            assert_eq!(reading.mode, EffectiveMode::Known(status.effective_mode()));
        }
        Err(_) => {
            assert!(!reading.healthy);
            assert_eq!(reading.mode, EffectiveMode::Unknown);
            assert!(!reading.route_out_is_vpn);
        }
    }
    assert!(
        !reading.explanation.contains('\n'),
        "{:?}",
        reading.explanation
    );
});
