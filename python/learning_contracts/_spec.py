"""The daemon's bus interface as this package calls it: every method, signal and property of
the seven interfaces with its D-Bus signature and the Python name it has on the clients.

dbus/org.learningcontracts.*.xml is the source of truth; tests/test_interface.py compares this
table with those files, and the clients' methods with this table, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

#: The daemon's well-known bus name.
BUS_NAME = "org.learningcontracts.Daemon1"
#: The one object the daemon serves.
OBJECT_PATH = "/org/learningcontracts/Daemon1"
#: The prefix of every interface name.
INTERFACE_PREFIX = "org.learningcontracts."


def interface_name(short: str) -> str:
    """The full name of an interface given its short name (``Enforcement1``)."""
    return INTERFACE_PREFIX + short


@dataclass(frozen=True)
class Method:
    """One method: its interface (short name), member name, input arguments as
    ``(name, signature)`` pairs, output signature, and the clients' Python name."""

    interface: str
    name: str
    in_args: Tuple[Tuple[str, str], ...]
    out_signature: str
    python_name: str

    @property
    def in_signature(self) -> str:
        """The signature of the call's body."""
        return "".join(signature for _, signature in self.in_args)


@dataclass(frozen=True)
class Signal:
    """One signal: its interface (short name), member name and arguments ``(name, signature)``."""

    interface: str
    name: str
    args: Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class Property:
    """One read-only property: its interface (short name), name, type and the clients'
    Python name (a method that reads it)."""

    interface: str
    name: str
    signature: str
    python_name: str


def _m(interface: str, name: str, in_args: str, out: str, python_name: str) -> Method:
    # in_args: "name:sig name:sig" (signatures here contain no spaces)
    pairs = tuple(tuple(arg.split(":", 1)) for arg in in_args.split())
    return Method(interface, name, pairs, out, python_name)  # type: ignore[arg-type]


METHODS: Tuple[Method, ...] = (
    # Daemon1
    _m("Daemon1", "Reload", "", "", "reload"),
    _m("Daemon1", "Subscribe", "", "b", "subscribe"),
    # Contracts1
    _m("Contracts1", "CreateDraft", "kind:s spec:a{sv}", "s", "create_draft"),
    _m("Contracts1", "UpdateDraft", "id:s spec:a{sv}", "", "update_draft"),
    _m("Contracts1", "Submit", "id:s", "", "submit"),
    _m("Contracts1", "ReturnToDraft", "id:s note:s", "", "return_to_draft"),
    _m("Contracts1", "Activate", "id:s", "", "activate"),
    _m("Contracts1", "Amend", "id:s changes:a{sv}", "s", "amend"),
    _m("Contracts1", "Revoke", "id:s reason:s", "", "revoke"),
    _m("Contracts1", "Get", "id:s", "a{sv}", "get_contract"),
    _m("Contracts1", "List", "filter:a{sv}", "aa{sv}", "list_contracts"),
    _m("Contracts1", "Summarize", "id:s", "s", "summarize"),
    _m("Contracts1", "Templates", "", "aa{sv}", "templates"),
    _m("Contracts1", "DraftFromTemplate", "name:s params:a{sv}", "s", "draft_from_template"),
    _m("Contracts1", "DraftFromText", "text:s", "ssas", "draft_from_text"),
    # Enforcement1
    _m("Enforcement1", "CheckMemoryCreation", "request:a{sv}", "bsss", "check_memory_creation"),
    _m("Enforcement1", "CheckAbstraction", "request:a{sv}", "bsss", "check_abstraction"),
    _m("Enforcement1", "CheckRecall", "request:a{sv}", "bsss", "check_recall"),
    _m("Enforcement1", "CheckExport", "request:a{sv}", "bsss", "check_export"),
    _m("Enforcement1", "CheckBatch", "check:s requests:aa{sv}", "a(bsss)", "check_batch"),
    _m("Enforcement1", "RegisterMemory", "request:a{sv}", "bssss", "register_memory"),
    _m("Enforcement1", "RecallGate", "memory_class:y", "bss", "recall_gate"),
    _m("Enforcement1", "ToolGate", "tool:s needs:a{sv}", "bss", "tool_gate"),
    # Boundary1
    _m("Boundary1", "Explain", "", "s", "explain"),
    _m("Boundary1", "EnterLockdown", "reason:s", "", "enter_lockdown"),
    _m("Boundary1", "ReleaseLockdown", "reason:s", "", "release_lockdown"),
    _m("Boundary1", "SetOverride", "mode:s reason:s", "", "set_override"),
    _m("Boundary1", "ClearOverride", "", "", "clear_override"),
    _m("Boundary1", "PauseLearning", "reason:s", "", "pause_learning"),
    _m("Boundary1", "ResumeLearning", "", "", "resume_learning"),
    _m("Boundary1", "PauseAll", "reason:s", "", "pause_all"),
    _m("Boundary1", "ResumeAll", "", "", "resume_all"),
    # Memories1
    _m("Memories1", "Get", "memory_id:s", "a{sv}", "get_memory"),
    _m("Memories1", "GetForOwner", "owner:u memory_id:s", "a{sv}", "get_memory_for_owner"),
    _m("Memories1", "List", "contract_id:s", "aa{sv}", "list_memories"),
    _m("Memories1", "RequestPurge", "contract_id:s", "s", "request_purge"),
    _m("Memories1", "ConfirmPurge", "contract_id:s token:s", "u", "confirm_purge"),
    # Sessions1
    _m("Sessions1", "Open", "options:a{sv}", "s", "open_session"),
    _m("Sessions1", "End", "session_id:s", "", "end_session"),
    _m("Sessions1", "Bind", "session_id:s contract_id:s", "", "bind_session"),
    # Audit1
    _m("Audit1", "Read", "after_seq:t limit:u", "aa{sv}", "read_audit"),
    _m("Audit1", "Verify", "", "btts", "verify_audit"),
    _m("Audit1", "Archive", "through_seq:t through_hash:s", "t", "archive_audit"),
    _m("Audit1", "SetupSealing", "options:a{sv}", "s", "setup_sealing"),
)


def _s(interface: str, name: str, args: str) -> Signal:
    pairs = tuple(tuple(arg.split(":", 1)) for arg in args.split())
    return Signal(interface, name, pairs)  # type: ignore[arg-type]


SIGNALS: Tuple[Signal, ...] = (
    _s("Contracts1", "ContractChanged", "id:s state:s suspension:as reason:s"),
    _s("Boundary1", "ModeSwitched", "old:s new:s reason:s"),
    _s("Boundary1", "ContractsSuspended", "ids:as reason:s"),
    _s("Boundary1", "ContractsResumed", "ids:as"),
    _s("Memories1", "MemoriesChanged", "contract_id:s status:s memory_ids:as"),
    _s("Sessions1", "SessionEnded", "session_id:s expired_contract_ids:as"),
)

PROPERTIES: Tuple[Property, ...] = (
    Property("Daemon1", "Version", "s", "version"),
    Property("Daemon1", "Features", "as", "features"),
    Property("Contracts1", "ActiveCount", "u", "active_count"),
    Property("Contracts1", "SuspendedCount", "u", "suspended_count"),
    Property("Enforcement1", "Generation", "t", "generation"),
    Property("Boundary1", "Mode", "s", "mode"),
    Property("Boundary1", "Source", "s", "source"),
    Property("Boundary1", "SourceHealthy", "b", "source_healthy"),
    Property("Boundary1", "Lockdown", "b", "lockdown"),
    Property("Boundary1", "LockdownReason", "s", "lockdown_reason"),
    Property("Boundary1", "ModeOverride", "s", "mode_override"),
    Property("Boundary1", "Facts", "a{sv}", "facts"),
    Property("Boundary1", "PausedAll", "b", "paused_all"),
    Property("Audit1", "HeadSeq", "t", "head_seq"),
    Property("Audit1", "HeadHash", "s", "head_hash"),
)

METHODS_BY_NAME = {(m.interface, m.name): m for m in METHODS}
PROPERTIES_BY_NAME = {(p.interface, p.name): p for p in PROPERTIES}
