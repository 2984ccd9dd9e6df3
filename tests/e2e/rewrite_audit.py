#!/usr/bin/python3
"""Rewrites the audit log of a stopped daemon's store the way an attacker who can write the file
would: record SEQ gets other details, and every hash from it on is recomputed so the chain still
verifies on its own (src/store/audit.rs, AuditRecord::compute_hash). Only the journal's
checkpoints can tell. Usage: rewrite_audit.py STORE SEQ"""

import hashlib
import sqlite3
import struct
import sys


def field(data: bytes) -> bytes:
    # Each field length-prefixed with a big-endian u64, as compute_hash does.
    return struct.pack(">Q", len(data)) + data


def optional(value) -> bytes:
    return b"0" if value is None else b"1" + str(value).encode()


def compute_hash(row, prev_hash: str) -> str:
    seq, rid, ts, uid, pid, bus, action, contract, details = row
    digest = hashlib.sha256()
    for part in (
        struct.pack(">Q", seq),
        rid.encode(),
        struct.pack(">q", ts),
        optional(uid),
        optional(pid),
        optional(bus),
        action.encode(),
        optional(contract),
        details.encode(),
        prev_hash.encode(),
    ):
        digest.update(field(part))
    return digest.hexdigest()


def main() -> None:
    store, target = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(store)
    # The append-only triggers stop the daemon, not someone holding the file.
    db.execute("DROP TRIGGER IF EXISTS audit_refuses_update")
    rows = db.execute(
        "SELECT seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash"
        " FROM audit WHERE seq >= ? ORDER BY seq",
        (target,),
    ).fetchall()
    if not rows or rows[0][0] != target:
        sys.exit(f"the store has no record {target}")
    prev_hash = rows[0][9]
    for row in rows:
        seq, details = row[0], row[8]
        if seq == target:
            details = '{"rewritten":' + details + "}"
        digest = compute_hash(row[:8] + (details,), prev_hash)
        db.execute(
            "UPDATE audit SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (details, prev_hash, digest, seq),
        )
        prev_hash = digest
    db.execute("UPDATE audit_head SET hash = ? WHERE singleton = 1", (prev_hash,))
    db.execute(
        "CREATE TRIGGER audit_refuses_update BEFORE UPDATE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
    )
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


main()
