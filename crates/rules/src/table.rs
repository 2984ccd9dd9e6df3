//! The contracts in memory: one dense vector, found by id through a hash table of positions.
//! A contract is never taken out of the registry (terminal ones stay, for audit and
//! recall), so a position once given stays valid; the registry's indices name contracts by
//! position instead of holding a copy of every id. With 100,000 contracts this is a third of
//! the memory of a map from ids to contracts, and loading or scanning them touches less of it.

use super::contract::Contract;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// Where a contract sits in the table.
pub(crate) type Slot = u32;

/// Contracts by position, found by id.
#[derive(Debug, Default)]
pub(crate) struct ContractTable {
    contracts: Vec<Contract>,
    /// Positions in `contracts`, hashed by the id of the contract there. The hasher is keyed
    /// at random per process, as the standard maps are.
    positions: HashTable<Slot>,
    hasher: RandomState,
}

impl ContractTable {
    /// Makes room for `additional` more contracts.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let Self {
            contracts,
            positions,
            hasher,
        } = self;
        contracts.reserve(additional);
        positions.reserve(additional, |&slot| {
            hasher.hash_one(contracts[slot as usize].id.as_str())
        });
    }

    /// The position of the contract with this id.
    pub(crate) fn slot(&self, id: &str) -> Option<Slot> {
        let hash = self.hasher.hash_one(id);
        self.positions
            .find(hash, |&slot| self.contracts[slot as usize].id == id)
            .copied()
    }

    /// The contract with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&Contract> {
        self.slot(id).map(|slot| self.at(slot))
    }

    /// The contract at a position the table gave.
    pub(crate) fn at(&self, slot: Slot) -> &Contract {
        &self.contracts[slot as usize]
    }

    /// Every contract, in the order they were first put.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Contract> {
        self.contracts.iter()
    }

    /// Puts a contract in: a new id gets the next position, a known one is replaced in place.
    /// Returns the position and the contract it replaced.
    pub(crate) fn put(&mut self, contract: Contract) -> (Slot, Option<Contract>) {
        let Self {
            contracts,
            positions,
            hasher,
        } = self;
        let hash = hasher.hash_one(contract.id.as_str());
        let found = positions
            .find(hash, |&slot| contracts[slot as usize].id == contract.id)
            .copied();
        match found {
            Some(slot) => {
                let old = std::mem::replace(&mut contracts[slot as usize], contract);
                (slot, Some(old))
            }
            None => {
                let slot = Slot::try_from(contracts.len())
                    .expect("fewer than four billion contracts in memory");
                positions.insert_unique(hash, slot, |&slot| {
                    hasher.hash_one(contracts[slot as usize].id.as_str())
                });
                contracts.push(contract);
                (slot, None)
            }
        }
    }
}
