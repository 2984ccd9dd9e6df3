//! The detector in real network namespaces: the daemon runs inside a namespace of its own
//! and follows its links and routes, with the suspensions and signals each mode brings; a
//! link flapping within the settle time leaves the permissive change unapplied; a link coming
//! up in AIRGAP latches LOCKDOWN, which survives a restart until an admin releases it.

use crate::common::bus::*;
use crate::common::netns::NetNs;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

fn detect_config(settle_ms: u64, tripwires: bool) -> String {
    format!(
        "[authorization]\nmode = \"unix\"\n\n[mode]\nsource = \"detect\"\nsettle_time_ms = {settle_ms}\n\n[mode.detect.tripwires]\nlink_up_while_isolated = {tripwires}\nlink_appears_while_isolated = {tripwires}\n"
    )
}

async fn wait_for_mode(boundary: &Boundary1Proxy<'_>, mode: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = uncached_mode(boundary).await;
        if now == mode {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mode stayed {now}, expected {mode}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn uncached_mode(boundary: &Boundary1Proxy<'_>) -> String {
    let reply = boundary
        .inner()
        .connection()
        .call_method(
            Some(BUS_NAME),
            PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.learningcontracts.Boundary1", "Mode"),
        )
        .await
        .unwrap();
    let value: zbus::OwnedVariant = reply.body().deserialize().unwrap();
    String::try_from(value).unwrap()
}

async fn suspension(contracts: &Contracts1Proxy<'_>, id: &str) -> Vec<String> {
    let contract = contracts.get(id).await.unwrap();
    contract["suspension"]
        .try_clone()
        .unwrap()
        .try_into()
        .unwrap()
}

async fn active(
    contracts: &Contracts1Proxy<'_>,
    kind: &str,
    required_mode: Option<&str>,
) -> String {
    let mut spec = episodic_spec(&["coding"]);
    if let Some(mode) = required_mode {
        spec.extend(dict(&[("required_mode", mode.into())]));
    }
    let id = contracts.create_draft(kind, &spec).await.unwrap();
    contracts.submit(&id).await.unwrap();
    contracts.activate(&id).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mode_follows_the_namespace_with_suspensions_and_signals() {
    if !require_root("the_mode_follows_the_namespace_with_suspensions_and_signals") {
        return;
    }
    let ns = NetNs::new();
    ns.add_ethernet();
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.0.2.254",
        "dev",
        "eth0",
    ]);
    ns.add_tun("wg0");
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start_in_netns(&bus, &detect_config(0, false), &ns.name);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let mut switches = boundary.receive_mode_switched().await.unwrap();
    let mut suspended = boundary.receive_contracts_suspended().await.unwrap();
    let mut resumed = boundary.receive_contracts_resumed().await.unwrap();
    wait_for_mode(&boundary, "OPEN").await;

    let anywhere = active(&contracts, "episodic", None).await;
    let strategic = active(&contracts, "strategic", None).await;
    let isolated = active(&contracts, "episodic", Some("AIRGAP")).await;
    assert_eq!(
        suspension(&contracts, &anywhere).await,
        Vec::<String>::new()
    );
    assert_eq!(suspension(&contracts, &strategic).await, vec!["mode"]);
    assert_eq!(suspension(&contracts, &isolated).await, vec!["mode"]);

    // OPEN → RESTRICTED: the route out is gone, the link is still up.
    ns.ip(&["route", "del", "default"]);
    wait_for_mode(&boundary, "RESTRICTED").await;
    assert_eq!(suspension(&contracts, &strategic).await, vec!["mode"]);

    // RESTRICTED → TRUSTED: the only default route leaves through the tun wg0.
    ns.ip(&["link", "set", "wg0", "up"]);
    ns.ip(&["route", "add", "default", "dev", "wg0"]);
    wait_for_mode(&boundary, "TRUSTED").await;
    assert_eq!(
        suspension(&contracts, &strategic).await,
        Vec::<String>::new(),
        "strategic resumes in TRUSTED"
    );
    assert_eq!(suspension(&contracts, &isolated).await, vec!["mode"]);

    // TRUSTED → RESTRICTED by wg0 going down: the kernel drops its IPv4 route without an event.
    ns.ip(&["link", "set", "wg0", "down"]);
    wait_for_mode(&boundary, "RESTRICTED").await;
    assert_eq!(suspension(&contracts, &strategic).await, vec!["mode"]);

    // → AIRGAP: every link but loopback down.
    ns.ip(&["link", "set", "eth0", "down"]);
    ns.ip(&["link", "set", "eth1", "down"]);
    wait_for_mode(&boundary, "AIRGAP").await;
    assert_eq!(
        suspension(&contracts, &strategic).await,
        Vec::<String>::new()
    );
    assert_eq!(
        suspension(&contracts, &isolated).await,
        Vec::<String>::new()
    );

    // → back to OPEN, at once (a restrictive change does not wait).
    ns.ip(&["link", "set", "eth1", "up"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.0.2.254",
        "dev",
        "eth0",
    ]);
    wait_for_mode(&boundary, "OPEN").await;
    assert_eq!(suspension(&contracts, &strategic).await, vec!["mode"]);
    assert_eq!(suspension(&contracts, &isolated).await, vec!["mode"]);
    assert_eq!(
        suspension(&contracts, &anywhere).await,
        Vec::<String>::new()
    );

    // The signals told the same story, in order.
    let mut seen = Vec::new();
    while let Ok(Some(signal)) =
        tokio::time::timeout(Duration::from_millis(300), switches.next()).await
    {
        let args = signal.args().unwrap();
        seen.push(format!("{}→{}", args.old(), args.new()));
    }
    let path: Vec<&str> = seen.iter().map(|s| s.split('→').nth(1).unwrap()).collect();
    let wanted = ["RESTRICTED", "TRUSTED", "RESTRICTED", "AIRGAP", "OPEN"];
    let mut at = 0;
    for mode in path.iter().skip_while(|m| **m != "RESTRICTED") {
        if at < wanted.len() && *mode == wanted[at] {
            at += 1;
        }
    }
    assert_eq!(
        at,
        wanted.len(),
        "ModeSwitched signals {seen:?} do not walk {wanted:?}"
    );
    let mut suspended_ids = Vec::new();
    while let Ok(Some(signal)) =
        tokio::time::timeout(Duration::from_millis(100), suspended.next()).await
    {
        let args = signal.args().unwrap();
        assert_eq!(args.reason(), &"mode");
        suspended_ids.extend(args.ids().iter().cloned());
    }
    assert!(
        suspended_ids.contains(&strategic) && suspended_ids.contains(&isolated),
        "{suspended_ids:?}"
    );
    assert!(!suspended_ids.contains(&anywhere));
    let mut resumed_ids = Vec::new();
    while let Ok(Some(signal)) =
        tokio::time::timeout(Duration::from_millis(100), resumed.next()).await
    {
        resumed_ids.extend(signal.args().unwrap().ids().iter().cloned());
    }
    assert!(
        resumed_ids.contains(&strategic) && resumed_ids.contains(&isolated),
        "{resumed_ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_link_within_the_settle_time_changes_nothing() {
    if !require_root("a_flapping_link_within_the_settle_time_changes_nothing") {
        return;
    }
    let ns = NetNs::new();
    ns.add_ethernet();
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.0.2.254",
        "dev",
        "eth0",
    ]);
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start_in_netns(&bus, &detect_config(1500, false), &ns.name);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "OPEN").await;
    let mut switches = boundary.receive_mode_switched().await.unwrap();

    // The route out disappears and comes back three times within the settle time: the more
    // permissive RESTRICTED never applies.
    for _ in 0..3 {
        ns.ip(&["route", "del", "default"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        ns.ip(&[
            "route",
            "add",
            "default",
            "via",
            "192.0.2.254",
            "dev",
            "eth0",
        ]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(uncached_mode(&boundary).await, "OPEN");
    }
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(uncached_mode(&boundary).await, "OPEN");
    assert!(
        tokio::time::timeout(Duration::from_millis(50), switches.next())
            .await
            .is_err(),
        "no ModeSwitched while the link flapped"
    );

    // A lasting change applies once it has held for the settle time, not before.
    let removed = Instant::now();
    ns.ip(&["route", "del", "default"]);
    let signal = tokio::time::timeout(Duration::from_secs(5), switches.next())
        .await
        .unwrap()
        .unwrap();
    let waited = removed.elapsed();
    assert_eq!(signal.args().unwrap().new(), &"RESTRICTED");
    assert!(
        waited >= Duration::from_millis(1400),
        "applied after {waited:?}, before the settle time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_up_in_airgap_latches_lockdown_through_a_restart_until_an_admin_releases_it() {
    if !require_root(
        "a_link_up_in_airgap_latches_lockdown_through_a_restart_until_an_admin_releases_it",
    ) {
        return;
    }
    let ns = NetNs::new();
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let prefix = ["ip", "netns", "exec", ns.name.as_str()];
    let mut daemon =
        DaemonProcess::start_with(&bus, &detect_config(0, true), root.path(), &[], &prefix);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "AIRGAP").await;

    ns.ip(&["link", "set", "eth1", "up"]);
    wait_for_mode(&boundary, "LOCKDOWN").await;
    let reason = boundary.lockdown_reason().await.unwrap();
    assert!(
        reason.contains("eth1") && reason.contains("AIRGAP"),
        "{reason}"
    );
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let (allowed, code, ..) = enforcement
        .check_recall(&dict(&[
            ("domain", "coding".into()),
            ("context", "x".into()),
            ("classification", 0u8.into()),
        ]))
        .await
        .unwrap();
    assert!(!allowed);
    assert_eq!(code, "lockdown");

    // The link going away again does not lift a latched lockdown.
    ns.ip(&["link", "set", "eth1", "down"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(uncached_mode(&boundary).await, "LOCKDOWN");

    // Nor does a restart.
    assert_eq!(daemon.stop().code(), Some(0));
    drop(daemon);
    let _daemon =
        DaemonProcess::start_with(&bus, &detect_config(0, true), root.path(), &[], &prefix);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "LOCKDOWN").await;
    assert!(boundary.lockdown().await.unwrap());

    // Only an admin releases it; then the mode follows the host again.
    let refused = boundary.release_lockdown("I want to learn").await;
    assert_eq!(outcome(&refused), "org.freedesktop.DBus.Error.AccessDenied");
    let root_client = connect_as(&bus, 0, &[0]).await;
    let admin = Boundary1Proxy::new(&root_client).await.unwrap();
    admin
        .release_lockdown("cable checked and removed")
        .await
        .unwrap();
    wait_for_mode(&admin, "AIRGAP").await;
}

/// The daemon's facts, as `Explain()` shows them (the JSON after "Facts: ").
async fn explained_facts(boundary: &Boundary1Proxy<'_>) -> serde_json::Value {
    let text = boundary.explain().await.unwrap();
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("Facts: "))
        .unwrap_or_else(|| panic!("no facts in {text}"));
    serde_json::from_str(json).unwrap()
}

/// Starts a daemon in `ns` (detector, settle time 0, the link tripwires off) and waits for
/// `mode`; returns the Explain() facts with it.
async fn mode_in(ns: &NetNs, mode: &str) -> serde_json::Value {
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start_in_netns(&bus, &detect_config(0, false), &ns.name);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, mode).await;
    explained_facts(&boundary).await
}

fn split_pair_via_eth0(ns: &NetNs, table: Option<&str>) {
    for half in ["0.0.0.0/1", "128.0.0.0/1"] {
        let mut args = vec!["route", "add", half, "via", "192.0.2.254", "dev", "eth0"];
        if let Some(table) = table {
            args.extend(["table", table]);
        }
        ns.ip(&args);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_routes_out_without_a_default_route_read_open() {
    if !require_root("split_routes_out_without_a_default_route_read_open") {
        return;
    }
    // 0.0.0.0/1 + 128.0.0.0/1 via a gateway (a VPN client's split pair, or DHCP option 121)
    // reach the whole internet: OPEN, not RESTRICTED.
    let ns = NetNs::new();
    ns.add_ethernet();
    split_pair_via_eth0(&ns, None);
    let facts = mode_in(&ns, "OPEN").await;
    let routes = facts["routes_out"].as_array().unwrap();
    for destination in ["0.0.0.0/1", "128.0.0.0/1"] {
        let route = routes
            .iter()
            .find(|r| r["destination"] == destination)
            .unwrap_or_else(|| panic!("{destination} not among the routes out: {routes:?}"));
        assert_eq!(route["family"], "ipv4");
        assert_eq!(route["table"], 254);
        assert_eq!(route["links"], serde_json::json!(["eth0"]));
        assert_eq!(route["gateway"], "192.0.2.254");
        assert!(route["why"].as_str().is_some_and(|w| !w.is_empty()));
    }
    let eth0 = facts["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "eth0")
        .unwrap()
        .clone();
    assert_eq!(eth0["vpn"], false);
    assert!(eth0["vpn_why"].as_str().unwrap().contains("veth"), "{eth0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_pair_via_ethernet_beside_a_vpn_default_is_not_trusted() {
    if !require_root("a_split_pair_via_ethernet_beside_a_vpn_default_is_not_trusted") {
        return;
    }
    // wg0 carries the default route, but the more specific /1 pair sends everything out
    // through eth0: OPEN, never TRUSTED.
    let ns = NetNs::new();
    ns.add_ethernet();
    ns.add_tun("wg0");
    ns.ip(&["link", "set", "wg0", "up"]);
    ns.ip(&["route", "add", "default", "dev", "wg0"]);
    split_pair_via_eth0(&ns, None);
    let facts = mode_in(&ns, "OPEN").await;
    let wg0 = facts["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "wg0")
        .unwrap()
        .clone();
    assert_eq!(wg0["vpn"], true, "{wg0}");
    assert_eq!(wg0["vpn_why"], "tun device (not TAP)");
    assert_eq!(wg0["tun_mode"], "tun", "{wg0}");
    assert_eq!(wg0["link_type"], "none", "{wg0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_device_carrying_the_only_default_route_is_not_a_vpn() {
    if !require_root("a_tap_device_carrying_the_only_default_route_is_not_a_vpn") {
        return;
    }
    let ns = NetNs::new();
    ns.exec("ip", &["tuntap", "add", "dev", "tap0", "mode", "tap"]);
    ns.ip(&["link", "set", "tap0", "up"]);
    ns.ip(&["route", "add", "default", "dev", "tap0"]);
    let facts = mode_in(&ns, "OPEN").await;
    let tap0 = facts["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "tap0")
        .unwrap()
        .clone();
    assert_eq!(tap0["vpn"], false, "{tap0}");
    assert_eq!(tap0["tun_mode"], "tap", "{tap0}");
    assert_eq!(tap0["link_type"], "ether", "{tap0}");
    assert_eq!(tap0["vpn_why"], "TAP device: not a VPN by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_split_pair_reads_open() {
    if !require_root("an_ipv6_split_pair_reads_open") {
        return;
    }
    let ns = NetNs::new();
    ns.add_ethernet();
    ns.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    for half in ["::/1", "8000::/1"] {
        ns.ip(&[
            "-6",
            "route",
            "add",
            half,
            "via",
            "2001:db8::fe",
            "dev",
            "eth0",
        ]);
    }
    let facts = mode_in(&ns, "OPEN").await;
    let routes = facts["routes_out"].as_array().unwrap();
    assert!(
        routes
            .iter()
            .any(|r| r["destination"] == "8000::/1" && r["family"] == "ipv6"),
        "{routes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_out_count_in_every_table_an_ip_rule_selects_and_only_there() {
    if !require_root("routes_out_count_in_every_table_an_ip_rule_selects_and_only_there") {
        return;
    }
    // The split pair in table 100, which a rule selects: OPEN.
    let ns = NetNs::new();
    ns.add_ethernet();
    split_pair_via_eth0(&ns, Some("100"));
    ns.ip(&["rule", "add", "pref", "100", "lookup", "100"]);
    let facts = mode_in(&ns, "OPEN").await;
    assert!(
        facts["routes_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["table"] == 100),
        "{facts}"
    );
    drop(ns);

    // A default route in table 200, which no rule selects, carries nothing: RESTRICTED.
    let ns = NetNs::new();
    ns.add_ethernet();
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.0.2.254",
        "dev",
        "eth0",
        "table",
        "200",
    ]);
    mode_in(&ns, "RESTRICTED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_appearing_down_in_airgap_latches_lockdown() {
    if !require_root("a_link_appearing_down_in_airgap_latches_lockdown") {
        return;
    }
    let ns = NetNs::new();
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let prefix = ["ip", "netns", "exec", ns.name.as_str()];
    let _daemon =
        DaemonProcess::start_with(&bus, &detect_config(0, true), root.path(), &[], &prefix);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "AIRGAP").await;

    // A tun device (a phone tether, a USB adapter) appears and stays down.
    ns.add_tun("usb0");
    wait_for_mode(&boundary, "LOCKDOWN").await;
    let reason = boundary.lockdown_reason().await.unwrap();
    assert!(
        reason.contains("usb0") && reason.contains("AIRGAP"),
        "{reason}"
    );

    // An admin who releases it accepts the links present then: the link that stays does not
    // latch again.
    let root_client = connect_as(&bus, 0, &[0]).await;
    let admin = Boundary1Proxy::new(&root_client).await.unwrap();
    admin
        .release_lockdown("usb0 is the new tether, checked")
        .await
        .unwrap();
    wait_for_mode(&admin, "AIRGAP").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(uncached_mode(&admin).await, "AIRGAP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_appeared_while_the_daemon_was_down_latches_at_start() {
    if !require_root("a_link_that_appeared_while_the_daemon_was_down_latches_at_start") {
        return;
    }
    // AIRGAP with a veth pair present but down: the links the host had when it became
    // isolated are recorded, so a restart alone latches nothing.
    let ns = NetNs::new();
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let prefix = ["ip", "netns", "exec", ns.name.as_str()];
    let config = detect_config(0, true);
    let mut daemon = DaemonProcess::start_with(&bus, &config, root.path(), &[], &prefix);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "AIRGAP").await;
    assert_eq!(daemon.stop().code(), Some(0));
    drop(daemon);
    let mut daemon = DaemonProcess::start_with(&bus, &config, root.path(), &[], &prefix);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "AIRGAP").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(uncached_mode(&boundary).await, "AIRGAP");

    // While it is stopped, a link appears and stays down: the next start latches.
    assert_eq!(daemon.stop().code(), Some(0));
    drop(daemon);
    ns.add_tun("usb0");
    let _daemon = DaemonProcess::start_with(&bus, &config, root.path(), &[], &prefix);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let boundary = Boundary1Proxy::new(&owner).await.unwrap();
    wait_for_mode(&boundary, "LOCKDOWN").await;
    let reason = boundary.lockdown_reason().await.unwrap();
    assert!(reason.contains("usb0 appeared"), "{reason}");
}
