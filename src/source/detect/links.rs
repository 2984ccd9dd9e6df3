//! Network facts from the kernel over rtnetlink: links (name, kind, up, carrier) and default
//! routes (the link they leave through). Snapshots are dumped afresh after every event,
//! because the kernel drops the IPv4 routes of a link that goes down without announcing it.

use futures_util::TryStreamExt;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One network link as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkFact {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// IFLA_INFO_KIND (wireguard, tun, ppp, veth, bridge …), empty for plain devices.
    pub kind: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
    /// The loopback device.
    pub loopback: bool,
}

/// A default route (destination prefix length 0) in any table but `local`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteFact {
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    /// The routing table.
    pub table: u32,
    /// The index of each link it leaves through (several for a multipath route).
    pub link_indexes: Vec<u32>,
}

/// A snapshot of the network state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkSnapshot {
    /// Every link.
    pub links: Vec<LinkFact>,
    /// Every default route.
    pub default_routes: Vec<RouteFact>,
}

/// The routing table the kernel keeps local and broadcast routes in; never a way out.
const RT_TABLE_LOCAL: u32 = 255;

/// Dumps links and default routes.
pub async fn snapshot(handle: &Handle) -> Result<NetworkSnapshot, rtnetlink::Error> {
    let mut links = Vec::new();
    let mut stream = handle.link().get().execute();
    while let Some(message) = stream.try_next().await? {
        links.push(link_fact(&message));
    }
    links.sort_by_key(|link| link.index);
    let mut default_routes = Vec::new();
    let v4 = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut stream = handle.route().get(v4).execute();
    while let Some(message) = stream.try_next().await? {
        default_routes.extend(default_route(&message, "ipv4"));
    }
    let v6 = RouteMessageBuilder::<Ipv6Addr>::new().build();
    let mut stream = handle.route().get(v6).execute();
    while let Some(message) = stream.try_next().await? {
        default_routes.extend(default_route(&message, "ipv6"));
    }
    default_routes.sort_by(|a, b| {
        (a.family, a.table, &a.link_indexes).cmp(&(b.family, b.table, &b.link_indexes))
    });
    default_routes.dedup();
    Ok(NetworkSnapshot {
        links,
        default_routes,
    })
}

fn link_fact(message: &LinkMessage) -> LinkFact {
    let mut name = String::new();
    let mut kind = String::new();
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(text) => name = text.clone(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(info_kind) = info {
                        kind = kind_name(info_kind);
                    }
                }
            }
            _ => {}
        }
    }
    let flags = message.header.flags;
    LinkFact {
        index: message.header.index,
        name,
        kind,
        up: flags.contains(LinkFlags::Up),
        lower_up: flags.contains(LinkFlags::LowerUp),
        loopback: flags.contains(LinkFlags::Loopback),
    }
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Other(other) => other.to_lowercase(),
        known => known.to_string().to_lowercase(),
    }
}

fn default_route(message: &RouteMessage, family: &'static str) -> Option<RouteFact> {
    let header = &message.header;
    if header.destination_prefix_length != 0 || header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut link_indexes = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(id) => table = *id,
            RouteAttribute::Oif(index) => link_indexes.push(*index),
            RouteAttribute::MultiPath(hops) => {
                link_indexes.extend(hops.iter().map(|hop| hop.interface_index))
            }
            _ => {}
        }
    }
    if table == RT_TABLE_LOCAL {
        return None;
    }
    link_indexes.sort_unstable();
    link_indexes.dedup();
    Some(RouteFact {
        family,
        table,
        link_indexes,
    })
}
