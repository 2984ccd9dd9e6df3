//! Network facts from the kernel over rtnetlink: links (name, kind, link-layer type, up,
//! carrier), every unicast route (destination, table, the links it leaves through, its
//! gateway) and which routing tables the policy rules can select. Snapshots are dumped afresh
//! after every event, because the kernel drops the IPv4 routes of a link that goes down without
//! announcing it.

use futures_util::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoTun, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteType, RouteVia,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_core::Nla;
use rtnetlink::{Handle, IpVersion, RouteMessageBuilder};
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One network link as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkFact {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// IFLA_INFO_KIND (wireguard, tun, ppp, veth, bridge …), empty for plain devices.
    pub kind: String,
    /// The link-layer type (ARPHRD_*), lower case: "ether", "none" (a tun device), "ppp" …
    pub link_type: String,
    /// For kind `tun`: "tun" or "tap" (from IFLA_TUN_TYPE, else from the link-layer type);
    /// empty for other kinds.
    pub tun_mode: String,
    /// The permanent hardware address if the kernel knows one, else the current one; empty
    /// for links without one (tun, wireguard).
    pub address: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
    /// The loopback device.
    pub loopback: bool,
}

impl LinkFact {
    /// What tells this link from another that appears later, across restarts too: name,
    /// kind and hardware address (a link renamed, or replaced by another device under the
    /// same name, is a different link). Whitespace never occurs in a link's name.
    pub fn identity(&self) -> String {
        format!("{} {} {}", self.name, self.kind, self.address)
    }
}

/// A unicast route in any table but `local`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteFact {
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    /// The destination prefix's address (0.0.0.0 or :: for a default route).
    pub destination: IpAddr,
    /// The destination prefix's length.
    pub prefix_len: u8,
    /// The routing table.
    pub table: u32,
    /// The index of each link it leaves through (several for a multipath route; none when
    /// the kernel names none, as for a route through a nexthop object).
    pub link_indexes: Vec<u32>,
    /// The first gateway it names, if any.
    pub gateway: Option<IpAddr>,
}

/// A snapshot of the network state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkSnapshot {
    /// Every link.
    pub links: Vec<LinkFact>,
    /// Every unicast route outside the `local` table, in any table.
    pub routes: Vec<RouteFact>,
    /// The tables an IPv4 policy rule can select; None when the rules could not be read (or a
    /// rule selects a table only at run time, as VRF's l3mdev rule does): then every table
    /// counts.
    pub ipv4_tables: Option<BTreeSet<u32>>,
    /// The same for IPv6.
    pub ipv6_tables: Option<BTreeSet<u32>>,
}

/// The routing table the kernel keeps local and broadcast routes in; never a way out.
pub const RT_TABLE_LOCAL: u32 = 255;

/// IFLA_TUN_TYPE in a tun device's IFLA_INFO_DATA, and its value for TAP (IFF_TAP).
const IFLA_TUN_TYPE: u16 = 1;
const IFF_TAP: u8 = 0x02;

/// Dumps links, routes and rules.
pub async fn snapshot(handle: &Handle) -> Result<NetworkSnapshot, rtnetlink::Error> {
    let mut links = Vec::new();
    let mut stream = handle.link().get().execute();
    while let Some(message) = stream.try_next().await? {
        links.push(link_fact(&message));
    }
    links.sort_by_key(|link| link.index);
    let mut routes = Vec::new();
    let v4 = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut stream = handle.route().get(v4).execute();
    while let Some(message) = stream.try_next().await? {
        routes.extend(route_fact(&message, "ipv4"));
    }
    let v6 = RouteMessageBuilder::<Ipv6Addr>::new().build();
    let mut stream = handle.route().get(v6).execute();
    while let Some(message) = stream.try_next().await? {
        routes.extend(route_fact(&message, "ipv6"));
    }
    routes.sort_by(|a, b| {
        (
            a.family,
            a.table,
            a.destination,
            a.prefix_len,
            &a.link_indexes,
        )
            .cmp(&(
                b.family,
                b.table,
                b.destination,
                b.prefix_len,
                &b.link_indexes,
            ))
    });
    routes.dedup();
    Ok(NetworkSnapshot {
        links,
        routes,
        ipv4_tables: rule_tables(handle, IpVersion::V4).await,
        ipv6_tables: rule_tables(handle, IpVersion::V6).await,
    })
}

/// The tables the rules of one family can select, or None (every table counts) when the rules
/// cannot be read.
async fn rule_tables(handle: &Handle, version: IpVersion) -> Option<BTreeSet<u32>> {
    let mut rules = Vec::new();
    let mut stream = handle.rule().get(version).execute();
    loop {
        match stream.try_next().await {
            Ok(Some(message)) => rules.push(message),
            Ok(None) => break,
            Err(_) => return None,
        }
    }
    tables_selected(&rules)
}

/// The tables `rules` can select; None when one selects a table only at run time (l3mdev).
pub fn tables_selected(rules: &[RuleMessage]) -> Option<BTreeSet<u32>> {
    let mut tables = BTreeSet::new();
    for rule in rules {
        if rule.header.action != RuleAction::ToTable {
            continue;
        }
        let mut table = u32::from(rule.header.table);
        for attribute in &rule.attributes {
            match attribute {
                RuleAttribute::Table(id) => table = *id,
                RuleAttribute::L3MDev(true) => return None,
                _ => {}
            }
        }
        tables.insert(table);
    }
    Some(tables)
}

fn link_fact(message: &LinkMessage) -> LinkFact {
    let mut name = String::new();
    let mut kind = String::new();
    let mut tun_type = None;
    let mut address = Vec::new();
    let mut permanent = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(text) => name = text.clone(),
            LinkAttribute::Address(bytes) => address = bytes.clone(),
            LinkAttribute::PermAddress(bytes) => permanent = bytes.clone(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(info_kind) => kind = kind_name(info_kind),
                        LinkInfo::Data(InfoData::Tun(nlas)) => tun_type = tun_type_of(nlas),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let link_layer = message.header.link_layer_type;
    let tun_mode = if kind == "tun" {
        // IFLA_TUN_TYPE says it; without it the link-layer type does: a TUN device carries
        // bare IP (ARPHRD_NONE), a TAP device Ethernet frames. Anything else reads as TAP,
        // which is not a VPN by default.
        let tap = match tun_type {
            Some(kind) => kind & IFF_TAP != 0,
            None => link_layer != LinkLayerType::None,
        };
        if tap { "tap" } else { "tun" }.to_string()
    } else {
        String::new()
    };
    let hardware = if permanent.iter().any(|b| *b != 0) {
        permanent
    } else {
        address
    };
    let flags = message.header.flags;
    LinkFact {
        index: message.header.index,
        name,
        kind,
        link_type: link_layer.to_string().to_lowercase(),
        tun_mode,
        address: hardware
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        up: flags.contains(LinkFlags::Up),
        lower_up: flags.contains(LinkFlags::LowerUp),
        loopback: flags.contains(LinkFlags::Loopback),
    }
}

fn tun_type_of(nlas: &[InfoTun]) -> Option<u8> {
    nlas.iter().find_map(|nla| {
        let InfoTun::Other(nla) = nla else {
            return None;
        };
        if nla.kind() != IFLA_TUN_TYPE || nla.value_len() == 0 {
            return None;
        }
        let mut value = vec![0u8; nla.value_len()];
        nla.emit_value(&mut value);
        value.first().copied()
    })
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Other(other) => other.to_lowercase(),
        known => known.to_string().to_lowercase(),
    }
}

fn address_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via_of(via: &RouteVia) -> Option<IpAddr> {
    match via {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_fact(message: &RouteMessage, family: &'static str) -> Option<RouteFact> {
    let header = &message.header;
    // Only unicast routes carry traffic anywhere: blackhole, unreachable, prohibit, throw,
    // local, broadcast and multicast routes do not leave the host through a link.
    if header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut link_indexes = Vec::new();
    let mut destination = None;
    let mut gateways = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(id) => table = *id,
            RouteAttribute::Oif(index) => link_indexes.push(*index),
            RouteAttribute::Destination(address) => destination = address_of(address),
            RouteAttribute::Gateway(address) => gateways.extend(address_of(address)),
            RouteAttribute::Via(via) => gateways.extend(via_of(via)),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    link_indexes.push(hop.interface_index);
                    for attribute in &hop.attributes {
                        match attribute {
                            RouteAttribute::Gateway(address) => {
                                gateways.extend(address_of(address))
                            }
                            RouteAttribute::Via(via) => gateways.extend(via_of(via)),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if table == RT_TABLE_LOCAL {
        return None;
    }
    let unspecified = if family == "ipv4" {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    link_indexes.retain(|index| *index != 0);
    link_indexes.sort_unstable();
    link_indexes.dedup();
    Some(RouteFact {
        family,
        destination: destination.unwrap_or(unspecified),
        prefix_len: header.destination_prefix_length,
        table,
        link_indexes,
        gateway: gateways.first().copied(),
    })
}
