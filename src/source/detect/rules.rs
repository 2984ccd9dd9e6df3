//! From facts to a mode: the named predicates the rules speak of, the ordered rule list (the
//! defaults of ARCHITECTURE.md, overridable in the config), and the signals tripwires watch.
//! Pure: no I/O.

use super::links::NetworkSnapshot;
use crate::core::{BoundaryMode, EffectiveMode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The facts a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Predicate {
    /// There is a default route.
    DefaultRoute,
    /// Some default route leaves through a link that is not a VPN.
    DefaultRouteNonVpn,
    /// There is a default route, and every default route leaves through a VPN link.
    AllDefaultRoutesVpn,
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
        Self::DefaultRoute,
        Self::DefaultRouteNonVpn,
        Self::AllDefaultRoutesVpn,
        Self::LinkUp,
        Self::RemovableMedia,
        Self::StorageEncrypted,
    ];

    /// The name used in the config and in `Facts`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::DefaultRoute => "default_route",
            Self::DefaultRouteNonVpn => "default_route_non_vpn",
            Self::AllDefaultRoutesVpn => "all_default_routes_vpn",
            Self::LinkUp => "link_up",
            Self::RemovableMedia => "removable_media",
            Self::StorageEncrypted => "storage_encrypted",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
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
        rule(&["default_route_non_vpn"], "OPEN"),
        rule(&["all_default_routes_vpn"], "TRUSTED"),
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

/// How links are classified.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkPolicy {
    /// Link kinds (IFLA_INFO_KIND) that are VPN tunnels.
    pub vpn_kinds: Vec<String>,
    /// Link names that are VPN tunnels whatever their kind; `*` matches any run of characters.
    pub vpn_links: Vec<String>,
    /// Link names not counted as "a link is up" (for example container bridges). They still
    /// count as ways out when a default route leaves through them.
    pub ignore_links: Vec<String>,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            vpn_kinds: vec!["wireguard".into(), "tun".into(), "ppp".into()],
            vpn_links: Vec::new(),
            ignore_links: Vec::new(),
        }
    }
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

/// The predicates' values and what the tripwires watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// Each predicate's value, by name.
    pub predicates: BTreeMap<&'static str, bool>,
    /// Links up (not loopback, not ignored), by name: a tripwire in AIRGAP and COLDROOM.
    pub links_up: Vec<String>,
    /// Removable media mount points: a tripwire in COLDROOM.
    pub removable_media: Vec<String>,
    /// Whether every default route leaves through a VPN (the tool gate in TRUSTED).
    pub route_out_is_vpn: bool,
}

/// Computes the predicates from the facts.
pub fn judge(network: &NetworkSnapshot, mounts: &MountSummary, policy: &LinkPolicy) -> Judgement {
    let is_vpn = |index: u32| {
        network
            .links
            .iter()
            .find(|l| l.index == index)
            .is_some_and(|link| {
                policy.vpn_kinds.iter().any(|kind| kind == &link.kind)
                    || policy
                        .vpn_links
                        .iter()
                        .any(|pattern| glob_matches(pattern, &link.name))
            })
    };
    let links_up: Vec<String> = network
        .links
        .iter()
        .filter(|l| {
            l.up && !l.loopback && !policy.ignore_links.iter().any(|p| glob_matches(p, &l.name))
        })
        .map(|l| l.name.clone())
        .collect();
    let routes = &network.default_routes;
    // A route whose link is unknown, or that names no link, counts as a way out that is not a VPN.
    let non_vpn = routes
        .iter()
        .any(|r| r.link_indexes.is_empty() || r.link_indexes.iter().any(|&i| !is_vpn(i)));
    let all_vpn = !routes.is_empty() && !non_vpn;
    let mut predicates = BTreeMap::new();
    predicates.insert(Predicate::DefaultRoute.name(), !routes.is_empty());
    predicates.insert(Predicate::DefaultRouteNonVpn.name(), non_vpn);
    predicates.insert(Predicate::AllDefaultRoutesVpn.name(), all_vpn);
    predicates.insert(Predicate::LinkUp.name(), !links_up.is_empty());
    predicates.insert(
        Predicate::RemovableMedia.name(),
        !mounts.removable.is_empty(),
    );
    predicates.insert(Predicate::StorageEncrypted.name(), mounts.storage_encrypted);
    Judgement {
        predicates,
        links_up,
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
    /// Removable media mounted while the mode is COLDROOM.
    pub removable_media_in_coldroom: bool,
}

impl Default for TripwireConfig {
    fn default() -> Self {
        Self {
            link_up_while_isolated: true,
            removable_media_in_coldroom: true,
        }
    }
}

/// The tripwire that fires for `judgement` while `current` is in force, if any: its reason.
pub fn tripwire(
    current: EffectiveMode,
    judgement: &Judgement,
    armed: &TripwireConfig,
) -> Option<String> {
    let mode = current.operating()?;
    if armed.link_up_while_isolated
        && matches!(mode, BoundaryMode::Airgap | BoundaryMode::Coldroom)
        && !judgement.links_up.is_empty()
    {
        return Some(format!(
            "tripwire: network link {} came up while in {mode}",
            judgement.links_up.join(", ")
        ));
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
            up,
            lower_up: up,
            loopback: name == "lo",
        }
    }

    fn route(links: &[u32]) -> RouteFact {
        RouteFact {
            family: "ipv4",
            table: 254,
            link_indexes: links.to_vec(),
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

    #[test]
    fn the_default_rules_follow_architecture_md() {
        let lo = link(1, "lo", "", true);
        let eth = link(2, "eth0", "veth", true);
        let wg = link(3, "wg0", "tun", true);
        let plain = MountSummary::default();
        let known = EffectiveMode::Known;
        let net = |links: Vec<LinkFact>, routes: Vec<RouteFact>| NetworkSnapshot {
            links,
            default_routes: routes,
        };
        assert_eq!(
            mode_of(
                &net(vec![lo.clone(), eth.clone()], vec![route(&[2])]),
                &plain
            ),
            known(BoundaryMode::Open)
        );
        assert_eq!(
            mode_of(
                &net(vec![lo.clone(), eth.clone(), wg.clone()], vec![route(&[3])]),
                &plain
            ),
            known(BoundaryMode::Trusted)
        );
        assert_eq!(
            mode_of(
                &net(
                    vec![lo.clone(), eth.clone(), wg.clone()],
                    vec![route(&[3]), route(&[2])]
                ),
                &plain
            ),
            known(BoundaryMode::Open),
            "one route out that is not a VPN makes it OPEN"
        );
        assert_eq!(
            mode_of(&net(vec![lo.clone(), eth.clone()], vec![]), &plain),
            known(BoundaryMode::Restricted)
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
            known(BoundaryMode::Open),
            "a route through an unknown link is a way out, not a VPN"
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
        let network = NetworkSnapshot {
            links: vec![link(1, "lo", "", true)],
            default_routes: vec![],
        };
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
        };
        let network = NetworkSnapshot {
            links: vec![
                link(1, "lo", "", true),
                link(2, "wg0", "", true),
                link(3, "docker0", "bridge", true),
            ],
            default_routes: vec![route(&[2])],
        };
        let judgement = judge(&network, &MountSummary::default(), &policy);
        assert!(judgement.route_out_is_vpn);
        assert_eq!(judgement.links_up, vec!["wg0".to_string()]);
    }

    #[test]
    fn tripwires_fire_only_when_isolated_and_armed() {
        let network = NetworkSnapshot {
            links: vec![link(1, "lo", "", true), link(2, "eth0", "", true)],
            default_routes: vec![],
        };
        let judgement = judge(&network, &MountSummary::default(), &LinkPolicy::default());
        let armed = TripwireConfig::default();
        let airgap = EffectiveMode::Known(BoundaryMode::Airgap);
        assert!(
            tripwire(airgap, &judgement, &armed)
                .unwrap()
                .contains("eth0")
        );
        assert!(
            tripwire(
                EffectiveMode::Known(BoundaryMode::Restricted),
                &judgement,
                &armed
            )
            .is_none()
        );
        assert!(tripwire(EffectiveMode::Unknown, &judgement, &armed).is_none());
        let disarmed = TripwireConfig {
            link_up_while_isolated: false,
            ..armed.clone()
        };
        assert!(tripwire(airgap, &judgement, &disarmed).is_none());
        let quiet = NetworkSnapshot {
            links: vec![link(1, "lo", "", true)],
            default_routes: vec![],
        };
        let usb = MountSummary {
            removable: vec!["/media/usb".into()],
            storage_encrypted: true,
        };
        let judgement = judge(&quiet, &usb, &LinkPolicy::default());
        assert!(
            tripwire(
                EffectiveMode::Known(BoundaryMode::Coldroom),
                &judgement,
                &armed
            )
            .unwrap()
            .contains("/media/usb")
        );
        assert!(tripwire(airgap, &judgement, &armed).is_none());
    }
}
