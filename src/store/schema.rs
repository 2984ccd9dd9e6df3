//! The database schema and its migrations, numbered by SQLite's `user_version`.

/// The schema version this build writes. A database with a higher version was written by a
/// newer build and is refused rather than misread.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `n` (1-based) takes the schema from version `n - 1` to `n`.
pub const MIGRATIONS: &[&str] = &[
    // 1: contracts, memories, purge hashes, host state, the audit chain and its head.
    r#"
    CREATE TABLE contracts (
        id          TEXT PRIMARY KEY,
        owner       INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        state       TEXT NOT NULL,
        supersedes  TEXT,
        record      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX contracts_by_owner ON contracts(owner);

    CREATE TABLE memories (
        id              TEXT PRIMARY KEY,
        contract_id     TEXT NOT NULL,
        owner           INTEGER NOT NULL,
        domain          TEXT NOT NULL,
        context         TEXT NOT NULL,
        classification  INTEGER NOT NULL,
        abstraction     TEXT NOT NULL,
        derived_from    TEXT NOT NULL,
        status          TEXT NOT NULL,
        created         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX memories_by_contract ON memories(contract_id);

    CREATE TABLE purged_memories (
        id_hash      TEXT PRIMARY KEY,
        contract_id  TEXT NOT NULL,
        purged       INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE host_state (
        singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
        state      TEXT NOT NULL
    ) STRICT;

    CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        ts           INTEGER NOT NULL,
        caller_uid   INTEGER,
        caller_pid   INTEGER,
        caller_bus   TEXT,
        action       TEXT NOT NULL,
        contract_id  TEXT,
        details      TEXT NOT NULL,
        prev_hash    TEXT NOT NULL,
        hash         TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER audit_refuses_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    CREATE TRIGGER audit_refuses_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

    CREATE TABLE audit_head (
        singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
        seq        INTEGER NOT NULL,
        hash       TEXT NOT NULL
    ) STRICT;
    INSERT INTO audit_head (singleton, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
    "#,
    // 2: memory ids belong to their owner (the key is owner and id); each memory carries the
    // key its audit details are sealed under (a deep purge deletes it with the record); the
    // purged-id hashes go, since a hash of a guessable id can be tested.
    r#"
    CREATE TABLE memories_by_owner (
        owner           INTEGER NOT NULL,
        id              TEXT NOT NULL,
        contract_id     TEXT NOT NULL,
        domain          TEXT NOT NULL,
        context         TEXT NOT NULL,
        classification  INTEGER NOT NULL,
        abstraction     TEXT NOT NULL,
        derived_from    TEXT NOT NULL,
        status          TEXT NOT NULL,
        created         INTEGER NOT NULL,
        shred_ref       TEXT NOT NULL,
        shred_key       BLOB NOT NULL,
        PRIMARY KEY (owner, id)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO memories_by_owner
        SELECT owner, id, contract_id, domain, context, classification, abstraction,
               derived_from, status, created, lower(hex(randomblob(16))), randomblob(32)
        FROM memories;
    DROP TABLE memories;
    ALTER TABLE memories_by_owner RENAME TO memories;
    CREATE INDEX memories_by_contract ON memories(contract_id);
    DROP TABLE purged_memories;
    "#,
    // 3: the anchor of an archived log: the last archived record's sequence number and hash,
    // where the records left in the store continue the chain.
    r#"
    CREATE TABLE audit_anchor (
        singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
        seq        INTEGER NOT NULL,
        hash       TEXT NOT NULL
    ) STRICT;
    INSERT INTO audit_anchor (singleton, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
    "#,
    // 4: forward-secure sealing of the audit chain (store/seal.rs, docs/DECISIONS.md). Only
    // new tables: the daemon's current sealing key (one row, overwritten as the key evolves)
    // and the seals, append-only like the records.
    r#"
    CREATE TABLE audit_sealing (
        singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
        era            INTEGER NOT NULL,
        epoch          INTEGER NOT NULL,
        key            BLOB NOT NULL,
        start_secs     INTEGER NOT NULL,
        interval_secs  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE audit_seals (
        era         INTEGER NOT NULL,
        epoch       INTEGER NOT NULL,
        next_epoch  INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        hash        TEXT NOT NULL,
        prev_mac    TEXT NOT NULL,
        mac         TEXT NOT NULL,
        PRIMARY KEY (era, epoch)
    ) STRICT;
    CREATE TRIGGER audit_seals_refuse_update BEFORE UPDATE ON audit_seals
        BEGIN SELECT RAISE(ABORT, 'audit seals are append-only'); END;
    CREATE TRIGGER audit_seals_refuse_delete BEFORE DELETE ON audit_seals
        BEGIN SELECT RAISE(ABORT, 'audit seals are append-only'); END;
    "#,
];
