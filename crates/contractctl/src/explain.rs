//! `contractctl mode --explain` for people: the daemon's Explain text taken apart, and the
//! source's facts rendered as a person reads them (the rule that matched, then links, routes
//! out and mounts, each with why), instead of one long JSON line. Facts whose shape is not
//! known here (a newer daemon, another source) are still shown, as `key: value` lines.
//!
//! Also says what still holds LOCKDOWN after a release (`contractctl release-lockdown`).

use super::output::table;
use serde_json::{Map, Value};

/// The daemon's Explain answer, taken apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Explained {
    /// The `Label: text` lines before the facts, in order (Mode, Source, Reading, …).
    pub lines: Vec<(String, String)>,
    /// The source's facts (the `Facts:` line's JSON; `null` when there is none).
    pub facts: Value,
}

impl Explained {
    /// The text of the first line with this label.
    pub fn line(&self, label: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(name, _)| name == label)
            .map(|(_, text)| text.as_str())
    }
}

/// Takes the Explain text apart: `Label: text` lines, and the `Facts:` line as JSON (kept as
/// a string if it does not parse, so nothing the daemon said is lost).
pub fn parse(text: &str) -> Explained {
    let mut lines = Vec::new();
    let mut facts = Value::Null;
    for line in text.lines() {
        match line.split_once(": ") {
            Some(("Facts", json)) => {
                facts = serde_json::from_str(json).unwrap_or_else(|_| Value::from(json));
            }
            Some((label, rest)) => lines.push((label.to_string(), rest.to_string())),
            None if !line.trim().is_empty() => lines.push((String::new(), line.to_string())),
            None => {}
        }
    }
    Explained { lines, facts }
}

/// The Explain answer for people: its lines, then the facts by kind.
pub fn render(explained: &Explained) -> String {
    let mut out: Vec<String> = explained
        .lines
        .iter()
        .map(|(label, text)| {
            if label.is_empty() {
                text.clone()
            } else {
                format!("{label}: {text}")
            }
        })
        .collect();
    let facts = render_facts(&explained.facts);
    if !facts.is_empty() {
        out.push(String::new());
        out.push(facts);
    }
    out.join("\n")
}

/// The facts as sections. Detector facts (`links`, `routes_out` or `default_routes`,
/// `mounts`, `facts`, `rule`), the Boundary Daemon's (`socket`, …) and the static source's
/// (`static_mode`) each have their own; anything else is listed as it is.
pub fn render_facts(facts: &Value) -> String {
    let Some(map) = facts.as_object() else {
        return match facts {
            Value::Null => String::new(),
            other => format!("Facts: {}", plain(other)),
        };
    };
    if map.is_empty() {
        return "Facts: none (no reading yet)".to_string();
    }
    let mut sections = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    if map.contains_key("rule") || map.contains_key("facts") {
        sections.push(rule_section(map));
        shown.extend(["rule", "facts"]);
    }
    if map.contains_key("socket") {
        sections.push(boundary_daemon_section(map));
        shown.extend([
            "socket",
            "reported_mode",
            "lockdown_latched",
            "lockdown_reason",
            "lockdown_since",
            "last_transition",
            "operator",
            "network",
            "cause",
            "cause_detail",
        ]);
    }
    if let Some(mode) = map.get("static_mode") {
        sections.push(format!(
            "Static mode: {} (mode.static_mode in the config; nothing is detected)",
            plain(mode)
        ));
        shown.push("static_mode");
    }
    if let Some(links) = map.get("links").and_then(Value::as_array) {
        sections.push(links_section(links));
        shown.push("links");
    }
    let links = map
        .get("links")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if let Some(routes) = map.get("routes_out").and_then(Value::as_array) {
        sections.push(routes_out_section(routes));
        shown.push("routes_out");
    } else if let Some(routes) = map.get("default_routes").and_then(Value::as_array) {
        sections.push(default_routes_section(routes, links));
        shown.push("default_routes");
    }
    if let Some(mounts) = map.get("mounts") {
        sections.push(mounts_section(mounts));
        shown.push("mounts");
    }
    if let Some(cause) = map.get("cause")
        && !map.contains_key("socket")
    {
        sections.push(format!("Cannot read the facts: {}", plain(cause)));
        shown.push("cause");
    }
    let rest: Vec<String> = map
        .iter()
        .filter(|(key, _)| !shown.contains(&key.as_str()))
        .map(|(key, value)| format!("  {key}: {}", plain(value)))
        .collect();
    if !rest.is_empty() {
        sections.push(format!("Other facts:\n{}", rest.join("\n")));
    }
    sections.join("\n\n")
}

/// What still holds LOCKDOWN once our own latch is released, from the source's name and its
/// facts (as the Facts property gives them: absent values may be empty strings).
pub fn lockdown_holder(source: &str, facts: &Value) -> String {
    let text = |key: &str| {
        facts
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    match source {
        "boundary-daemon" => {
            if facts.get("lockdown_latched") == Some(&Value::Bool(true)) {
                format!(
                    "the Boundary Daemon's lockdown latch is set ({}); it clears only when the Boundary Daemon restarts",
                    text("lockdown_reason").unwrap_or("no reason given")
                )
            } else if text("reported_mode") == Some("LOCKDOWN") {
                "the Boundary Daemon reports LOCKDOWN; release it there (leaving lockdown needs its human operator)".to_string()
            } else {
                "the Boundary Daemon's reading is LOCKDOWN".to_string()
            }
        }
        "static" => "the static mode is LOCKDOWN (mode.static_mode in the config)".to_string(),
        "" => "the mode source reads lockdown".to_string(),
        other => format!("the {other} source reads lockdown"),
    }
}

fn rule_section(map: &Map<String, Value>) -> String {
    let rule = map
        .get("rule")
        .and_then(Value::as_str)
        .filter(|rule| !rule.is_empty())
        .unwrap_or("none (no rule matched, so the mode is UNKNOWN)");
    let mut out = format!("Rule that matched: {rule}");
    if let Some(predicates) = map.get("facts").and_then(Value::as_object) {
        let (held, not): (Vec<_>, Vec<_>) = predicates
            .iter()
            .partition(|(_, value)| value.as_bool() == Some(true));
        let names = |list: Vec<(&String, &Value)>| {
            if list.is_empty() {
                "-".to_string()
            } else {
                list.iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        out.push_str(&format!(
            "\n  true:  {}\n  false: {}",
            names(held),
            names(not)
        ));
    }
    out
}

fn boundary_daemon_section(map: &Map<String, Value>) -> String {
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let mut out = vec![format!(
        "Boundary Daemon at {}",
        text("socket").unwrap_or("?")
    )];
    if let Some(cause) = text("cause") {
        out.push(format!(
            "  cannot be read: {} ({cause})",
            text("cause_detail").unwrap_or("no detail")
        ));
        return out.join("\n");
    }
    if let Some(mode) = text("reported_mode") {
        out.push(format!("  reports:         {mode}"));
    }
    match map.get("lockdown_latched") {
        Some(Value::Bool(true)) => out.push(format!(
            "  lockdown latch:  set{} ({}), so the mode is LOCKDOWN",
            text("lockdown_since")
                .map(|since| format!(" since {since}"))
                .unwrap_or_default(),
            text("lockdown_reason").unwrap_or("no reason given")
        )),
        Some(Value::Bool(false)) => out.push("  lockdown latch:  not set".to_string()),
        _ => {}
    }
    if let Some(at) = text("last_transition") {
        out.push(format!(
            "  last change:     {at}{}",
            text("operator")
                .map(|by| format!(" by the {by} operator"))
                .unwrap_or_default()
        ));
    }
    if let Some(network) = text("network") {
        out.push(format!("  network:         {network}"));
    }
    out.join("\n")
}

fn links_section(links: &[Value]) -> String {
    let has_vpn = links.iter().any(|link| link.get("vpn").is_some());
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|link| {
            let flag = |key: &str| link.get(key).and_then(Value::as_bool);
            let kind = match link.get("kind").and_then(Value::as_str) {
                Some(kind) if !kind.is_empty() => kind.to_string(),
                _ if flag("loopback") == Some(true) => "loopback".to_string(),
                _ => "-".to_string(),
            };
            let state = match (flag("up"), flag("lower_up")) {
                (Some(true), Some(false)) => "up, no carrier",
                (Some(true), _) => "up",
                (Some(false), _) => "down",
                (None, _) => "?",
            };
            let mut row = vec![field(link, "name"), kind, state.to_string()];
            if has_vpn {
                row.push(yes_no(flag("vpn")));
                row.push(field(link, "vpn_why"));
            }
            row
        })
        .collect();
    let header: &[&str] = if has_vpn {
        &["NAME", "KIND", "STATE", "VPN", "WHY"]
    } else {
        &["NAME", "KIND", "STATE"]
    };
    section("Links", header, &rows)
}

fn routes_out_section(routes: &[Value]) -> String {
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|route| {
            vec![
                field(route, "family"),
                field(route, "destination"),
                field(route, "table"),
                list(route.get("links")),
                match route.get("gateway") {
                    None | Some(Value::Null) => "-".to_string(),
                    Some(gateway) => plain(gateway),
                },
                field(route, "why"),
            ]
        })
        .collect();
    section(
        "Routes out",
        &["FAMILY", "DESTINATION", "TABLE", "LINKS", "GATEWAY", "WHY"],
        &rows,
    )
}

/// Today's default routes name their links by index: shown by name where the links say.
fn default_routes_section(routes: &[Value], links: &[Value]) -> String {
    let name_of = |index: &Value| {
        links
            .iter()
            .find(|link| link.get("index") == Some(index))
            .and_then(|link| link.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", plain(index)))
    };
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|route| {
            let through = route
                .get("link_indexes")
                .and_then(Value::as_array)
                .map(|indexes| indexes.iter().map(name_of).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            vec![
                field(route, "family"),
                "default".to_string(),
                field(route, "table"),
                if through.is_empty() {
                    "-".to_string()
                } else {
                    through
                },
            ]
        })
        .collect();
    section(
        "Routes out",
        &["FAMILY", "DESTINATION", "TABLE", "LINKS"],
        &rows,
    )
}

fn mounts_section(mounts: &Value) -> String {
    let list = mounts
        .get("mounts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|mount| {
            let flag = |key: &str| yes_no(mount.get(key).and_then(Value::as_bool));
            let why = match mount.get("reasons").and_then(Value::as_array) {
                Some(reasons) if !reasons.is_empty() => {
                    reasons.iter().map(plain).collect::<Vec<_>>().join("; ")
                }
                _ => mount_origin(mount),
            };
            vec![
                field(mount, "mount_point"),
                flag("writable"),
                flag("encrypted"),
                flag("removable"),
                why,
            ]
        })
        .collect();
    // Without the detector's reasons the last column says what the mount is, not why.
    let has_reasons = list.iter().any(|mount| mount.get("reasons").is_some());
    let mut out = section(
        "Mounts",
        &[
            "MOUNT POINT",
            "WRITABLE",
            "ENCRYPTED",
            "REMOVABLE",
            if has_reasons { "WHY" } else { "FILESYSTEM" },
        ],
        &rows,
    );
    let points = |key: &str| {
        mounts
            .get(key)
            .and_then(Value::as_array)
            .filter(|points| !points.is_empty())
            .map(|points| points.iter().map(plain).collect::<Vec<_>>().join(", "))
    };
    if let Some(removable) = points("removable_mount_points") {
        out.push_str(&format!("\n  removable media: {removable}"));
    }
    if let Some(unencrypted) = points("unencrypted_persistent_writable") {
        out.push_str(&format!(
            "\n  persistent, writable and not shown to be encrypted: {unencrypted}"
        ));
    }
    if mounts.get("has_root_mount") == Some(&Value::Bool(false)) {
        out.push_str("\n  the mount table has no root mount, so it vouches for nothing");
    }
    out
}

/// Without the detector's reasons: the filesystem, its source and block device.
fn mount_origin(mount: &Value) -> String {
    let mut origin = field(mount, "fstype");
    let source = field(mount, "source");
    if source != "-" {
        origin.push_str(&format!(" from {source}"));
    }
    if let Some(device) = mount.get("block_device").and_then(Value::as_str) {
        origin.push_str(&format!(" ({device})"));
    }
    if mount.get("persistent") == Some(&Value::Bool(false)) {
        origin.push_str(", volatile");
    }
    origin
}

fn section(title: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return format!("{title}: none");
    }
    let body = table(header, rows)
        .lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{title}:\n{body}")
}

fn field(object: &Value, key: &str) -> String {
    match object.get(key) {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(text)) if text.is_empty() => "-".to_string(),
        Some(value) => plain(value),
    }
}

fn list(value: Option<&Value>) -> String {
    match value.and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        _ => "-".to_string(),
    }
}

fn yes_no(value: Option<bool>) -> String {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
    .to_string()
}

/// A value as text: strings without quotes, everything else as compact JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today_detect_facts() -> Value {
        json!({
            "links": [
                {"index": 1, "name": "lo", "kind": "", "up": true, "lower_up": true, "loopback": true},
                {"index": 2, "name": "eth0", "kind": "veth", "up": true, "lower_up": true, "loopback": false},
                {"index": 3, "name": "wg0", "kind": "wireguard", "up": true, "lower_up": false, "loopback": false},
            ],
            "default_routes": [{"family": "ipv4", "table": 254, "link_indexes": [3]}],
            "mounts": {
                "mounts": [
                    {"mount_point": "/", "fstype": "ext4", "source": "/dev/mapper/root",
                     "block_device": "dm-0", "writable": true, "persistent": true,
                     "removable": false, "encrypted": true},
                    {"mount_point": "/media/usb", "fstype": "vfat", "source": "/dev/sdb1",
                     "block_device": "sdb1", "writable": true, "persistent": true,
                     "removable": true, "encrypted": false},
                ],
                "removable_mounted": true,
                "removable_mount_points": ["/media/usb"],
                "unencrypted_persistent_writable": ["/media/usb"],
                "has_root_mount": true,
                "all_persistent_writable_encrypted": false,
            },
            "facts": {"default_route_via_vpn": true, "link_up": true, "removable_media": true},
            "rule": "default_route_via_vpn → TRUSTED",
        })
    }

    #[test]
    fn the_explain_text_is_taken_apart_and_the_facts_line_parsed() {
        let text = "Mode: TRUSTED\nSource: detect (healthy)\nReading: rule 2 matched: x\nFacts: {\"rule\":\"x\",\"n\":null}";
        let explained = parse(text);
        assert_eq!(explained.line("Mode"), Some("TRUSTED"));
        assert_eq!(explained.line("Reading"), Some("rule 2 matched: x"));
        assert_eq!(explained.facts, json!({"rule": "x", "n": null}));
        assert_eq!(explained.lines.len(), 3);
        // A Facts line that is not JSON is kept as text.
        assert_eq!(parse("Facts: {oops").facts, json!("{oops"));
    }

    #[test]
    fn todays_detector_facts_read_as_rule_links_routes_and_mounts() {
        let out = render_facts(&today_detect_facts());
        assert!(
            out.starts_with("Rule that matched: default_route_via_vpn → TRUSTED"),
            "{out}"
        );
        assert!(
            out.contains("true:  default_route_via_vpn, link_up, removable_media"),
            "{out}"
        );
        let links = out.split("Links:").nth(1).unwrap();
        assert!(links.contains("lo    loopback   up"), "{out}");
        assert!(links.contains("wg0   wireguard  up, no carrier"), "{out}");
        // No VPN verdicts in today's link facts: no VPN column.
        assert!(!out.contains("VPN"), "{out}");
        // The route's link index is shown by name.
        assert!(out.contains("ipv4    default      254    wg0"), "{out}");
        assert!(
            out.contains("/media/usb   yes       no         yes        vfat from /dev/sdb1 (sdb1)"),
            "{out}"
        );
        assert!(out.contains("removable media: /media/usb"), "{out}");
        assert!(!out.contains('{'), "no JSON left: {out}");
    }

    #[test]
    fn vpn_verdicts_routes_out_and_mount_reasons_are_shown_when_present() {
        let mut facts = today_detect_facts();
        facts["links"][2]["vpn"] = json!(true);
        facts["links"][2]["vpn_why"] = json!("kind wireguard is in vpn_kinds");
        facts["links"][1]["vpn"] = json!(false);
        facts["links"][1]["vpn_why"] = json!("not a VPN kind or name");
        facts.as_object_mut().unwrap().remove("default_routes");
        facts["routes_out"] = json!([
            {"family": "ipv4", "destination": "0.0.0.0/0", "table": 254, "links": ["wg0"],
             "gateway": "10.9.0.1", "why": "default route"},
            {"family": "ipv6", "destination": "::/1", "table": 254, "links": ["eth0", "wg0"],
             "why": "covers half the address space"},
        ]);
        facts["mounts"]["mounts"][1]["reasons"] = json!(["sdb is removable", "on a USB bus"]);
        let out = render_facts(&facts);
        assert!(
            out.contains("NAME  KIND       STATE           VPN  WHY"),
            "{out}"
        );
        assert!(
            out.contains("wg0   wireguard  up, no carrier  yes  kind wireguard is in vpn_kinds"),
            "{out}"
        );
        assert!(
            out.contains("eth0  veth       up              no   not a VPN kind or name"),
            "{out}"
        );
        assert!(
            out.contains("ipv4    0.0.0.0/0    254    wg0        10.9.0.1  default route"),
            "{out}"
        );
        assert!(
            out.contains("ipv6    ::/1         254    eth0, wg0  -         covers half"),
            "{out}"
        );
        assert!(out.contains("sdb is removable; on a USB bus"), "{out}");
    }

    #[test]
    fn boundary_daemon_facts_read_as_its_answer() {
        let out = render_facts(&json!({
            "socket": "/run/bd.sock", "reported_mode": "OPEN", "lockdown_latched": true,
            "lockdown_reason": "tripwire: usb", "lockdown_since": "2025-01-02T03:04:05Z",
            "last_transition": "2025-01-02T03:00:00Z", "operator": "human", "network": "online",
        }));
        assert!(out.starts_with("Boundary Daemon at /run/bd.sock"), "{out}");
        assert!(out.contains("reports:         OPEN"), "{out}");
        assert!(
            out.contains("set since 2025-01-02T03:04:05Z (tripwire: usb), so the mode is LOCKDOWN"),
            "{out}"
        );
        assert!(out.contains("by the human operator"), "{out}");
        assert!(!out.contains("Other facts"), "{out}");

        let failing = render_facts(&json!({
            "socket": "/run/bd.sock", "cause": "socket-missing", "cause_detail": "no socket",
        }));
        assert!(
            failing.contains("cannot be read: no socket (socket-missing)"),
            "{failing}"
        );
    }

    #[test]
    fn static_empty_and_unknown_facts_are_still_readable() {
        assert_eq!(
            render_facts(&json!({"static_mode": "AIRGAP"})),
            "Static mode: AIRGAP (mode.static_mode in the config; nothing is detected)"
        );
        assert_eq!(render_facts(&json!({})), "Facts: none (no reading yet)");
        assert_eq!(render_facts(&Value::Null), "");
        let odd = render_facts(&json!({"cause": "netlink closed", "future": {"x": 1}}));
        assert!(
            odd.contains("Cannot read the facts: netlink closed"),
            "{odd}"
        );
        assert!(odd.contains("Other facts:\n  future: {\"x\":1}"), "{odd}");
        // Mount facts not read yet: links and routes alone.
        let partial = render_facts(&json!({"links": [], "default_routes": []}));
        assert_eq!(partial, "Links: none\n\nRoutes out: none");
    }

    #[test]
    fn a_whole_explanation_keeps_its_lines_then_the_facts() {
        let text = format!(
            "Mode: TRUSTED\nSource: detect (healthy)\nFacts: {}",
            today_detect_facts()
        );
        let out = render(&parse(&text));
        assert!(
            out.starts_with("Mode: TRUSTED\nSource: detect (healthy)\n\nRule that matched"),
            "{out}"
        );
    }

    #[test]
    fn the_holder_of_lockdown_is_named() {
        let latched = json!({"lockdown_latched": true, "lockdown_reason": "tripwire: usb", "reported_mode": "OPEN"});
        assert!(
            lockdown_holder("boundary-daemon", &latched).contains("latch is set (tripwire: usb)")
        );
        let reported =
            json!({"lockdown_latched": false, "reported_mode": "LOCKDOWN", "lockdown_reason": ""});
        assert!(
            lockdown_holder("boundary-daemon", &reported)
                .contains("reports LOCKDOWN; release it there")
        );
        assert!(lockdown_holder("static", &json!({})).contains("mode.static_mode"));
    }
}
