//! Checkpoints of the audit chain in the journal: when the daemon writes one (every N records
//! or M minutes, whichever comes first, only when the head moved, plus start and stop; the
//! clock passed in), and what comparing the journal's checkpoints with the store finds
//! (match, rewritten, removed, missing, archived); and how contractctl asks journalctl for them
//! and reads its JSON.

use contractctl::journal::{JournalQuery, journalctl_args, parse_entries};
use learning_contracts::core::Monotonic;
use learning_contracts::core::checkpoint::{
    Cadence, Checkpointer, Finding, JournalCheckpoint, Reason, StoreView, compare,
};
use std::collections::BTreeMap;

const MINUTE: i64 = 60_000;

fn mono(millis: i64) -> Monotonic {
    Monotonic::from_millis(millis)
}

fn hash(seq: u64) -> String {
    format!("{seq:064x}")
}

fn cadence(records: u64, minutes: i64) -> Cadence {
    Cadence {
        every_records: records,
        every_millis: minutes * MINUTE,
    }
}

/// The reasons of the checkpoints written as the head walks `heads` at the given times.
fn walk(checkpointer: &mut Checkpointer, heads: &[(u64, i64)]) -> Vec<(u64, Reason)> {
    heads
        .iter()
        .filter_map(|&(seq, at)| checkpointer.observe(seq, &hash(seq), mono(at)))
        .map(|c| (c.seq, c.reason))
        .collect()
}

#[test]
fn every_n_records_when_the_clock_does_not_move() {
    let mut checkpointer = Checkpointer::new(cadence(10, 5), mono(0));
    let heads: Vec<(u64, i64)> = (1..=35).map(|seq| (seq, 1)).collect();
    assert_eq!(
        walk(&mut checkpointer, &heads),
        [
            (10, Reason::Records),
            (20, Reason::Records),
            (30, Reason::Records)
        ]
    );
}

#[test]
fn a_commit_of_many_records_counts_them_all() {
    let mut checkpointer = Checkpointer::new(cadence(10, 0), mono(0));
    assert_eq!(
        walk(
            &mut checkpointer,
            &[(3, 0), (25, 0), (26, 0), (34, 0), (35, 0)]
        ),
        [(25, Reason::Records), (35, Reason::Records)]
    );
}

#[test]
fn every_m_minutes_when_few_records_come_and_only_when_the_head_moved() {
    let mut checkpointer = Checkpointer::new(cadence(1000, 5), mono(0));
    // Before five minutes nothing; at five minutes the head that moved is written.
    assert_eq!(
        walk(
            &mut checkpointer,
            &[(1, MINUTE), (2, 4 * MINUTE), (2, 5 * MINUTE)]
        ),
        [(2, Reason::Time)]
    );
    // Five more minutes with no record: nothing, however often the timer looks.
    assert_eq!(
        walk(
            &mut checkpointer,
            &[(2, 10 * MINUTE), (2, 11 * MINUTE), (2, 60 * MINUTE)]
        ),
        []
    );
    // The first record after the quiet hour is written at once: the interval is long past.
    assert_eq!(
        walk(&mut checkpointer, &[(3, 61 * MINUTE), (4, 62 * MINUTE)]),
        [(3, Reason::Time)]
    );
}

#[test]
fn whichever_comes_first_and_each_restarts_both() {
    let mut checkpointer = Checkpointer::new(cadence(10, 5), mono(0));
    assert_eq!(
        walk(
            &mut checkpointer,
            &[
                (10, MINUTE),
                (15, 6 * MINUTE - 1),
                (15, 6 * MINUTE),
                (25, 7 * MINUTE)
            ]
        ),
        [
            (10, Reason::Records),
            (15, Reason::Time),
            (25, Reason::Records)
        ]
    );
}

#[test]
fn zero_turns_a_rule_off() {
    let mut by_time = Checkpointer::new(cadence(0, 5), mono(0));
    assert_eq!(walk(&mut by_time, &[(5000, MINUTE)]), []);
    assert_eq!(
        walk(&mut by_time, &[(5001, 5 * MINUTE)]),
        [(5001, Reason::Time)]
    );
    let mut by_records = Checkpointer::new(cadence(100, 0), mono(0));
    assert_eq!(walk(&mut by_records, &[(99, 1000 * MINUTE)]), []);
    let mut neither = Checkpointer::new(Cadence::OFF, mono(0));
    assert_eq!(walk(&mut neither, &[(1_000_000, 1_000 * MINUTE)]), []);
    assert_eq!(neither.next_look_in(mono(0)), None);
}

#[test]
fn start_and_stop_write_the_head_once_and_only_when_it_moved() {
    let mut checkpointer = Checkpointer::new(cadence(1000, 5), mono(0));
    // An empty store has nothing to vouch for.
    assert_eq!(checkpointer.start(0, &hash(0), mono(0)), None);
    let mut checkpointer = Checkpointer::new(cadence(1000, 5), mono(0));
    let start = checkpointer.start(7, &hash(7), mono(0)).unwrap();
    assert_eq!((start.seq, start.reason), (7, Reason::Start));
    // Nothing since the start: the stop writes nothing.
    assert_eq!(checkpointer.stop(7, &hash(7), mono(MINUTE)), None);
    checkpointer.observe(8, &hash(8), mono(2 * MINUTE));
    let stop = checkpointer.stop(8, &hash(8), mono(3 * MINUTE)).unwrap();
    assert_eq!(
        (stop.seq, stop.hash, stop.reason),
        (8, hash(8), Reason::Stop)
    );
    // The start counts as the last checkpoint for the cadence.
    let mut checkpointer = Checkpointer::new(cadence(10, 0), mono(0));
    checkpointer.start(7, &hash(7), mono(0));
    assert_eq!(
        walk(&mut checkpointer, &[(16, 0), (17, 0)]),
        [(17, Reason::Records)]
    );
}

#[test]
fn the_timer_sleeps_until_the_interval_ends_then_a_whole_interval() {
    let mut checkpointer = Checkpointer::new(cadence(1000, 5), mono(0));
    assert_eq!(checkpointer.next_look_in(mono(MINUTE)), Some(4 * MINUTE));
    // Due, but the head has not moved: nothing to do until a commit, which looks itself.
    assert_eq!(
        checkpointer.next_look_in(mono(7 * MINUTE)),
        Some(5 * MINUTE)
    );
    checkpointer.observe(1, &hash(1), mono(7 * MINUTE));
    assert_eq!(
        checkpointer.next_look_in(mono(8 * MINUTE)),
        Some(4 * MINUTE)
    );
    // A reload that changes the interval applies at the next look.
    checkpointer.set_cadence(cadence(1000, 2));
    assert_eq!(checkpointer.next_look_in(mono(8 * MINUTE)), Some(MINUTE));
}

fn checkpoint(seq: u64, hash: &str) -> JournalCheckpoint {
    JournalCheckpoint {
        seq,
        hash: hash.to_string(),
    }
}

/// A store holding records `first..=head`, each with `hash(seq)` unless overridden.
fn store(first: u64, head: u64, overrides: &[(u64, &str)]) -> StoreView {
    let mut hashes: BTreeMap<u64, String> = (first..=head).map(|seq| (seq, hash(seq))).collect();
    for (seq, h) in overrides {
        hashes.insert(*seq, h.to_string());
    }
    StoreView {
        first_seq: (head >= first && head > 0).then_some(first),
        head_seq: head,
        hashes,
    }
}

#[test]
fn every_checkpoint_matching_is_ok_and_names_the_latest() {
    let journal = [
        checkpoint(10, &hash(10)),
        checkpoint(20, &hash(20)),
        // The same checkpoint twice (a start after a stop with nothing between) counts once.
        checkpoint(20, &hash(20)),
        checkpoint(30, &hash(30)),
    ];
    let found = compare(&journal, &store(1, 34, &[]));
    assert!(found.ok, "{found:?}");
    assert_eq!((found.checkpoints, found.matched), (3, 3));
    assert_eq!(found.latest_match, Some(30));
    assert!(found.findings.is_empty());
    assert!(
        found
            .message
            .starts_with("3 checkpoints from the journal match the store, latest at record 30"),
        "{}",
        found.message
    );
    assert!(found.message.contains("records 31 to 34 are newer"));
}

#[test]
fn a_rewritten_record_is_named_with_the_range_the_rewrite_began_in() {
    // Record 14 was rewritten and every hash after it re-chained: 20 and 30 differ, 10 matches.
    let journal = [
        checkpoint(10, &hash(10)),
        checkpoint(20, &hash(20)),
        checkpoint(30, &hash(30)),
    ];
    let forged = store(1, 34, &[(20, "aa"), (30, "bb")]);
    let found = compare(&journal, &forged);
    assert!(!found.ok);
    assert_eq!(found.matched, 1);
    assert_eq!(
        found.findings[0],
        Finding::Rewritten {
            seq: 20,
            journal_hash: hash(20),
            store_hash: "aa".into(),
            after: 10
        }
    );
    assert!(
        found.message.starts_with(
            "the store's record 20 differs from the journal's checkpoint: the store was rewritten (after record 10"
        ),
        "{}",
        found.message
    );
    assert!(found.message.contains("and 1 more checkpoint"));
}

#[test]
fn a_checkpoint_past_the_store_head_means_records_were_removed() {
    let journal = [checkpoint(10, &hash(10)), checkpoint(40, &hash(40))];
    let found = compare(&journal, &store(1, 34, &[]));
    assert!(!found.ok);
    assert_eq!(
        found.findings,
        [Finding::Removed {
            seq: 40,
            store_head: 34
        }]
    );
    assert_eq!(
        found.message,
        "the journal saw record 40 but the store ends at 34: records were removed"
    );
}

#[test]
fn a_checkpoint_inside_the_store_range_without_its_record_is_missing() {
    let mut view = store(1, 34, &[]);
    view.hashes.remove(&20);
    let found = compare(&[checkpoint(20, &hash(20))], &view);
    assert!(!found.ok);
    assert_eq!(found.findings, [Finding::Missing { seq: 20 }]);
}

#[test]
fn a_checkpoint_before_the_first_record_is_archived_not_an_error() {
    let journal = [checkpoint(10, "old"), checkpoint(120, &hash(120))];
    let found = compare(&journal, &store(101, 130, &[]));
    assert!(found.ok, "{found:?}");
    assert_eq!(
        found.findings,
        [Finding::Archived {
            seq: 10,
            store_first: 101
        }]
    );
    assert!(
        found
            .message
            .contains("1 before the store's first record (archived)")
    );
    assert_eq!(
        found.findings[0].message(),
        "the checkpoint of record 10 is before the store's first record, 101 (archived)"
    );
}

#[test]
fn no_checkpoints_is_ok_only_for_an_empty_store() {
    let empty = compare(&[], &store(1, 0, &[]));
    assert!(empty.ok, "{empty:?}");
    let unvouched = compare(&[], &store(1, 5, &[]));
    assert!(!unvouched.ok);
    assert!(
        unvouched
            .message
            .starts_with("the journal holds no checkpoint of the audit log"),
        "{}",
        unvouched.message
    );
    // A store emptied behind the journal's back is caught as removed records.
    let emptied = compare(&[checkpoint(5, &hash(5))], &store(1, 0, &[]));
    assert!(!emptied.ok);
}

#[test]
fn journalctl_is_asked_for_the_message_id_from_the_daemons_unit_only() {
    let system = journalctl_args(&JournalQuery {
        unit: "learning-contractsd.service".into(),
        user: false,
    });
    assert!(system.contains(&"--output=json".to_string()));
    assert!(system.contains(&"MESSAGE_ID=03c0ff71d07840208240a741a4e03ddd".to_string()));
    assert!(system.contains(&"_SYSTEMD_UNIT=learning-contractsd.service".to_string()));
    assert!(!system.contains(&"--user".to_string()));
    let user = journalctl_args(&JournalQuery {
        unit: "lc.service".into(),
        user: true,
    });
    assert!(user.contains(&"--user".to_string()));
    assert!(user.contains(&"_SYSTEMD_USER_UNIT=lc.service".to_string()));
}

#[test]
fn journal_json_lines_become_checkpoints_and_bad_entries_are_kept_as_unreadable() {
    let good = hash(7);
    let output = format!(
        concat!(
            "{{\"__CURSOR\":\"c1\",\"MESSAGE_ID\":\"03c0ff71d07840208240a741a4e03ddd\",",
            "\"LC_AUDIT_SEQ\":\"7\",\"LC_AUDIT_HASH\":\"{good}\",\"LC_AUDIT_REASON\":\"start\"}}\n",
            // A field journalctl could not show as text comes as an array of bytes.
            "{{\"__CURSOR\":\"c2\",\"LC_AUDIT_SEQ\":[55],\"LC_AUDIT_HASH\":\"{good}\"}}\n",
            "{{\"__CURSOR\":\"c3\",\"LC_AUDIT_SEQ\":\"8\",\"LC_AUDIT_HASH\":\"not-a-hash\"}}\n",
            "{{\"__CURSOR\":\"c4\",\"LC_AUDIT_SEQ\":\"0\",\"LC_AUDIT_HASH\":\"{good}\"}}\n",
            "-- No entries --\n",
        ),
        good = good
    );
    let (checkpoints, unreadable) = parse_entries(&output);
    assert_eq!(checkpoints, [checkpoint(7, &good)]);
    assert_eq!(unreadable.len(), 3, "{unreadable:?}");
    assert!(unreadable[0].contains("c2"), "{unreadable:?}");
    assert_eq!(parse_entries(""), (Vec::new(), Vec::new()));
}
