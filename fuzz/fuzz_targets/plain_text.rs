//! The plain-language reader: any sentence a caller can send to `DraftFromText` (the bus caps
//! it at 4096 bytes). `draft_from_text` must never panic, never guess (no kind means a
//! question), never turn sharing on, and give the same draft for the same words.

#![no_main]

use learning_contracts::core::contract::{ContractKind, DESCRIPTION_MAX_BYTES, RetentionKind};
use learning_contracts::core::plain::summarize;
use learning_contracts::core::plain::text::{ASK_KIND, ASK_MIXED, draft_from_text};
use learning_contracts::core::{ContractSpec, Timestamp};
use libfuzzer_sys::fuzz_target;

/// The clocks a draft is read at, picked by the first byte: today-ish, the epoch, the last
/// day of year 9999, and far beyond (the arithmetic must saturate, not overflow).
const NOWS: [i64; 4] = [1_777_636_800_000, 0, 253_402_300_799_000, i64::MAX / 2];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let now = Timestamp::from_millis(NOWS[usize::from(pick) % NOWS.len()]);
    let text = String::from_utf8_lossy(rest);
    let draft = draft_from_text(&text, now);
    assert_eq!(
        draft,
        draft_from_text(&text, now),
        "the reading is deterministic"
    );

    let patch = &draft.patch;
    // Sharing and system contracts are never read from words.
    assert_eq!(patch.transferable, None, "{text:?}");
    assert_eq!(patch.system, None, "{text:?}");
    // Nothing is guessed: no kind means the person is asked which.
    if draft.kind.is_none() {
        assert!(
            draft
                .questions
                .iter()
                .any(|q| q == ASK_KIND || q == ASK_MIXED),
            "{text:?} → {:?}",
            draft.questions
        );
    }
    if draft.questions.iter().any(|q| q == ASK_MIXED) {
        assert!(patch.domains.is_none() && patch.contexts.is_none() && patch.tools.is_none());
    }
    let mut asked = draft.questions.clone();
    asked.sort();
    asked.dedup();
    assert_eq!(
        asked.len(),
        draft.questions.len(),
        "a question is asked once"
    );
    // A date is always in the future and always comes with timebound retention.
    if let Some(until) = patch.retention_until {
        assert_eq!(patch.retention, Some(RetentionKind::Timebound));
        assert!(until > now, "{text:?}");
    }
    if draft.kind == Some(ContractKind::Prohibited) {
        assert_eq!(patch.tools, None, "prohibitions take no tools");
        assert_ne!(patch.retention, Some(RetentionKind::Session));
    }
    for list in [&patch.domains, &patch.contexts].into_iter().flatten() {
        assert!(!list.is_empty(), "a scope read from words is never empty");
    }
    // The person's own words, cleaned and bounded.
    match &patch.description {
        Some(description) => {
            assert!(!description.is_empty() && description.len() <= DESCRIPTION_MAX_BYTES);
            assert!(!description.chars().any(char::is_control));
        }
        None => assert!(text.trim().is_empty(), "{text:?}"),
    }
    // What the daemon shows next to the draft.
    if let Some(kind) = draft.kind {
        let summary = summarize(kind, &ContractSpec::default().patched(patch), now);
        assert!(!summary.is_empty());
    }
});
