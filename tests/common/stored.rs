//! Contracts as the store holds them, for filling a store directly through the ledger
//! (benchmarks with thousands of contracts) without walking each one through its lifecycle.

#![allow(dead_code)]

use learning_contracts::core::{
    Contract, ContractKind, ContractSpec, ContractState, RetentionKind, Scope, Timestamp,
};

/// An Active, permanent contract of `owner`, created and activated at `now`.
pub fn active_contract(
    id: String,
    owner: u32,
    kind: ContractKind,
    scope: Scope,
    description: String,
    now: Timestamp,
) -> Contract {
    Contract {
        id,
        owner,
        kind,
        state: ContractState::Active,
        spec: ContractSpec {
            scope,
            retention: Some(RetentionKind::Permanent),
            description,
            ..ContractSpec::default()
        },
        created: now,
        updated: now,
        activated: Some(now),
        ended: None,
        supersedes: None,
        superseded_by: None,
        session: None,
    }
}
