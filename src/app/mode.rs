//! The mode keeper's three steps. The supervisor (`service::mode`) runs them in order for every
//! wake: [`take_reading`] on its own task (checks see the reading at once, in the restrictive
//! direction), [`ModeKeeper::decide`] for the settle time, and [`commit_mode`] on the writer,
//! where the latch and the override are combined against the committed state.

use crate::core::{Actor, EffectiveMode, Event, ModeSettler, Registry, Timestamp};
use crate::ledger::{Ledger, LedgerError};
use crate::source::detect::rules::{Judgement, TripwireConfig, tripwire};

/// Notes the newest reading for checks and judges the tripwires against the last operating
/// mode committed (also for the first reading after a restart). A tripwire that fires is
/// enforced as LOCKDOWN at once and its latch is committed by the next [`commit_mode`].
pub fn take_reading(
    registry: &mut Registry,
    reading: EffectiveMode,
    judgement: Option<&Judgement>,
    armed: &TripwireConfig,
) {
    registry.note_reading(reading);
    registry.note_links(judgement.map(|j| j.links_present.iter().cloned().collect()));
    if registry.host().lockdown.is_some() || registry.pending_latch().is_some() {
        return;
    }
    if let Some(reason) = judgement.and_then(|judgement| {
        tripwire(
            registry.tripwire_baseline(),
            judgement,
            armed,
            registry.host().isolated_links.as_ref(),
        )
    }) {
        registry.note_tripwire(reason);
    }
}

/// The settle-time rule against what is committed.
#[derive(Clone, Debug)]
pub struct ModeKeeper {
    settler: ModeSettler,
    first: bool,
}

impl ModeKeeper {
    /// A keeper for a daemon that has not judged a reading yet.
    pub fn new(settle_millis: i64) -> Self {
        Self {
            settler: ModeSettler::new(settle_millis),
            first: true,
        }
    }

    /// Changes the settle time (a reloaded config).
    pub fn set_settle_millis(&mut self, settle_millis: i64) {
        self.settler.set_settle_millis(settle_millis);
    }

    /// The mode to commit now, if the newest reading (with override and latch) differs from
    /// the committed mode and may apply: at once toward restriction or for the first reading,
    /// after the settle time toward permission. `monotonic` is a monotonic clock in ms.
    pub fn decide(&mut self, registry: &Registry, monotonic: Timestamp) -> Option<EffectiveMode> {
        let committed = registry.mode();
        let candidate = registry.newest_mode()?;
        self.settler.resync(committed);
        if self.first {
            self.first = false;
            return self.settler.force(candidate);
        }
        self.settler.observe(candidate, monotonic)
    }

    /// When a pending permissive change will be due, on the same monotonic clock.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.settler.deadline()
    }
}

/// On the writer: commits a tripwire's pending latch, then the settled mode, each planned
/// against the committed state (so nothing planned earlier can lift a lockdown committed
/// since). Returns the announcements of what committed; on a store error nothing of the
/// failing step was applied, and the caller tries again.
pub fn commit_mode(
    ledger: &mut Ledger,
    settled: Option<EffectiveMode>,
    explanation: &str,
    now: Timestamp,
) -> Result<Vec<Event>, LedgerError> {
    let mut events = Vec::new();
    let pending_latch = ledger.registry().pending_latch().map(str::to_string);
    if let Some(reason) = pending_latch {
        events.extend(
            ledger.run(|registry| registry.plan_enter_lockdown(&Actor::daemon(), &reason, now))?,
        );
    }
    if let Some(settled) = settled {
        let change = ledger
            .registry()
            .plan_settled_reading(settled, explanation, now);
        if let Some(change) = change {
            events.extend(ledger.commit(change)?);
        }
    }
    Ok(events)
}
