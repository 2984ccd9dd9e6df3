"""What the tests share: where the repository is, the private bus the Rust harness
(tests/bus/python_client.rs) started with the daemon on it, and acting as the owner's uid."""

from __future__ import annotations

import contextlib
import os
import pwd
import unittest
from pathlib import Path
from typing import Iterator

#: The repository (for dbus/*.xml and docs/RULES.md).
REPO = Path(os.environ.get("LEARNING_CONTRACTS_REPO", Path(__file__).resolve().parents[2]))

#: The private bus's address, with the daemon on it in OPEN, unix authorization, root the
#: only admin. Set by tests/bus/python_client.rs.
BUS = os.environ.get("LEARNING_CONTRACTS_TEST_BUS", "")
#: The uid that owns contracts in the scenario (not an admin).
OWNER_UID = int(os.environ.get("LEARNING_CONTRACTS_TEST_OWNER_UID", "-1"))


def need_daemon(case: unittest.TestCase) -> None:
    """Tests on the daemon run under tests/bus/python_client.rs, as root. Elsewhere they say what
    was skipped; under CI=true they fail, as every test the project cannot run there."""
    why = ""
    if not BUS:
        why = "LEARNING_CONTRACTS_TEST_BUS is not set (cargo test --test bus python_client:: sets it)"
    elif os.geteuid() != 0:
        why = "needs root (to connect as the owner's uid and as an admin)"
    elif OWNER_UID < 0:
        why = "LEARNING_CONTRACTS_TEST_OWNER_UID is not set"
    if why:
        if os.environ.get("CI") == "true":
            case.fail(f"cannot run with CI=true: {why}")
        case.skipTest(why)


@contextlib.contextmanager
def as_user(uid: int) -> Iterator[None]:
    """Acts as ``uid`` (effective ids, no supplementary groups) while a connection is made:
    the bus takes a peer's credentials when it connects, and the client authenticates with
    its effective uid. Root's ids are back afterwards."""
    groups = os.getgroups()
    gid = pwd.getpwuid(uid).pw_gid
    os.setgroups([])
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


def episodic_spec(*domains: str) -> dict:
    """An episodic, permanent contract over ``domains`` in any context."""
    return {"domains": list(domains), "contexts": ["*"], "retention": "permanent"}


def session_spec(*domains: str) -> dict:
    """An episodic contract over ``domains`` that lasts as long as the session it is bound to."""
    return {"domains": list(domains), "contexts": ["*"], "retention": "session"}
