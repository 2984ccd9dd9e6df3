//! The detector: keeps the host's facts current from the kernel, event-driven (rtnetlink for
//! links, addresses and routes; mountinfo for mounts), and turns them into a mode by rules.
//! No polling loop: it wakes on netlink events and mount changes only.

pub mod links;
pub mod mounts;
pub mod rules;

use super::{ModeSource, Reading};
use crate::core::EffectiveMode;
use futures_util::StreamExt;
use links::NetworkSnapshot;
use mounts::{MountFacts, MountPolicy, MountWatcher};
use netlink_sys::{AsyncSocket, SocketAddr};
use rules::{LinkPolicy, MountSummary, Rule, RuleConfig, TripwireConfig};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::watch;

/// `[detect]`: how facts are read and judged.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Link kinds that are VPN tunnels (IFLA_INFO_KIND; a tun-driver link is `tun` or `tap`
    /// by its mode, a kindless PPP link `ppp`).
    pub vpn_kinds: Vec<String>,
    /// Link names that are VPN tunnels whatever their kind (`*` matches any run of characters).
    pub vpn_links: Vec<String>,
    /// Link names not counted as "a link is up" nor as a link appearing; still ways out when
    /// routes out use them.
    pub ignore_links: Vec<String>,
    /// Routes are a way out when together they reach as many public IPv4 addresses as one
    /// prefix of this length (8 to 32).
    pub route_out_ipv4_prefix: u8,
    /// The same for IPv6 (8 to 128).
    pub route_out_ipv6_prefix: u8,
    /// The rules, first match wins; none matching means UNKNOWN.
    pub rules: Vec<RuleConfig>,
    /// Which tripwires are armed.
    pub tripwires: TripwireConfig,
    /// Which mounts count as persistent, and where sysfs is.
    pub mounts: MountPolicy,
}

impl Default for DetectConfig {
    fn default() -> Self {
        let links = LinkPolicy::default();
        Self {
            vpn_kinds: links.vpn_kinds,
            vpn_links: links.vpn_links,
            ignore_links: links.ignore_links,
            route_out_ipv4_prefix: links.route_out_ipv4_prefix,
            route_out_ipv6_prefix: links.route_out_ipv6_prefix,
            rules: rules::default_rules(),
            tripwires: TripwireConfig::default(),
            mounts: MountPolicy::default(),
        }
    }
}

impl DetectConfig {
    /// The link classification.
    pub fn link_policy(&self) -> LinkPolicy {
        LinkPolicy {
            vpn_kinds: self.vpn_kinds.iter().map(|k| k.to_lowercase()).collect(),
            vpn_links: self.vpn_links.clone(),
            ignore_links: self.ignore_links.clone(),
            route_out_ipv4_prefix: self.route_out_ipv4_prefix,
            route_out_ipv6_prefix: self.route_out_ipv6_prefix,
        }
    }

    /// Checks what serde cannot: the route-out thresholds. The error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        use rules::ROUTE_OUT_PREFIX_MIN as MIN;
        for (key, value, max) in [
            ("route_out_ipv4_prefix", self.route_out_ipv4_prefix, 32),
            ("route_out_ipv6_prefix", self.route_out_ipv6_prefix, 128),
        ] {
            if !(MIN..=max).contains(&value) {
                return Err((
                    key.to_string(),
                    format!("{value} is not a prefix length from {MIN} to {max}"),
                ));
            }
        }
        Ok(())
    }
}

/// The detector as a mode source.
#[derive(Debug)]
pub struct DetectSource {
    links: LinkPolicy,
    rules: Vec<Rule>,
    mounts: watch::Receiver<Option<MountFacts>>,
}

impl DetectSource {
    /// A detector judging by `config` (whose rules must already be valid), with mount facts
    /// from `mounts` (None until the first mount reading).
    pub fn new(
        config: &DetectConfig,
        mounts: watch::Receiver<Option<MountFacts>>,
    ) -> Result<Self, String> {
        Ok(Self {
            links: config.link_policy(),
            rules: rules::compile_rules(&config.rules)?,
            mounts,
        })
    }

    /// The reading for a set of facts.
    pub fn reading(&self, network: &NetworkSnapshot, mount_facts: Option<&MountFacts>) -> Reading {
        let view = rules::view_network(network, &self.links);
        let Some(mount_facts) = mount_facts else {
            return Reading {
                mode: EffectiveMode::Unknown,
                healthy: false,
                facts: serde_json::json!({
                    "links": view.links,
                    "routes_out": view.routes_out,
                    "routes_out_omitted": view.routes_out_omitted,
                }),
                explanation: "the mount facts are not read yet".into(),
                route_out_is_vpn: false,
                judgement: None,
            };
        };
        let mounts = MountSummary {
            removable: mount_facts.removable_mount_points.clone(),
            storage_encrypted: mount_facts.all_persistent_writable_encrypted,
        };
        let judgement = rules::judge_view(&view, &mounts);
        let (mode, matched) = rules::apply_rules(&judgement, &self.rules);
        let explanation = match matched {
            Some((index, rule)) => format!("rule {} matched: {}", index + 1, rule.text),
            None => "no rule matched, so the mode is UNKNOWN".to_string(),
        };
        Reading {
            mode,
            healthy: true,
            facts: serde_json::json!({
                "links": view.links,
                "routes_out": view.routes_out,
                "routes_out_omitted": view.routes_out_omitted,
                "mounts": mount_facts,
                "facts": judgement.predicates,
                "rule": matched.map(|(_, rule)| rule.text.clone()).unwrap_or_default(),
            }),
            explanation,
            route_out_is_vpn: judgement.route_out_is_vpn,
            judgement: Some(judgement),
        }
    }

    /// Watches netlink until it fails; every event leads to a fresh snapshot.
    async fn watch(
        &mut self,
        readings: &watch::Sender<Option<Reading>>,
    ) -> Result<std::convert::Infallible, String> {
        use rtnetlink::constants::{
            RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV4_RULE, RTMGRP_IPV6_IFADDR,
            RTMGRP_IPV6_ROUTE, RTMGRP_LINK,
        };
        // RTNLGRP_IPV6_RULE (19) as a legacy group bit; rtnetlink names no constant for it.
        const RTMGRP_IPV6_RULE: u32 = 1 << (19 - 1);
        let (mut connection, handle, mut events) = rtnetlink::new_connection()
            .map_err(|err| format!("cannot open a netlink socket: {err}"))?;
        let groups = RTMGRP_LINK
            | RTMGRP_IPV4_IFADDR
            | RTMGRP_IPV6_IFADDR
            | RTMGRP_IPV4_ROUTE
            | RTMGRP_IPV6_ROUTE
            | RTMGRP_IPV4_RULE
            | RTMGRP_IPV6_RULE;
        connection
            .socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))
            .map_err(|err| format!("cannot subscribe to netlink events: {err}"))?;
        let driver = tokio::spawn(connection);
        let outcome = async {
            // Dumped again only after a netlink event: a mount change alone leaves the last
            // snapshot as it was (any netlink event queued meanwhile is taken next round), so
            // removable media is judged without three netlink round trips first.
            let mut kept: Option<NetworkSnapshot> = None;
            loop {
                let network = match kept.take() {
                    Some(network) => network,
                    None => links::snapshot(&handle)
                        .await
                        .map_err(|err| format!("cannot read links and routes: {err}"))?,
                };
                let mounts = self.mounts.borrow_and_update().clone();
                let reading = self.reading(&network, mounts.as_ref());
                readings.send_if_modified(|current| {
                    let changed = current.as_ref() != Some(&reading);
                    if changed {
                        *current = Some(reading);
                    }
                    changed
                });
                tokio::select! {
                    event = events.next() => {
                        if event.is_none() {
                            return Err("the netlink socket closed".to_string());
                        }
                        // Take whatever else is already queued: one snapshot serves them all.
                        while let Some(Some(_)) = futures_util::FutureExt::now_or_never(events.next()) {}
                    }
                    changed = self.mounts.changed() => {
                        if changed.is_err() {
                            return Err("the mount watcher stopped".to_string());
                        }
                        // A netlink event that came meanwhile means the snapshot is old.
                        let mut queued = false;
                        while let Some(Some(_)) = futures_util::FutureExt::now_or_never(events.next()) {
                            queued = true;
                        }
                        if !queued {
                            kept = Some(network);
                        }
                    }
                }
            }
        }
        .await;
        driver.abort();
        outcome
    }
}

#[async_trait::async_trait]
impl ModeSource for DetectSource {
    fn name(&self) -> &'static str {
        "detect"
    }

    async fn run(mut self: Box<Self>, readings: watch::Sender<Option<Reading>>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let Err(cause) = self.watch(&readings).await;
            tracing::error!(
                cause = cause.as_str(),
                "the detector lost its view of the host; the mode is UNKNOWN until it recovers"
            );
            readings.send_replace(Some(Reading {
                mode: EffectiveMode::Unknown,
                healthy: false,
                facts: serde_json::json!({"cause": cause}),
                explanation: format!("the detector cannot see the host: {cause}"),
                route_out_is_vpn: false,
                judgement: None,
            }));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

/// Keeps the mount facts current from /proc/self/mountinfo (woken by the kernel on every mount
/// change). While the table cannot be read the facts are None, and the detector reads UNKNOWN.
pub async fn watch_mounts(config: DetectConfig, facts: watch::Sender<Option<MountFacts>>) {
    let policy = config.mounts;
    let judge = |table: &[mounts::Mount]| Some(mounts::mount_facts(table, &policy));
    let mut backoff = Duration::from_millis(100);
    loop {
        match MountWatcher::open("/proc/self/mountinfo") {
            Ok(mut watcher) => {
                facts.send_replace(judge(watcher.current()));
                backoff = Duration::from_millis(100);
                loop {
                    match watcher.next_change().await {
                        Ok(table) => {
                            facts.send_replace(judge(&table));
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "the mount table cannot be read; the mode is UNKNOWN until it can");
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "the mount table cannot be opened; the mode is UNKNOWN until it can")
            }
        }
        facts.send_replace(None);
        if facts.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
