//! From facts to a mode: the named predicates the rules speak of, the ordered rule list (the
//! defaults of ARCHITECTURE.md, overridable in the config), and the signals tripwires watch.
//! Pure: no I/O.

use super::links::{LinkFact, NetworkSnapshot, RT_TABLE_LOCAL, RouteFact};
use crate::core::{BoundaryMode, EffectiveMode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// The facts a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Predicate {
    /// There is a way out: routes that together reach a large part of the public address
    /// space (see [`view_network`]).
    RouteOut,
    /// Some of the way out leaves through links that are not VPNs: the routes through them
    /// alone reach a large part of the public address space.
    RouteOutNonVpn,
    /// There is a way out, and all of it leaves through VPN links.
    AllRoutesOutVpn,
    /// A link other than loopback (and the ignored ones) is administratively up.
    LinkUp,
    /// Removable media is mounted.
    RemovableMedia,
    /// Every persistent, writable mount is encrypted.
    StorageEncrypted,
}

impl Predicate {
    /// Every predicate.
    pub const ALL: [Predicate; 6] = [
        Self::RouteOut,
        Self::RouteOutNonVpn,
        Self::AllRoutesOutVpn,
        Self::LinkUp,
        Self::RemovableMedia,
        Self::StorageEncrypted,
    ];

    /// The name used in the config and in `Facts`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RouteOut => "route_out",
            Self::RouteOutNonVpn => "route_out_non_vpn",
            Self::AllRoutesOutVpn => "all_routes_out_vpn",
            Self::LinkUp => "link_up",
            Self::RemovableMedia => "removable_media",
            Self::StorageEncrypted => "storage_encrypted",
        }
    }

    /// The names before routes out were judged by coverage; configs written with them keep
    /// working and mean the new facts.
    const fn old_name(self) -> Option<&'static str> {
        match self {
            Self::RouteOut => Some("default_route"),
            Self::RouteOutNonVpn => Some("default_route_non_vpn"),
            Self::AllRoutesOutVpn => Some("all_default_routes_vpn"),
            _ => None,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name || p.old_name() == Some(name))
    }
}

/// A rule as written in the config: every condition must hold (`!name` negates).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Conditions, all of which must hold; empty always matches.
    #[serde(default)]
    pub when: Vec<String>,
    /// The mode when it matches: OPEN, RESTRICTED, TRUSTED, AIRGAP, COLDROOM or LOCKDOWN.
    pub mode: String,
}

/// The default rules, first match wins (tripwires come before them, as a latch).
pub fn default_rules() -> Vec<RuleConfig> {
    let rule = |when: &[&str], mode: &str| RuleConfig {
        when: when.iter().map(|w| w.to_string()).collect(),
        mode: mode.to_string(),
    };
    vec![
        rule(&["route_out_non_vpn"], "OPEN"),
        rule(&["all_routes_out_vpn"], "TRUSTED"),
        rule(&["link_up"], "RESTRICTED"),
        rule(&["!removable_media", "storage_encrypted"], "COLDROOM"),
        rule(&[], "AIRGAP"),
    ]
}

/// A checked rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// (predicate, required value)
    pub conditions: Vec<(Predicate, bool)>,
    /// The mode it gives.
    pub mode: BoundaryMode,
    /// How it reads, for `Explain()`.
    pub text: String,
}

/// Checks configured rules; the error names the rule and what is wrong.
pub fn compile_rules(rules: &[RuleConfig]) -> Result<Vec<Rule>, String> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let mode = BoundaryMode::parse(&rule.mode).ok_or_else(|| {
                format!("mode.detect.rules[{index}].mode: '{}' is not a mode", rule.mode)
            })?;
            let conditions = rule
                .when
                .iter()
                .map(|condition| {
                    let (name, wanted) = match condition.strip_prefix('!') {
                        Some(name) => (name, false),
                        None => (condition.as_str(), true),
                    };
                    Predicate::parse(name.trim()).map(|p| (p, wanted)).ok_or_else(|| {
                        let known: Vec<&str> = Predicate::ALL.iter().map(|p| p.name()).collect();
                        format!(
                            "mode.detect.rules[{index}].when: '{condition}' is not a fact; the facts are {}",
                            known.join(", ")
                        )
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let text = if rule.when.is_empty() {
                format!("otherwise → {mode}")
            } else {
                format!("{} → {mode}", rule.when.join(" and "))
            };
            Ok(Rule { conditions, mode, text })
        })
        .collect()
}

/// How links and routes are classified.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkPolicy {
    /// Link kinds that are VPN tunnels: IFLA_INFO_KIND as `ip -d link` shows it, except that
    /// a tun-driver link is kind `tun` in TUN mode and `tap` in TAP mode, and a link without a
    /// kind whose link-layer type is PPP is kind `ppp`.
    pub vpn_kinds: Vec<String>,
    /// Link names that are VPN tunnels whatever their kind; `*` matches any run of characters.
    pub vpn_links: Vec<String>,
    /// Link names not counted as "a link is up" nor as a link appearing (for example container
    /// bridges). They still count as ways out when routes out leave through them.
    pub ignore_links: Vec<String>,
    /// Routes count as a way out when together they reach at least as many public IPv4
    /// addresses as one prefix of this length.
    pub route_out_ipv4_prefix: u8,
    /// The same for IPv6.
    pub route_out_ipv6_prefix: u8,
}

/// The default `route_out_ipv4_prefix`: a /16, a large organisation's network.
pub const ROUTE_OUT_IPV4_PREFIX: u8 = 16;
/// The default `route_out_ipv6_prefix`: a /32, an internet provider's allocation.
pub const ROUTE_OUT_IPV6_PREFIX: u8 = 32;
/// The shortest prefix the thresholds may name: a /8's worth of addresses at most may stay
/// unjudged.
pub const ROUTE_OUT_PREFIX_MIN: u8 = 8;

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            vpn_kinds: default_vpn_kinds(),
            vpn_links: Vec::new(),
            ignore_links: Vec::new(),
            route_out_ipv4_prefix: ROUTE_OUT_IPV4_PREFIX,
            route_out_ipv6_prefix: ROUTE_OUT_IPV6_PREFIX,
        }
    }
}

/// The default VPN kinds: WireGuard, and tun devices in TUN mode (OpenVPN, wireguard-go,
/// most VPN clients). Not TAP (an Ethernet bridge as often as a VPN), not ppp (PPPoE and
/// mobile modems are uplinks).
pub fn default_vpn_kinds() -> Vec<String> {
    vec!["wireguard".into(), "tun".into()]
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// What the mount side says, for the predicates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MountSummary {
    /// Mount points of removable media.
    pub removable: Vec<String>,
    /// Whether every persistent, writable mount is encrypted.
    pub storage_encrypted: bool,
}

/// A link as the facts show it: what the kernel says, and whether it counts as a VPN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkReport {
    /// The kernel's facts.
    #[serde(flatten)]
    pub link: LinkFact,
    /// Whether routes through it count as going through a VPN.
    pub vpn: bool,
    /// Why, as a short phrase.
    pub vpn_why: String,
}

/// A route that is part of a way out, as the facts show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteOut {
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    /// The destination prefix, e.g. "0.0.0.0/1".
    pub destination: String,
    /// The routing table.
    pub table: u32,
    /// The names of the links it leaves through (an index for a link not found).
    pub links: Vec<String>,
    /// Its gateway, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// How it counts.
    pub why: String,
}

/// The network side judged: each link's VPN verdict, the routes out, and the facts the
/// predicates and tripwires need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkView {
    /// Every link, with its VPN verdict.
    pub links: Vec<LinkReport>,
    /// The routes of each family that has a way out, the widest first, at most
    /// [`ROUTES_OUT_LISTED`] of each family.
    pub routes_out: Vec<RouteOut>,
    /// How many more there are.
    pub routes_out_omitted: usize,
    /// There is a way out (in either family).
    pub route_out: bool,
    /// The routes through links that are not VPNs are a way out on their own.
    pub route_out_non_vpn: bool,
    /// Links up (not loopback, not ignored), by name.
    pub links_up: Vec<String>,
    /// The identities of the links present, up or down (not loopback, not ignored).
    pub links_present: Vec<String>,
}

/// How many routes out of each family the facts list.
pub const ROUTES_OUT_LISTED: usize = 64;

/// Whether a link counts as a VPN, and why.
pub fn classify_link(link: &LinkFact, policy: &LinkPolicy) -> (bool, String) {
    if link.loopback {
        return (false, "loopback".into());
    }
    if policy
        .vpn_links
        .iter()
        .any(|pattern| glob_matches(pattern, &link.name))
    {
        return (true, "named in vpn_links".into());
    }
    let kind = if link.kind == "tun" {
        link.tun_mode.as_str()
    } else if link.kind.is_empty() && link.link_type == "ppp" {
        "ppp"
    } else {
        link.kind.as_str()
    };
    if policy.vpn_kinds.iter().any(|listed| listed == kind) {
        let why = match kind {
            "tun" => "tun device (not TAP)".to_string(),
            "tap" => "TAP device, listed in vpn_kinds".to_string(),
            other => format!("kind {other}"),
        };
        return (true, why);
    }
    let why = match kind {
        "tap" => "TAP device: not a VPN by default".to_string(),
        "tun" => "tun device: not in vpn_kinds".to_string(),
        "ppp" => "kind ppp: not a VPN by default (PPPoE and modems are uplinks)".to_string(),
        "" => "no kind (a physical or plain device): not a VPN".to_string(),
        other => format!("kind {other}: not a VPN"),
    };
    (false, why)
}

/// An address as a number in the low bits of a u128, with the family's width in bits.
fn bits(address: IpAddr) -> (u128, u8) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// A prefix: its first address (host bits cleared), its length and its family's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Prefix {
    start: u128,
    len: u8,
    width: u8,
}

impl Prefix {
    fn new(address: IpAddr, len: u8) -> Prefix {
        let (value, width) = bits(address);
        let len = len.min(width);
        Prefix {
            start: value & !host_mask(width - len),
            len,
            width,
        }
    }

    fn parse(text: &str) -> Prefix {
        let (address, len) = text.split_once('/').expect("a prefix");
        Prefix::new(
            address.parse().expect("an address"),
            len.parse().expect("a length"),
        )
    }

    /// How many addresses it holds (saturating: an IPv6 /0 holds 2^128).
    fn size(self) -> u128 {
        size_of(self.width - self.len)
    }

    fn contains(self, other: Prefix) -> bool {
        self.width == other.width
            && other.len >= self.len
            && (other.start & !host_mask(self.width - self.len)) == self.start
    }
}

/// The host bits of a prefix with `host` of them.
fn host_mask(host: u8) -> u128 {
    if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    }
}

fn size_of(host: u8) -> u128 {
    if host >= 128 {
        u128::MAX
    } else {
        1u128 << host
    }
}

/// Address space no route to the public internet is made of: "this network", private,
/// shared (CGNAT), loopback, link-local, multicast and reserved for IPv4; unspecified,
/// loopback, unique-local, link-local and multicast for IPv6. A route wholly inside it is not
/// part of a way out.
const NON_PUBLIC: [&str; 14] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

fn non_public_blocks() -> Vec<Prefix> {
    NON_PUBLIC
        .iter()
        .map(|block| Prefix::parse(block))
        .collect()
}

/// How many addresses the union of `prefixes` holds (saturating).
fn union_size(mut prefixes: Vec<Prefix>) -> u128 {
    // Two prefixes either nest or are disjoint; sorted by start and then length, each one is
    // inside the last one kept or disjoint from all kept.
    prefixes.sort();
    let mut total: u128 = 0;
    let mut last: Option<Prefix> = None;
    for prefix in prefixes {
        if last.is_some_and(|kept| kept.contains(prefix)) {
            continue;
        }
        total = total.saturating_add(prefix.size());
        last = Some(prefix);
    }
    total
}

/// Judges the network: which links are VPNs, and whether there is a way out and through what.
///
/// A way out is judged by coverage of the address space, per family: the unicast routes in
/// every table a policy rule can select (every table but `local` when the rules cannot be
/// read), except those wholly inside non-public space, are a way out when together they reach
/// at least as many addresses as one prefix of `route_out_ipv4_prefix` (IPv4) or
/// `route_out_ipv6_prefix` (IPv6). That holds for a default route, for a split pair of /1
/// routes, and for a thousand /16 routes alike, with or without a gateway; a connected LAN
/// subnet, or the host route to a VPN's endpoint, stays below it. The way out is not through a
/// VPN when the routes leaving through links that are not VPNs (or through no link the
/// detector can name) reach that much on their own.
pub fn view_network(network: &NetworkSnapshot, policy: &LinkPolicy) -> NetworkView {
    let links: Vec<LinkReport> = network
        .links
        .iter()
        .map(|link| {
            let (vpn, vpn_why) = classify_link(link, policy);
            LinkReport {
                link: link.clone(),
                vpn,
                vpn_why,
            }
        })
        .collect();
    let by_index: HashMap<u32, &LinkReport> = links.iter().map(|l| (l.link.index, l)).collect();
    let find = |index: u32| by_index.get(&index).copied();
    let blocks = non_public_blocks();
    // A route through a link that is not known, or through no link, is not through a VPN.
    let through_vpn = |route: &RouteFact| {
        !route.link_indexes.is_empty()
            && route
                .link_indexes
                .iter()
                .all(|&i| find(i).is_some_and(|l| l.vpn))
    };
    let mut routes_out = Vec::new();
    let mut routes_out_omitted = 0;
    let mut route_out = false;
    let mut route_out_non_vpn = false;
    for (family, tables, threshold_prefix) in [
        ("ipv4", &network.ipv4_tables, policy.route_out_ipv4_prefix),
        ("ipv6", &network.ipv6_tables, policy.route_out_ipv6_prefix),
    ] {
        let candidates: Vec<(&RouteFact, Prefix)> = network
            .routes
            .iter()
            .filter(|r| r.family == family && r.table != RT_TABLE_LOCAL)
            .filter(|r| tables.as_ref().is_none_or(|t| t.contains(&r.table)))
            .map(|r| (r, Prefix::new(r.destination, r.prefix_len)))
            .filter(|(_, prefix)| !blocks.iter().any(|block| block.contains(*prefix)))
            .collect();
        let width = if family == "ipv4" { 32 } else { 128 };
        let threshold = size_of(width - threshold_prefix.min(width));
        let total = union_size(candidates.iter().map(|(_, p)| *p).collect());
        let non_vpn_total = union_size(
            candidates
                .iter()
                .filter(|(r, _)| !through_vpn(r))
                .map(|(_, p)| *p)
                .collect(),
        );
        let family_out = total >= threshold;
        let family_non_vpn = non_vpn_total >= threshold;
        route_out |= family_out;
        route_out_non_vpn |= family_non_vpn;
        if !family_out {
            continue;
        }
        // The widest first; a host with a full routing table lists only the widest.
        let mut listed = candidates;
        listed.sort_by_key(|(r, p)| (p.len, r.table, p.start));
        routes_out_omitted += listed.len().saturating_sub(ROUTES_OUT_LISTED);
        listed.truncate(ROUTES_OUT_LISTED);
        for (route, prefix) in listed {
            let names: Vec<String> = route
                .link_indexes
                .iter()
                .map(|&i| find(i).map_or_else(|| format!("#{i}"), |l| l.link.name.clone()))
                .collect();
            let why = if through_vpn(route) {
                format!("through {} (VPN)", names.join(", "))
            } else {
                let path = if names.is_empty() {
                    "through no link the detector can name, so not a VPN".to_string()
                } else {
                    format!("through {}, not all VPNs", names.join(", "))
                };
                if family_non_vpn {
                    format!(
                        "{path}; with the other routes not through VPNs it reaches at least a /{threshold_prefix}'s worth of public addresses"
                    )
                } else {
                    format!(
                        "{path}; the routes not through VPNs reach less than a /{threshold_prefix}'s worth of public addresses, too few to count"
                    )
                }
            };
            let (start, width) = (prefix.start, prefix.width);
            let destination = if width == 32 {
                IpAddr::V4(std::net::Ipv4Addr::from(start as u32))
            } else {
                IpAddr::V6(std::net::Ipv6Addr::from(start))
            };
            routes_out.push(RouteOut {
                family,
                destination: format!("{destination}/{}", prefix.len),
                table: route.table,
                links: names,
                gateway: route.gateway.map(|g| g.to_string()),
                why,
            });
        }
    }
    let counted = |l: &&LinkFact| {
        !l.loopback && !policy.ignore_links.iter().any(|p| glob_matches(p, &l.name))
    };
    let links_up = network
        .links
        .iter()
        .filter(counted)
        .filter(|l| l.up)
        .map(|l| l.name.clone())
        .collect();
    let mut links_present: Vec<String> = network
        .links
        .iter()
        .filter(counted)
        .map(LinkFact::identity)
        .collect();
    links_present.sort();
    NetworkView {
        links,
        routes_out,
        routes_out_omitted,
        route_out,
        route_out_non_vpn,
        links_up,
        links_present,
    }
}

/// The predicates' values and what the tripwires watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// Each predicate's value, by name.
    pub predicates: BTreeMap<&'static str, bool>,
    /// Links up (not loopback, not ignored), by name: a tripwire in AIRGAP and COLDROOM.
    pub links_up: Vec<String>,
    /// The identities ([`LinkFact::identity`]) of the links present, up or down (not
    /// loopback, not ignored): one not present when the host became isolated is a tripwire.
    pub links_present: Vec<String>,
    /// Removable media mount points: a tripwire in COLDROOM.
    pub removable_media: Vec<String>,
    /// Whether all of the way out leaves through VPNs (the tool gate in TRUSTED).
    pub route_out_is_vpn: bool,
}

/// Computes the predicates from the facts.
pub fn judge(network: &NetworkSnapshot, mounts: &MountSummary, policy: &LinkPolicy) -> Judgement {
    judge_view(&view_network(network, policy), mounts)
}

/// Computes the predicates from a judged network and the mount side.
pub fn judge_view(view: &NetworkView, mounts: &MountSummary) -> Judgement {
    let all_vpn = view.route_out && !view.route_out_non_vpn;
    let mut predicates = BTreeMap::new();
    predicates.insert(Predicate::RouteOut.name(), view.route_out);
    predicates.insert(Predicate::RouteOutNonVpn.name(), view.route_out_non_vpn);
    predicates.insert(Predicate::AllRoutesOutVpn.name(), all_vpn);
    predicates.insert(Predicate::LinkUp.name(), !view.links_up.is_empty());
    predicates.insert(
        Predicate::RemovableMedia.name(),
        !mounts.removable.is_empty(),
    );
    predicates.insert(Predicate::StorageEncrypted.name(), mounts.storage_encrypted);
    Judgement {
        predicates,
        links_up: view.links_up.clone(),
        links_present: view.links_present.clone(),
        removable_media: mounts.removable.clone(),
        route_out_is_vpn: all_vpn,
    }
}

/// The first rule that matches, and the mode (UNKNOWN when none does).
pub fn apply_rules<'r>(
    judgement: &Judgement,
    rules: &'r [Rule],
) -> (EffectiveMode, Option<(usize, &'r Rule)>) {
    let holds = |p: Predicate| judgement.predicates.get(p.name()).copied().unwrap_or(false);
    rules
        .iter()
        .enumerate()
        .find(|(_, rule)| {
            rule.conditions
                .iter()
                .all(|&(p, wanted)| holds(p) == wanted)
        })
        .map_or((EffectiveMode::Unknown, None), |(index, rule)| {
            (EffectiveMode::Known(rule.mode), Some((index, rule)))
        })
}

/// Which tripwires are armed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TripwireConfig {
    /// A link other than loopback coming up while the mode is AIRGAP or COLDROOM.
    pub link_up_while_isolated: bool,
    /// A link other than loopback appearing (up or down) while the mode is AIRGAP or COLDROOM.
    pub link_appears_while_isolated: bool,
    /// Removable media mounted while the mode is COLDROOM.
    pub removable_media_in_coldroom: bool,
}

impl Default for TripwireConfig {
    fn default() -> Self {
        Self {
            link_up_while_isolated: true,
            link_appears_while_isolated: true,
            removable_media_in_coldroom: true,
        }
    }
}

/// The tripwire that fires for `judgement` while `current` is in force, if any: its reason.
/// `known_links` are the identities of the links present when the host last became isolated;
/// None when they are not recorded, and then every link present counts as appeared.
pub fn tripwire(
    current: EffectiveMode,
    judgement: &Judgement,
    armed: &TripwireConfig,
    known_links: Option<&BTreeSet<String>>,
) -> Option<String> {
    let mode = current.operating()?;
    let isolated = matches!(mode, BoundaryMode::Airgap | BoundaryMode::Coldroom);
    if armed.link_up_while_isolated && isolated && !judgement.links_up.is_empty() {
        return Some(format!(
            "tripwire: network link {} came up while in {mode}",
            judgement.links_up.join(", ")
        ));
    }
    if armed.link_appears_while_isolated && isolated {
        let appeared: Vec<&str> = judgement
            .links_present
            .iter()
            .filter(|id| known_links.is_none_or(|known| !known.contains(*id)))
            .map(|id| id.split(' ').next().unwrap_or(id))
            .collect();
        if !appeared.is_empty() {
            return Some(match known_links {
                Some(_) => format!(
                    "tripwire: network link {} appeared while in {mode}",
                    appeared.join(", ")
                ),
                None => format!(
                    "tripwire: network link {} is present while in {mode}, and the links present when {mode} began are not recorded",
                    appeared.join(", ")
                ),
            });
        }
    }
    if armed.removable_media_in_coldroom
        && mode == BoundaryMode::Coldroom
        && !judgement.removable_media.is_empty()
    {
        return Some(format!(
            "tripwire: removable media mounted at {} while in COLDROOM",
            judgement.removable_media.join(", ")
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::detect::links::{LinkFact, RouteFact};

    fn link(index: u32, name: &str, kind: &str, up: bool) -> LinkFact {
        LinkFact {
            index,
            name: name.into(),
            kind: kind.into(),
            link_type: if kind == "tun" || kind == "wireguard" {
                "none".into()
            } else {
                "ether".into()
            },
            tun_mode: if kind == "tun" {
                "tun".into()
            } else {
                String::new()
            },
            address: String::new(),
            up,
            lower_up: up,
            loopback: name == "lo",
        }
    }

    /// A route to `destination` ("a.b.c.d/len" or IPv6) in table main through `links`.
    fn to(destination: &str, links: &[u32]) -> RouteFact {
        let (address, len) = destination.split_once('/').unwrap();
        let destination: IpAddr = address.parse().unwrap();
        RouteFact {
            family: if destination.is_ipv4() {
                "ipv4"
            } else {
                "ipv6"
            },
            destination,
            prefix_len: len.parse().unwrap(),
            table: 254,
            link_indexes: links.to_vec(),
            gateway: None,
        }
    }

    fn route(links: &[u32]) -> RouteFact {
        to("0.0.0.0/0", links)
    }

    fn net(links: Vec<LinkFact>, routes: Vec<RouteFact>) -> NetworkSnapshot {
        NetworkSnapshot {
            links,
            routes,
            ..NetworkSnapshot::default()
        }
    }

    fn mode_of(network: &NetworkSnapshot, mounts: &MountSummary) -> EffectiveMode {
        let rules = compile_rules(&default_rules()).unwrap();
        apply_rules(&judge(network, mounts, &LinkPolicy::default()), &rules).0
    }

    const ENCRYPTED: MountSummary = MountSummary {
        removable: Vec::new(),
        storage_encrypted: true,
    };

    const OPEN: EffectiveMode = EffectiveMode::Known(BoundaryMode::Open);
    const RESTRICTED: EffectiveMode = EffectiveMode::Known(BoundaryMode::Restricted);
    const TRUSTED: EffectiveMode = EffectiveMode::Known(BoundaryMode::Trusted);

    #[test]
    fn the_default_rules_follow_architecture_md() {
        let lo = link(1, "lo", "", true);
        let eth = link(2, "eth0", "veth", true);
        let wg = link(3, "wg0", "tun", true);
        let plain = MountSummary::default();
        let known = EffectiveMode::Known;
        assert_eq!(
            mode_of(
                &net(vec![lo.clone(), eth.clone()], vec![route(&[2])]),
                &plain
            ),
            OPEN
        );
        assert_eq!(
            mode_of(
                &net(vec![lo.clone(), eth.clone(), wg.clone()], vec![route(&[3])]),
                &plain
            ),
            TRUSTED
        );
        assert_eq!(
            mode_of(
                &net(
                    vec![lo.clone(), eth.clone(), wg.clone()],
                    vec![route(&[3]), route(&[2])]
                ),
                &plain
            ),
            OPEN,
            "one route out that is not a VPN makes it OPEN"
        );
        assert_eq!(
            mode_of(&net(vec![lo.clone(), eth.clone()], vec![]), &plain),
            RESTRICTED
        );
        assert_eq!(
            mode_of(
                &net(vec![lo.clone(), link(2, "eth0", "veth", false)], vec![]),
                &plain
            ),
            known(BoundaryMode::Airgap)
        );
        assert_eq!(
            mode_of(&net(vec![lo.clone()], vec![]), &ENCRYPTED),
            known(BoundaryMode::Coldroom)
        );
        let removable = MountSummary {
            removable: vec!["/media/usb".into()],
            storage_encrypted: true,
        };
        assert_eq!(
            mode_of(&net(vec![lo.clone()], vec![]), &removable),
            known(BoundaryMode::Airgap)
        );
        assert_eq!(
            mode_of(&net(vec![lo], vec![route(&[9])]), &plain),
            OPEN,
            "a route through an unknown link is a way out, not a VPN"
        );
    }

    #[test]
    fn routes_out_are_judged_by_coverage_not_by_prefix_length_zero() {
        let lo = link(1, "lo", "", true);
        let eth = link(2, "eth0", "veth", true);
        let wg = link(3, "wg0", "wireguard", true);
        let links = vec![lo.clone(), eth.clone(), wg.clone()];
        let plain = MountSummary::default();
        let split = |via: u32| vec![to("0.0.0.0/1", &[via]), to("128.0.0.0/1", &[via])];
        assert_eq!(mode_of(&net(links.clone(), split(2)), &plain), OPEN);
        assert_eq!(mode_of(&net(links.clone(), split(3)), &plain), TRUSTED);
        let mut beside = split(2);
        beside.push(route(&[3]));
        assert_eq!(mode_of(&net(links.clone(), beside), &plain), OPEN);
        // The VPN's endpoint host route and the LAN stay outside the tunnel: still TRUSTED.
        let endpoint = vec![
            route(&[3]),
            to("203.0.113.7/32", &[2]),
            to("192.0.2.0/24", &[2]),
        ];
        assert_eq!(mode_of(&net(links.clone(), endpoint), &plain), TRUSTED);
        // Routes wholly inside private space are no way out; they still need a link up.
        let private = vec![to("10.0.0.0/8", &[2]), to("192.168.0.0/16", &[2])];
        assert_eq!(mode_of(&net(links.clone(), private), &plain), RESTRICTED);
        // Many narrow routes add up: 256 /24s through eth0 beside a VPN default are a /16's
        // worth; 255 of them are not.
        let mut many: Vec<RouteFact> = (0..=255u32)
            .map(|i| to(&format!("{}.{i}.0.0/24", 1 + i % 7), &[2]))
            .collect();
        many.push(route(&[3]));
        assert_eq!(mode_of(&net(links.clone(), many.clone()), &plain), OPEN);
        many.remove(0);
        assert_eq!(mode_of(&net(links.clone(), many), &plain), TRUSTED);
        // Two /17s make one /16's worth: the threshold is reached, not only exceeded.
        let halves = vec![to("198.51.0.0/17", &[2]), to("198.51.128.0/17", &[2])];
        assert_eq!(mode_of(&net(links.clone(), halves), &plain), OPEN);
        let one_half = vec![to("198.51.0.0/17", &[2])];
        assert_eq!(mode_of(&net(links.clone(), one_half), &plain), RESTRICTED);
        // IPv6: the split pair, and a /64 on the LAN that is no way out.
        let v6 = vec![to("::/1", &[2]), to("8000::/1", &[2])];
        assert_eq!(mode_of(&net(links.clone(), v6), &plain), OPEN);
        let lan6 = vec![to("2001:db8::/64", &[2]), to("fe80::/64", &[2])];
        assert_eq!(mode_of(&net(links.clone(), lan6), &plain), RESTRICTED);
        let vpn6 = vec![to("::/0", &[3]), to("2001:db8:1::7/128", &[2])];
        assert_eq!(mode_of(&net(links, vpn6), &plain), TRUSTED);
    }

    #[test]
    fn the_facts_list_the_widest_routes_out_and_count_the_rest() {
        let links = vec![link(1, "lo", "", true), link(2, "eth0", "veth", true)];
        let mut routes: Vec<RouteFact> = (0..200u32)
            .map(|i| to(&format!("198.{}.{}.0/24", i / 100, i % 100), &[2]))
            .collect();
        let mut default = route(&[2]);
        default.gateway = Some("192.0.2.254".parse().unwrap());
        routes.push(default);
        let view = view_network(&net(links, routes), &LinkPolicy::default());
        assert_eq!(view.routes_out.len(), ROUTES_OUT_LISTED);
        assert_eq!(view.routes_out_omitted, 201 - ROUTES_OUT_LISTED);
        let first = &view.routes_out[0];
        assert_eq!(
            (first.destination.as_str(), first.gateway.as_deref()),
            ("0.0.0.0/0", Some("192.0.2.254"))
        );
        assert_eq!(first.links, vec!["eth0".to_string()]);
        assert!(first.why.contains("not all VPNs"), "{}", first.why);
    }

    #[test]
    fn only_tables_a_rule_selects_count_and_unreadable_rules_count_all() {
        let links = vec![link(1, "lo", "", true), link(2, "eth0", "veth", true)];
        let plain = MountSummary::default();
        let in_table = |table: u32| {
            let mut r = route(&[2]);
            r.table = table;
            r
        };
        let mut network = net(links, vec![in_table(100)]);
        network.ipv4_tables = Some([254, 253].into_iter().collect());
        assert_eq!(mode_of(&network, &plain), RESTRICTED);
        network.ipv4_tables = Some([100, 254].into_iter().collect());
        assert_eq!(mode_of(&network, &plain), OPEN);
        network.ipv4_tables = None;
        assert_eq!(mode_of(&network, &plain), OPEN, "unread rules: every table");
        network.routes = vec![in_table(RT_TABLE_LOCAL)];
        assert_eq!(
            mode_of(&network, &plain),
            RESTRICTED,
            "the local table never counts"
        );
    }

    #[test]
    fn vpn_kinds_tell_tun_from_tap_and_ppp_is_not_a_vpn_by_default() {
        let policy = LinkPolicy::default();
        let wg = link(3, "wg0", "wireguard", true);
        assert_eq!(classify_link(&wg, &policy), (true, "kind wireguard".into()));
        let tun = link(4, "tun0", "tun", true);
        assert_eq!(
            classify_link(&tun, &policy),
            (true, "tun device (not TAP)".into())
        );
        let mut tap = link(5, "tap0", "tun", true);
        tap.tun_mode = "tap".into();
        assert_eq!(
            classify_link(&tap, &policy),
            (false, "TAP device: not a VPN by default".into())
        );
        let ppp = link(6, "ppp0", "ppp", true);
        assert!(!classify_link(&ppp, &policy).0);
        assert!(
            classify_link(&ppp, &policy)
                .1
                .contains("not a VPN by default")
        );
        let mut kindless_ppp = link(7, "ppp1", "", true);
        kindless_ppp.link_type = "ppp".into();
        assert!(!classify_link(&kindless_ppp, &policy).0);
        // A ppp uplink carrying the only default route reads OPEN, not TRUSTED.
        let network = net(
            vec![link(1, "lo", "", true), ppp.clone()],
            vec![route(&[6])],
        );
        assert_eq!(mode_of(&network, &MountSummary::default()), OPEN);
        // Listed explicitly, TAP and ppp count.
        let listed = LinkPolicy {
            vpn_kinds: vec!["tap".into(), "ppp".into()],
            ..LinkPolicy::default()
        };
        assert_eq!(
            classify_link(&tap, &listed),
            (true, "TAP device, listed in vpn_kinds".into())
        );
        assert_eq!(classify_link(&ppp, &listed), (true, "kind ppp".into()));
        assert_eq!(
            classify_link(&kindless_ppp, &listed),
            (true, "kind ppp".into())
        );
        assert!(!classify_link(&tun, &listed).0, "tun no longer listed");
        let named = LinkPolicy {
            vpn_links: vec!["tap*".into()],
            ..LinkPolicy::default()
        };
        assert_eq!(
            classify_link(&tap, &named),
            (true, "named in vpn_links".into())
        );
    }

    #[test]
    fn the_old_fact_names_still_parse() {
        let rules = compile_rules(&[RuleConfig {
            when: vec![
                "all_default_routes_vpn".into(),
                "!default_route_non_vpn".into(),
            ],
            mode: "TRUSTED".into(),
        }])
        .unwrap();
        assert_eq!(
            rules[0].conditions,
            vec![
                (Predicate::AllRoutesOutVpn, true),
                (Predicate::RouteOutNonVpn, false)
            ]
        );
    }

    #[test]
    fn configured_rules_are_checked_and_none_matching_is_unknown() {
        let err = compile_rules(&[RuleConfig {
            when: vec!["wifi_up".into()],
            mode: "OPEN".into(),
        }])
        .unwrap_err();
        assert!(
            err.contains("mode.detect.rules[0].when") && err.contains("wifi_up"),
            "{err}"
        );
        let err = compile_rules(&[RuleConfig {
            when: vec![],
            mode: "SIDEWAYS".into(),
        }])
        .unwrap_err();
        assert!(err.contains("mode.detect.rules[0].mode"), "{err}");
        let rules = compile_rules(&[RuleConfig {
            when: vec!["link_up".into()],
            mode: "OPEN".into(),
        }])
        .unwrap();
        let network = net(vec![link(1, "lo", "", true)], vec![]);
        let judgement = judge(&network, &MountSummary::default(), &LinkPolicy::default());
        assert_eq!(apply_rules(&judgement, &rules).0, EffectiveMode::Unknown);
    }

    #[test]
    fn vpn_names_ignored_links_and_globs() {
        assert!(glob_matches("wg*", "wg0"));
        assert!(glob_matches("*vpn*", "corp-vpn-1"));
        assert!(!glob_matches("wg*", "awg0"));
        assert!(glob_matches("docker0", "docker0"));
        let policy = LinkPolicy {
            vpn_kinds: vec![],
            vpn_links: vec!["wg*".into()],
            ignore_links: vec!["docker*".into()],
            ..LinkPolicy::default()
        };
        let network = net(
            vec![
                link(1, "lo", "", true),
                link(2, "wg0", "", true),
                link(3, "docker0", "bridge", true),
            ],
            vec![route(&[2])],
        );
        let judgement = judge(&network, &MountSummary::default(), &policy);
        assert!(judgement.route_out_is_vpn);
        assert_eq!(judgement.links_up, vec!["wg0".to_string()]);
        assert_eq!(judgement.links_present, vec!["wg0  ".to_string()]);
    }

    #[test]
    fn tripwires_fire_only_when_isolated_and_armed() {
        let network = net(
            vec![link(1, "lo", "", true), link(2, "eth0", "", true)],
            vec![],
        );
        let judgement = judge(&network, &MountSummary::default(), &LinkPolicy::default());
        let armed = TripwireConfig::default();
        let airgap = EffectiveMode::Known(BoundaryMode::Airgap);
        let known: BTreeSet<String> = judgement.links_present.iter().cloned().collect();
        assert!(
            tripwire(airgap, &judgement, &armed, Some(&known))
                .unwrap()
                .contains("eth0")
        );
        assert!(tripwire(RESTRICTED, &judgement, &armed, Some(&known)).is_none());
        assert!(tripwire(EffectiveMode::Unknown, &judgement, &armed, Some(&known)).is_none());
        let disarmed = TripwireConfig {
            link_up_while_isolated: false,
            ..armed.clone()
        };
        assert!(tripwire(airgap, &judgement, &disarmed, Some(&known)).is_none());
        let quiet = net(vec![link(1, "lo", "", true)], vec![]);
        let usb = MountSummary {
            removable: vec!["/media/usb".into()],
            storage_encrypted: true,
        };
        let judgement = judge(&quiet, &usb, &LinkPolicy::default());
        let coldroom = EffectiveMode::Known(BoundaryMode::Coldroom);
        assert!(
            tripwire(coldroom, &judgement, &armed, Some(&BTreeSet::new()))
                .unwrap()
                .contains("/media/usb")
        );
        assert!(tripwire(airgap, &judgement, &armed, Some(&BTreeSet::new())).is_none());
    }

    #[test]
    fn a_link_appearing_down_while_isolated_is_a_tripwire() {
        let armed = TripwireConfig::default();
        let airgap = EffectiveMode::Known(BoundaryMode::Airgap);
        let before = net(
            vec![link(1, "lo", "", true), link(2, "eth0", "veth", false)],
            vec![],
        );
        let before = judge(&before, &MountSummary::default(), &LinkPolicy::default());
        let known: BTreeSet<String> = before.links_present.iter().cloned().collect();
        assert!(tripwire(airgap, &before, &armed, Some(&known)).is_none());
        let mut usb = link(3, "usb0", "", false);
        usb.address = "02:00:00:00:00:01".into();
        let after = net(
            vec![
                link(1, "lo", "", true),
                link(2, "eth0", "veth", false),
                usb.clone(),
            ],
            vec![],
        );
        let after = judge(&after, &MountSummary::default(), &LinkPolicy::default());
        let reason = tripwire(airgap, &after, &armed, Some(&known)).unwrap();
        assert_eq!(
            reason,
            "tripwire: network link usb0 appeared while in AIRGAP"
        );
        assert!(tripwire(RESTRICTED, &after, &armed, Some(&known)).is_none());
        let off = TripwireConfig {
            link_appears_while_isolated: false,
            ..armed.clone()
        };
        assert!(tripwire(airgap, &after, &off, Some(&known)).is_none());
        // Another device under a known name is a new link.
        let mut swapped = link(2, "eth0", "veth", false);
        swapped.address = "02:00:00:00:00:02".into();
        let swapped = net(vec![link(1, "lo", "", true), swapped], vec![]);
        let swapped = judge(&swapped, &MountSummary::default(), &LinkPolicy::default());
        assert!(tripwire(airgap, &swapped, &armed, Some(&known)).is_some());
        // Ignored links never trip it.
        let ignoring = LinkPolicy {
            ignore_links: vec!["usb*".into()],
            ..LinkPolicy::default()
        };
        let ignored = net(
            vec![link(1, "lo", "", true), link(2, "eth0", "veth", false), usb],
            vec![],
        );
        let ignored = judge(&ignored, &MountSummary::default(), &ignoring);
        assert!(tripwire(airgap, &ignored, &armed, Some(&known)).is_none());
        // Not knowing which links were there when AIRGAP began fails closed.
        let reason = tripwire(airgap, &before, &armed, None).unwrap();
        assert!(
            reason.contains("eth0") && reason.contains("not recorded"),
            "{reason}"
        );
    }
}
