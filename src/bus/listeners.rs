//! Who hears an owner's signals. Signals that name an owner's contracts, memories or sessions
//! are sent with a destination (unicast) to the connections listed here: the owner's own, those
//! of agents the owner delegated to, and admins' (docs/DECISIONS.md, "Signals are addressed").
//! Nobody else receives them, whatever match rules they add; a connection that is not listed
//! hears nothing private (fail closed).
//!
//! A connection is listed for its uid when it makes any call (its credentials are resolved then
//! anyway) or when it calls `Daemon1.Subscribe`, and forgotten when it leaves the bus. Root's
//! connections listen as admins; another uid's connection listens as an admin only if the
//! authorizer granted it `manage-all` when it subscribed (asked once, never per signal).
//!
//! Bounds keep the fan-out of one event known: at most [`MAX_PER_UID`] connections per uid, at
//! most [`MAX_ADMINS`] admin connections and [`MAX_TOTAL`] in all, so one event is sent at most
//! `MAX_PER_UID × (1 + the owner's delegated agents) + MAX_ADMINS` times, and never more than
//! [`MAX_TOTAL`] times.

use crate::core::Uid;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

/// The most listening connections of one uid.
pub const MAX_PER_UID: usize = 64;
/// The most connections listening as admins (every owner's signals go to each).
pub const MAX_ADMINS: usize = 64;
/// The most listening connections in all.
pub const MAX_TOTAL: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Listener {
    uid: Uid,
    admin: bool,
}

#[derive(Debug, Default)]
struct Inner {
    connections: HashMap<String, Listener>,
    per_uid: HashMap<Uid, usize>,
    admins: usize,
}

/// What one listening connection may hear of an event naming several owners' contracts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// Everything (an admin).
    All,
    /// The contracts of these owners: its own uid and the owners that delegated to it.
    Owners(Vec<Uid>),
}

/// The listening connections, by unique bus name.
#[derive(Debug, Default)]
pub struct Listeners {
    inner: Mutex<Inner>,
}

impl Listeners {
    /// Lists the connection `bus_name` of `uid` (as an admin when `admin`; an admin stays one).
    /// Returns false, listing nothing, when a bound is reached.
    pub fn note(&self, bus_name: &str, uid: Uid, admin: bool) -> bool {
        let mut inner = self.inner.lock();
        if let Some(known) = inner.connections.get(bus_name).copied() {
            if admin && !known.admin {
                if inner.admins >= MAX_ADMINS {
                    return false;
                }
                inner.admins += 1;
                inner
                    .connections
                    .insert(bus_name.to_owned(), Listener { uid, admin });
            }
            return true;
        }
        let of_uid = inner.per_uid.get(&uid).copied().unwrap_or(0);
        if inner.connections.len() >= MAX_TOTAL
            || of_uid >= MAX_PER_UID
            || (admin && inner.admins >= MAX_ADMINS)
        {
            return false;
        }
        *inner.per_uid.entry(uid).or_default() += 1;
        if admin {
            inner.admins += 1;
        }
        inner
            .connections
            .insert(bus_name.to_owned(), Listener { uid, admin });
        true
    }

    /// Whether the connection `bus_name` is listed.
    pub fn contains(&self, bus_name: &str) -> bool {
        self.inner.lock().connections.contains_key(bus_name)
    }

    /// The listed connections of `uid` (to find those that left the bus when a bound is hit).
    pub fn of_uid(&self, uid: Uid) -> Vec<String> {
        let inner = self.inner.lock();
        inner
            .connections
            .iter()
            .filter(|(_, l)| l.uid == uid)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The listed admin connections.
    pub fn admins(&self) -> Vec<String> {
        let inner = self.inner.lock();
        inner
            .connections
            .iter()
            .filter(|(_, l)| l.admin)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Forgets a connection that left the bus.
    pub fn forget(&self, bus_name: &str) {
        let mut inner = self.inner.lock();
        if let Some(gone) = inner.connections.remove(bus_name) {
            if gone.admin {
                inner.admins -= 1;
            }
            if let Some(count) = inner.per_uid.get_mut(&gone.uid) {
                *count -= 1;
                if *count == 0 {
                    inner.per_uid.remove(&gone.uid);
                }
            }
        }
    }

    /// The connections that may hear about `owner`'s records: the owner's, those of agents
    /// `owner` delegated to (`delegations`: agent uid → owners), and admins'. Sorted.
    pub fn for_owner(&self, owner: Uid, delegations: &BTreeMap<Uid, Vec<Uid>>) -> Vec<String> {
        let inner = self.inner.lock();
        let mut names: Vec<String> = inner
            .connections
            .iter()
            .filter(|(_, l)| {
                l.admin
                    || l.uid == owner
                    || delegations
                        .get(&l.uid)
                        .is_some_and(|owners| owners.contains(&owner))
            })
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// Every listed connection with what it may hear, sorted by name.
    pub fn views(&self, delegations: &BTreeMap<Uid, Vec<Uid>>) -> Vec<(String, View)> {
        let inner = self.inner.lock();
        let mut views: Vec<(String, View)> = inner
            .connections
            .iter()
            .map(|(name, l)| {
                let view = if l.admin {
                    View::All
                } else {
                    let mut owners = vec![l.uid];
                    owners.extend(delegations.get(&l.uid).into_iter().flatten().copied());
                    View::Owners(owners)
                };
                (name.clone(), view)
            })
            .collect();
        views.sort_by(|a, b| a.0.cmp(&b.0));
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_delegates_and_admins_hear_an_owner_and_nobody_else() {
        let listeners = Listeners::default();
        assert!(listeners.note(":1.1", 1000, false));
        assert!(listeners.note(":1.2", 1001, false));
        assert!(listeners.note(":1.3", 0, true));
        assert!(listeners.note(":1.4", 2000, false));
        let delegations = BTreeMap::from([(2000, vec![1000])]);
        assert_eq!(
            listeners.for_owner(1000, &delegations),
            [":1.1", ":1.3", ":1.4"]
        );
        assert_eq!(listeners.for_owner(1001, &delegations), [":1.2", ":1.3"]);
        listeners.forget(":1.3");
        assert_eq!(listeners.for_owner(1001, &delegations), [":1.2"]);
        assert_eq!(
            listeners.views(&delegations)[2],
            (":1.4".to_string(), View::Owners(vec![2000, 1000]))
        );
    }

    #[test]
    fn the_bounds_hold_and_a_forgotten_connection_frees_its_place() {
        let listeners = Listeners::default();
        for n in 0..MAX_PER_UID {
            assert!(listeners.note(&format!(":1.{n}"), 1000, false));
        }
        assert!(!listeners.note(":2.0", 1000, false), "per uid");
        assert!(listeners.note(":2.1", 1001, false), "another uid has room");
        listeners.forget(":1.0");
        assert!(listeners.note(":2.0", 1000, false));
        for n in 0..MAX_ADMINS {
            assert!(listeners.note(&format!(":3.{n}"), n as Uid + 5000, true));
        }
        assert!(!listeners.note(":4.0", 0, true), "admins");
        assert!(
            !listeners.note(":2.1", 1001, true),
            "no upgrade past the bound"
        );
        assert!(
            listeners.note(":2.1", 1001, false),
            "still listed as itself"
        );
        assert_eq!(listeners.admins().len(), MAX_ADMINS);
    }
}
