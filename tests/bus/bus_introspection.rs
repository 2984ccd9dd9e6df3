//! The bus interface is a public contract whose source of truth is the committed
//! `dbus/org.learningcontracts.*.xml`, edited by hand: the running daemon's introspection must
//! match it, documentation included, so the server cannot drift from it (the client's proxies
//! are generated from the same files, tests/bus/interface.rs). A change to the interface is made in
//! the XML first, then in the server's code (signature and doc comment) until this passes.

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;
use std::path::Path;

const INTERFACES: [&str; 7] = [
    "org.learningcontracts.Daemon1",
    "org.learningcontracts.Contracts1",
    "org.learningcontracts.Enforcement1",
    "org.learningcontracts.Boundary1",
    "org.learningcontracts.Memories1",
    "org.learningcontracts.Sessions1",
    "org.learningcontracts.Audit1",
];

/// The `<interface name="NAME">…</interface>` block of an introspection document.
fn interface_block<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<interface name=\"{name}\">"))?;
    let end = start + xml[start..].find("</interface>")? + "</interface>".len();
    Some(&xml[start..end])
}

/// Lines trimmed and blank lines dropped: indentation is not part of the contract.
fn normalized(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_interfaces_match_the_committed_xml() {
    if !require_root("the_running_interfaces_match_the_committed_xml") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let client = connect_as(&bus, 0, &[0]).await;
    let proxy = zbus::fdo::IntrospectableProxy::builder(&client)
        .destination(BUS_NAME)
        .path(PATH)
        .build()
        .await
        .unwrap();
    let xml = proxy.introspect().await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus");
    let mut drift = Vec::new();
    for name in INTERFACES {
        let running = interface_block(&xml, name)
            .unwrap_or_else(|| panic!("the daemon does not serve {name}"));
        let path = dir.join(format!("{name}.xml"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let committed_block = interface_block(&committed, name).unwrap_or("");
        if normalized(committed_block) != normalized(running) {
            drift.push(format!(
                "{name}: the running daemon differs from dbus/{name}.xml, the interface's source of truth: change the server's code (or, for a deliberate addition, the XML first)\n--- committed\n{committed_block}\n--- running\n{running}"
            ));
        }
    }
    assert!(drift.is_empty(), "{}", drift.join("\n\n"));
    // Nothing but our interfaces and the standard ones is served.
    for served in xml.match_indices("<interface name=\"").map(|(i, _)| {
        let rest = &xml[i + 17..];
        &rest[..rest.find('"').unwrap()]
    }) {
        assert!(
            INTERFACES.contains(&served) || served.starts_with("org.freedesktop.DBus."),
            "unexpected interface {served}"
        );
    }
}

#[test]
fn every_member_is_documented_in_the_committed_xml() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus");
    for name in INTERFACES {
        let xml = std::fs::read_to_string(dir.join(format!("{name}.xml")))
            .unwrap_or_else(|_| panic!("dbus/{name}.xml is missing"));
        let lines: Vec<&str> = xml.lines().map(str::trim).collect();
        for (index, line) in lines.iter().enumerate() {
            let member = ["<method ", "<signal ", "<property "]
                .iter()
                .any(|tag| line.starts_with(tag));
            if member {
                assert!(
                    index > 0 && lines[index - 1] == "-->",
                    "{name}: `{line}` has no documentation comment right above it"
                );
            }
        }
        assert!(
            lines.iter().any(|l| l.starts_with("<interface")),
            "{name}: no interface element"
        );
    }
}
