//! `org.learningcontracts.Contracts1`: drafting, reviewing, activating, amending, revoking and
//! reading contracts.

use super::Daemon;
use super::args::{self, Dict, Request};
use super::authorize::Action;
use super::dicts;
use super::error::BusError;
use crate::app::writer::Lane;
use crate::core::plain::summary::summarize;
use crate::core::plain::templates::{TEMPLATES, Template, TemplateError, instantiate};
use crate::core::plain::text::draft_from_text;
use crate::core::{ContractKind, ContractSpec, Timestamp};
use std::sync::Arc;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// Contracts and their lifecycle.
#[derive(Debug, Clone)]
pub struct Contracts1 {
    pub(crate) daemon: Arc<Daemon>,
}

fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Learning contracts: create a draft, submit it for review, activate it (the owner with
/// interactive confirmation, or an admin), amend or revoke it, and read contracts. Contracts
/// are dictionaries with the spec keys (domains as, contexts as, tools as, retention s,
/// retention_until x, classification_cap y, required_mode s, max_abstraction s, transferable b,
/// recall_requires_owner b, description s, system b) plus id s, kind s, state s, owner u,
/// suspension as, effective b, created x, activated x, ended x, supersedes s, superseded_by s
/// and session_id s.
#[interface(name = "org.learningcontracts.Contracts1")]
impl Contracts1 {
    /// Creates a Draft owned by the caller. kind: observation, episodic, procedural, strategic
    /// or prohibited. A system prohibition (system = true) needs an admin. Returns the new id.
    /// An owner past limits.max_open_drafts_per_owner contracts in Draft or Review, or any owner
    /// while the store is short of room, gets org.learningcontracts.Error.LimitReached (as do
    /// Amend, DraftFromTemplate and DraftFromText).
    async fn create_draft(
        &self,
        kind: &str,
        spec: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        let kind = args::parse_kind(kind)?;
        let patch = args::spec_patch(&spec, &self.daemon.config().config.limits)?;
        let who = self.daemon.identify(connection, &header).await?;
        let mut actor = crate::core::Actor {
            caller: who.caller(),
            uid: who.uid,
            admin: false,
            confirmed: false,
        };
        if patch.system == Some(true) {
            actor = self
                .daemon
                .require(&who, Action::ManageAll, &header)
                .await?;
        }
        let id = new_id();
        let new = id.clone();
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_create_draft(&actor, kind, &patch, new, Timestamp::now()))
            .await?;
        Ok(id)
    }

    /// Changes a Draft (its owner only); keys not given keep their value.
    async fn update_draft(
        &self,
        id: &str,
        spec: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let id = args::parse_id("id", id)?;
        let patch = args::spec_patch(&spec, &self.daemon.config().config.limits)?;
        let who = self.daemon.identify(connection, &header).await?;
        let mut actor = self.daemon.actor_for(&who, &id, None, &header).await?;
        if patch.system.is_some() && !actor.admin {
            actor.admin = self
                .daemon
                .authorize(&who, Action::ManageAll, &header)
                .await?;
        }
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_update_draft(&actor, &id, &patch, Timestamp::now()))
            .await
    }

    /// Submits a Draft for review (its owner only). Full validation runs here; problems come
    /// back as org.learningcontracts.Error.InvalidSpec, one sentence per key.
    async fn submit(
        &self,
        id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let id = args::parse_id("id", id)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self.daemon.actor_for(&who, &id, None, &header).await?;
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_submit(&actor, &id, Timestamp::now()))
            .await
    }

    /// Sends a contract in Review back to Draft ("request changes"), by its owner or an admin.
    async fn return_to_draft(
        &self,
        id: &str,
        note: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let id = args::parse_id("id", id)?;
        let note = bounded("note", note, &self.daemon)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self.daemon.actor_for(&who, &id, None, &header).await?;
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_return_to_draft(&actor, &id, &note, Timestamp::now()))
            .await
    }

    /// Activates a contract in Review: its owner with interactive confirmation (polkit action
    /// org.learningcontracts.confirm-own), or an admin. Activating an amendment replaces the
    /// contract it amends in the same transaction.
    async fn activate(
        &self,
        id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let id = args::parse_id("id", id)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self
            .daemon
            .actor_for(&who, &id, Some(Action::ConfirmOwn), &header)
            .await?;
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_activate(&actor, &id, Timestamp::now()))
            .await
    }

    /// Drafts an amendment of an Active contract (its owner only): a new Draft with the same
    /// kind and the changes applied, which supersedes the contract once activated. Returns the
    /// new id.
    async fn amend(
        &self,
        id: &str,
        changes: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        let id = args::parse_id("id", id)?;
        let patch = args::spec_patch(&changes, &self.daemon.config().config.limits)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self.daemon.actor_for(&who, &id, None, &header).await?;
        let new = new_id();
        let reply = new.clone();
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_amend(&actor, &id, &patch, new, Timestamp::now()))
            .await?;
        Ok(reply)
    }

    /// Revokes a contract (its owner or an admin): a Draft or Review is withdrawn; an Active
    /// contract's memories are tombstoned, its heuristics invalidated and memories derived from
    /// them quarantined. Prohibitions cannot be revoked (org.learningcontracts.Error.NotRevocable).
    async fn revoke(
        &self,
        id: &str,
        reason: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let id = args::parse_id("id", id)?;
        let reason = bounded("reason", reason, &self.daemon)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self.daemon.actor_for(&who, &id, None, &header).await?;
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_revoke(&actor, &id, &reason, Timestamp::now()))
            .await
    }

    /// One contract: the caller's own or its delegating owner's, a system prohibition, or any
    /// for an admin.
    async fn get(
        &self,
        id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Dict, BusError> {
        self.read_contract(id, &header, connection, |registry, contract| {
            dicts::contract(registry, contract, Timestamp::now())
        })
        .await
    }

    /// Contracts matching a filter (keys: state s, kind s, owner u). Without owner: the
    /// caller's own and the system prohibitions (everything for root); with owner: that owner's
    /// only, for the owner, an agent acting for it, or an admin.
    async fn list(
        &self,
        filter: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Vec<Dict>, BusError> {
        let args::ListFilter { state, kind, owner } =
            args::list_filter(&filter, &self.daemon.config().config.limits)?;
        let who = self.daemon.identify(connection, &header).await?;
        if let Some(owner) = owner
            && !self.daemon.acts_for(&who, owner)
        {
            self.daemon
                .require(&who, Action::ManageAll, &header)
                .await?;
        }
        let root_sees_all = who.uid == 0 && owner.is_none();
        let now = Timestamp::now();
        let registry = self.daemon.registry.read();
        let mut found: Vec<_> = registry
            .contracts()
            .filter(|c| match owner {
                Some(owner) => c.owner == owner,
                None => root_sees_all || c.owner == who.uid || c.is_system(),
            })
            .filter(|c| state.is_none_or(|s| c.state == s))
            .filter(|c| kind.is_none_or(|k| c.kind == k))
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found
            .into_iter()
            .map(|c| dicts::contract(&registry, c, now))
            .collect())
    }

    /// The plain-language summary of a contract that a person approves: what the assistant
    /// may learn, how far it may generalize, for how long, and whether anything leaves the
    /// machine.
    async fn summarize(
        &self,
        id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        self.read_contract(id, &header, connection, |_, contract| {
            summarize(contract.kind, &contract.spec, Timestamp::now())
        })
        .await
    }

    /// The ready-made contracts: name s, title s, description s, kind s, and params aa{sv}
    /// (name s, description s, required b, default s).
    async fn templates(&self) -> Vec<Dict> {
        TEMPLATES.iter().map(template_dict).collect()
    }

    /// Creates a Draft owned by the caller from a template and its parameters (string values),
    /// returning the new id. Unknown templates and parameters, missing required ones and bad
    /// values are refused with InvalidArgs naming them.
    async fn draft_from_template(
        &self,
        name: &str,
        params: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        let values = args::template_params(&params, &self.daemon.config().config.limits)?;
        let now = Timestamp::now();
        let (kind, patch) = instantiate(name, &values, now).map_err(|err| {
            let key = match &err {
                TemplateError::UnknownTemplate { .. } => "name".to_string(),
                TemplateError::MissingParam { param, .. }
                | TemplateError::BadParam { param, .. } => param.to_string(),
                TemplateError::UnknownParam { param, .. } => param.clone(),
                _ => "params".to_string(),
            };
            BusError::invalid_args(&key, err)
        })?;
        self.create(
            &who_actor(&self.daemon, connection, &header).await?,
            kind,
            patch,
        )
        .await
    }

    /// Reads a sentence such as "Learn coding tips from project alpha for 3 weeks" into a
    /// Draft. Returns the new id (empty when the kind of learning was not clear, so no draft
    /// was made), the draft's plain-language summary, and a question for everything the
    /// sentence did not settle; nothing is guessed.
    #[zbus(out_args("id", "summary", "questions"))]
    async fn draft_from_text(
        &self,
        text: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(String, String, Vec<String>), BusError> {
        let text = bounded("text", text, &self.daemon)?;
        let now = Timestamp::now();
        let draft = draft_from_text(&text, now);
        let Some(kind) = draft.kind else {
            let summary =
                "No draft was made: the sentence does not say what kind of learning is meant."
                    .to_string();
            return Ok((String::new(), summary, draft.questions));
        };
        let actor = who_actor(&self.daemon, connection, &header).await?;
        let summary = summarize(kind, &ContractSpec::default().patched(&draft.patch), now);
        let id = self.create(&actor, kind, draft.patch).await?;
        Ok((id, summary, draft.questions))
    }

    /// Emitted when a contract changes state or is bound: its id, new state, suspension
    /// reasons and why. Addressed (unicast), never broadcast: sent only to the listening
    /// connections of the contract's owner, of agents the owner delegated to, and of admins
    /// (connections that called the daemon or Daemon1.Subscribe).
    #[zbus(signal)]
    pub async fn contract_changed(
        emitter: &SignalEmitter<'_>,
        id: &str,
        state: &str,
        suspension: Vec<String>,
        reason: &str,
    ) -> zbus::Result<()>;

    /// How many contracts are Active.
    #[zbus(property)]
    fn active_count(&self) -> u32 {
        self.daemon.registry.read().active_count() as u32
    }

    /// How many Active contracts have at least one suspension reason.
    #[zbus(property)]
    fn suspended_count(&self) -> u32 {
        self.daemon.registry.read().suspended_count() as u32
    }
}

impl Contracts1 {
    /// Reads a contract the caller may see. One that does not exist and one the caller may not
    /// see answer the same `Error.NotFound`.
    async fn read_contract<T>(
        &self,
        id: &str,
        header: &Header<'_>,
        connection: &zbus::Connection,
        read: impl FnOnce(&crate::core::Registry, &crate::core::Contract) -> T,
    ) -> Result<T, BusError> {
        let id = args::parse_id("id", id)?;
        let who = self.daemon.identify(connection, header).await?;
        let readable = self.daemon.may_read_contract(&who, &id, header).await?;
        let registry = self.daemon.registry.read();
        match registry.contract(&id) {
            Some(contract) if readable => Ok(read(&registry, contract)),
            _ => Err(crate::core::CoreError::NotFound {
                what: "contract",
                id,
            }
            .into()),
        }
    }

    /// Creates a draft for `actor` and returns its id.
    async fn create(
        &self,
        actor: &crate::core::Actor,
        kind: ContractKind,
        patch: crate::core::SpecPatch,
    ) -> Result<String, BusError> {
        let id = new_id();
        let new = id.clone();
        let actor = actor.clone();
        let lane = actor.caller.uid.map_or(Lane::Host, Lane::of);
        self.daemon
            .writer
            .lane(lane)
            .run(move |r| r.plan_create_draft(&actor, kind, &patch, new, Timestamp::now()))
            .await?;
        Ok(id)
    }
}

/// The caller as an ordinary actor (drafts from templates and text are never system ones).
async fn who_actor(
    daemon: &Daemon,
    connection: &zbus::Connection,
    header: &Header<'_>,
) -> Result<crate::core::Actor, BusError> {
    let who = daemon.identify(connection, header).await?;
    Ok(crate::core::Actor {
        caller: who.caller(),
        uid: who.uid,
        admin: false,
        confirmed: false,
    })
}

fn template_dict(template: &Template) -> Dict {
    let mut dict = Dict::new();
    let mut put = |key: &str, value: zbus::Variant<'_>| {
        if let Ok(value) = zbus::OwnedVariant::try_from(value) {
            dict.insert(key.to_string(), value);
        }
    };
    put("name", template.name.into());
    put("title", template.title.into());
    put("description", template.description.into());
    put("kind", template.kind.as_str().into());
    let params: Vec<Dict> = template
        .params
        .iter()
        .map(|param| {
            let mut entry = Dict::new();
            let mut add = |key: &str, value: zbus::Variant<'_>| {
                if let Ok(value) = zbus::OwnedVariant::try_from(value) {
                    entry.insert(key.to_string(), value);
                }
            };
            add("name", param.name.into());
            add("description", param.description.into());
            add("required", param.required.into());
            add("default", param.default.unwrap_or("").into());
            entry
        })
        .collect();
    put("params", params.into());
    dict
}

/// A free-text argument (reason, note) within the configured size.
pub(crate) fn bounded(key: &str, text: &str, daemon: &Daemon) -> Result<String, BusError> {
    let max = daemon.config().config.limits.max_string_bytes;
    if text.len() > max {
        return Err(BusError::invalid_args(
            key,
            format!("is {} bytes long; at most {max}", text.len()),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(BusError::invalid_args(key, "contains control characters"));
    }
    Ok(text.to_string())
}
