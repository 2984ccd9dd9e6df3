"""Typed answers and events: decisions, registrations and the daemon's signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple, Union


@dataclass(frozen=True)
class Decision:
    """The daemon's answer to a check or a gate.

    Act on ``allowed`` (the decision is true when allowed), log ``code`` (a stable string such
    as ``allowed``, ``no_contract``, ``lockdown``; docs/RULES.md lists them all), show
    ``reason`` to people. ``contract_id`` is the contract that decided, "" when none did (and
    always for the gates)."""

    allowed: bool
    code: str
    reason: str
    contract_id: str = ""

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Registration:
    """The answer to ``RegisterMemory``: the decision, and the id of the memory recorded
    (the agent's own ``memory_id`` or a new one; "" when denied: nothing was recorded).
    True when the memory was recorded."""

    allowed: bool
    code: str
    reason: str
    contract_id: str
    memory_id: str

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def decision(self) -> Decision:
        """The decision alone."""
        return Decision(self.allowed, self.code, self.reason, self.contract_id)


@dataclass(frozen=True)
class DraftFromText:
    """The answer to ``DraftFromText``: the draft's id, its plain-language summary and the
    questions the text left open."""

    id: str
    summary: str
    questions: List[str]


@dataclass(frozen=True)
class AuditVerification:
    """The answer to ``Audit1.Verify``: whether the chain verifies, how many records were
    checked, the first bad record's sequence number (0 when none) and a message."""

    ok: bool
    records: int
    first_bad: int
    message: str

    def __bool__(self) -> bool:
        return self.ok


# Events: one class per signal, fields named as the signal's arguments in dbus/*.xml.


@dataclass(frozen=True)
class ModeSwitched:
    """``Boundary1.ModeSwitched``: the host's boundary mode changed (broadcast to everyone)."""

    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class ContractsSuspended:
    """``Boundary1.ContractsSuspended``: these contracts (that the connection may see) were
    suspended; reason ``lockdown``, ``mode`` or ``pause``."""

    ids: List[str]
    reason: str


@dataclass(frozen=True)
class ContractsResumed:
    """``Boundary1.ContractsResumed``: these contracts resumed."""

    ids: List[str]


@dataclass(frozen=True)
class ContractChanged:
    """``Contracts1.ContractChanged``: a contract changed state or suspension."""

    id: str
    state: str
    suspension: List[str]
    reason: str


@dataclass(frozen=True)
class MemoriesChanged:
    """``Memories1.MemoriesChanged``: memories of a contract changed status (``frozen``,
    ``tombstoned``, ``invalidated``, ``quarantined``, ``purged``). The agent's memory store
    must act on it: these ids may no longer be used."""

    contract_id: str
    status: str
    memory_ids: List[str]


@dataclass(frozen=True)
class SessionEnded:
    """``Sessions1.SessionEnded``: a session ended; these contracts expired with it."""

    session_id: str
    expired_contract_ids: List[str]


#: Every event class with the (interface, member) of its signal.
EVENTS: Dict[type, Tuple[str, str]] = {
    ContractChanged: ("Contracts1", "ContractChanged"),
    ModeSwitched: ("Boundary1", "ModeSwitched"),
    ContractsSuspended: ("Boundary1", "ContractsSuspended"),
    ContractsResumed: ("Boundary1", "ContractsResumed"),
    MemoriesChanged: ("Memories1", "MemoriesChanged"),
    SessionEnded: ("Sessions1", "SessionEnded"),
}

#: Any event.
Event = Union[
    ContractChanged,
    ModeSwitched,
    ContractsSuspended,
    ContractsResumed,
    MemoriesChanged,
    SessionEnded,
]
