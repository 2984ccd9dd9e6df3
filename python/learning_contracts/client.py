"""The blocking client: one D-Bus connection, one call at a time (use it from one thread, or
one client per thread)."""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Type

from jeepney import Message
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from . import _wire
from .errors import LearningContractsError, NotFoundError
from .types import AuditVerification, Decision, DraftFromText, Event, Registration

Request = Mapping[str, Any]


def bus_for(bus: str) -> str:
    """jeepney's name for a bus: ``"system"`` (default; ``DBUS_SYSTEM_BUS_ADDRESS`` if set),
    ``"session"`` (a daemon started with ``--user``; ``DBUS_SESSION_BUS_ADDRESS``), or a D-Bus
    address such as ``unix:path=/run/…``. Raises ConnectionError when the session bus has no
    address."""
    lowered = bus.lower()
    if lowered == "session" and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        raise ConnectionError("no session bus: DBUS_SESSION_BUS_ADDRESS is not set")
    if lowered in ("system", "session"):
        return lowered.upper()
    return bus


class Client:
    """A blocking connection to learning-contractsd.

    ``bus`` is ``"system"`` (the default), ``"session"`` or a D-Bus address. ``timeout`` is how
    long a call may wait for its answer, in seconds (None: as long as the bus lets it).
    ``interactive=True`` lets polkit ask the person (an owner confirming an activation); without
    it such a call answers :class:`~learning_contracts.InteractiveAuthorizationRequiredError`.

    Use it as a context manager, or call :meth:`close`."""

    def __init__(
        self, bus: str = "system", *, timeout: Optional[float] = None, interactive: bool = False
    ) -> None:
        self._connection: DBusConnection = open_dbus_connection(bus_for(bus))
        self.timeout = timeout
        self.interactive = interactive

    @property
    def unique_name(self) -> str:
        """This connection's unique name on the bus."""
        return str(self._connection.unique_name)

    def close(self) -> None:
        """Closes the connection (sessions it opened end with it)."""
        self._connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Calls --------------------------------------------------------------------------------

    def _send(self, message: Message) -> Message:
        reply = self._connection.send_and_get_reply(message, timeout=self.timeout)
        return _wire.check_reply(reply)

    def call(self, interface: str, name: str, *args: Any) -> Any:
        """Calls a method by its interface's short name and its D-Bus name, with arguments in
        wire form (``a{sv}`` as from :func:`learning_contracts.encode_dict`). Returns the output
        with variants unwrapped: None, one value, or a tuple."""
        reply = self._send(_wire.method_call(interface, name, args, self.interactive))
        return _wire.method_result(interface, name, reply)

    def get_property(self, interface: str, name: str) -> Any:
        """Reads a property by its interface's short name and its name."""
        reply = self._send(_wire.property_get(interface, name))
        return _wire.property_result(interface, name, reply)

    # Daemon1 ------------------------------------------------------------------------------

    def reload(self) -> None:
        """Reloads the daemon's configuration (admin)."""
        self.call("Daemon1", "Reload")

    def subscribe(self) -> bool:
        """Makes this connection a listener for its uid's signals; True when it listens as an
        admin. :meth:`follow` calls it for you."""
        return bool(self.call("Daemon1", "Subscribe"))

    def version(self) -> str:
        """The daemon's version."""
        return str(self.get_property("Daemon1", "Version"))

    def features(self) -> List[str]:
        """The optional features this daemon has."""
        return list(self.get_property("Daemon1", "Features"))

    # Contracts1 ---------------------------------------------------------------------------

    def create_draft(self, kind: str, spec: Request) -> str:
        """Creates a draft contract of ``kind`` (observation, episodic, procedural, strategic,
        prohibited) owned by the caller; returns its id. docs/RULES.md lists the spec keys."""
        return str(self.call("Contracts1", "CreateDraft", kind, _wire.encode_dict(spec)))

    def update_draft(self, id: str, spec: Request) -> None:
        """Changes keys of a draft's spec (the owner only)."""
        self.call("Contracts1", "UpdateDraft", id, _wire.encode_dict(spec))

    def submit(self, id: str) -> None:
        """Draft → review, after full validation (the owner only)."""
        self.call("Contracts1", "Submit", id)

    def return_to_draft(self, id: str, note: str) -> None:
        """Review → draft, asking for changes (the owner or an admin)."""
        self.call("Contracts1", "ReturnToDraft", id, note)

    def activate(self, id: str) -> None:
        """Review → active (the owner confirming, or an admin)."""
        self.call("Contracts1", "Activate", id)

    def amend(self, id: str, changes: Request) -> str:
        """Drafts an amendment of an active contract; returns the new draft's id."""
        return str(self.call("Contracts1", "Amend", id, _wire.encode_dict(changes)))

    def revoke(self, id: str, reason: str) -> None:
        """Revokes a contract (the owner or an admin); its memories are forgotten
        (``MemoriesChanged``)."""
        self.call("Contracts1", "Revoke", id, reason)

    def get_contract(self, id: str) -> Dict[str, Any]:
        """A contract as a dictionary (id, kind, state, owner, the spec's keys, effective, …)."""
        return dict(self.call("Contracts1", "Get", id))

    def list_contracts(self, filter: Optional[Request] = None) -> List[Dict[str, Any]]:
        """The contracts the caller may see (filter keys: state, kind, owner)."""
        return list(self.call("Contracts1", "List", _wire.encode_dict(filter)))

    def summarize(self, id: str) -> str:
        """A contract in plain language."""
        return str(self.call("Contracts1", "Summarize", id))

    def templates(self) -> List[Dict[str, Any]]:
        """The ready-made contracts and their parameters."""
        return list(self.call("Contracts1", "Templates"))

    def draft_from_template(self, name: str, params: Mapping[str, str]) -> str:
        """A draft from a template; returns its id."""
        return str(self.call("Contracts1", "DraftFromTemplate", name, _wire.encode_dict(params)))

    def draft_from_text(self, text: str) -> DraftFromText:
        """A draft from a sentence; returns its id, summary and open questions."""
        return _wire.draft_from_text(self.call("Contracts1", "DraftFromText", text))

    def active_count(self) -> int:
        """How many contracts are active on the host."""
        return int(self.get_property("Contracts1", "ActiveCount"))

    def suspended_count(self) -> int:
        """How many active contracts are suspended."""
        return int(self.get_property("Contracts1", "SuspendedCount"))

    # Enforcement1 -------------------------------------------------------------------------

    def check_memory_creation(self, request: Request) -> Decision:
        """May a memory be created? Keys: domain, context, classification; tool, contract_id,
        owner."""
        answer = self.call("Enforcement1", "CheckMemoryCreation", _wire.encode_dict(request))
        return _wire.decision(answer)

    def check_abstraction(self, request: Request) -> Decision:
        """May a memory be generalized to ``abstraction``?"""
        answer = self.call("Enforcement1", "CheckAbstraction", _wire.encode_dict(request))
        return _wire.decision(answer)

    def check_recall(self, request: Request) -> Decision:
        """May a memory be recalled? (``memory_id`` names one.)"""
        return _wire.decision(self.call("Enforcement1", "CheckRecall", _wire.encode_dict(request)))

    def check_export(self, request: Request) -> Decision:
        """May knowledge leave the machine?"""
        return _wire.decision(self.call("Enforcement1", "CheckExport", _wire.encode_dict(request)))

    def check_batch(self, check: str, requests: Iterable[Request]) -> List[Decision]:
        """Up to 1,000 checks of one kind (``memory_creation``, ``abstraction``, ``recall``,
        ``export``) in one call, answered from one snapshot, each as the single check would
        answer, in order."""
        batch = _wire.batch_requests(requests)
        answers = self.call("Enforcement1", "CheckBatch", check, batch)
        return [_wire.decision(answer) for answer in answers]

    def register_memory(self, request: Request) -> Registration:
        """Checks and records a memory in one step (keys as for creation, plus abstraction,
        memory_id, derived_from)."""
        answer = self.call("Enforcement1", "RegisterMemory", _wire.encode_dict(request))
        return _wire.registration(answer)

    def recall_gate(self, memory_class: int) -> Decision:
        """May a memory of this class (0–5) be recalled in the current mode?"""
        return _wire.decision(self.call("Enforcement1", "RecallGate", memory_class))

    def tool_gate(self, tool: str, needs: Mapping[str, bool]) -> Decision:
        """May a tool that needs network, filesystem or usb run in the current mode?"""
        return _wire.decision(self.call("Enforcement1", "ToolGate", tool, _wire.encode_dict(needs)))

    def generation(self) -> int:
        """A number that changes whenever any decision could change; an agent that caches
        allowed answers drops them when it changes."""
        return int(self.get_property("Enforcement1", "Generation"))

    # Boundary1 ----------------------------------------------------------------------------

    def explain(self) -> str:
        """The facts and the rule behind the mode, as JSON text."""
        return str(self.call("Boundary1", "Explain"))

    def enter_lockdown(self, reason: str) -> None:
        """Enters LOCKDOWN (admin)."""
        self.call("Boundary1", "EnterLockdown", reason)

    def release_lockdown(self, reason: str) -> None:
        """Releases a latched lockdown (admin)."""
        self.call("Boundary1", "ReleaseLockdown", reason)

    def set_override(self, mode: str, reason: str) -> None:
        """Lowers the mode (admin)."""
        self.call("Boundary1", "SetOverride", mode, reason)

    def clear_override(self) -> None:
        """Clears the override (admin)."""
        self.call("Boundary1", "ClearOverride")

    def pause_learning(self, reason: str) -> None:
        """Pauses the caller's own learning."""
        self.call("Boundary1", "PauseLearning", reason)

    def resume_learning(self) -> None:
        """Resumes the caller's own learning."""
        self.call("Boundary1", "ResumeLearning")

    def pause_all(self, reason: str) -> None:
        """Pauses everyone's learning (admin)."""
        self.call("Boundary1", "PauseAll", reason)

    def resume_all(self) -> None:
        """Resumes everyone's learning (admin)."""
        self.call("Boundary1", "ResumeAll")

    def mode(self) -> str:
        """The boundary mode (OPEN … COLDROOM, LOCKDOWN, UNKNOWN)."""
        return str(self.get_property("Boundary1", "Mode"))

    def source(self) -> str:
        """Where the mode comes from."""
        return str(self.get_property("Boundary1", "Source"))

    def source_healthy(self) -> bool:
        """Whether the mode's source answers."""
        return bool(self.get_property("Boundary1", "SourceHealthy"))

    def lockdown(self) -> bool:
        """Whether a lockdown is latched."""
        return bool(self.get_property("Boundary1", "Lockdown"))

    def lockdown_reason(self) -> str:
        """Why the lockdown was latched."""
        return str(self.get_property("Boundary1", "LockdownReason"))

    def mode_override(self) -> str:
        """The admin's override ("" when none)."""
        return str(self.get_property("Boundary1", "ModeOverride"))

    def facts(self) -> Dict[str, Any]:
        """The facts the mode was read from."""
        return dict(self.get_property("Boundary1", "Facts"))

    def paused_all(self) -> bool:
        """Whether an admin paused everyone's learning."""
        return bool(self.get_property("Boundary1", "PausedAll"))

    # Memories1 ----------------------------------------------------------------------------

    def get_memory(self, memory_id: str) -> Dict[str, Any]:
        """One of the caller's own memory records."""
        return dict(self.call("Memories1", "Get", memory_id))

    def get_memory_for_owner(self, owner: int, memory_id: str) -> Dict[str, Any]:
        """One memory record of ``owner`` (for the owner, its agents, admins)."""
        return dict(self.call("Memories1", "GetForOwner", owner, memory_id))

    def list_memories(self, contract_id: str) -> List[Dict[str, Any]]:
        """The memory records of a contract."""
        return list(self.call("Memories1", "List", contract_id))

    def request_purge(self, contract_id: str) -> str:
        """First step of a deep purge: a one-time token, valid two minutes."""
        return str(self.call("Memories1", "RequestPurge", contract_id))

    def confirm_purge(self, contract_id: str, token: str) -> int:
        """Second step: deletes the contract's memory records for good; returns how many."""
        return int(self.call("Memories1", "ConfirmPurge", contract_id, token))

    # Sessions1 ----------------------------------------------------------------------------

    def open_session(self, options: Optional[Request] = None) -> str:
        """Opens a session (options: owner); returns its id. Prefer :meth:`session`."""
        return str(self.call("Sessions1", "Open", _wire.encode_dict(options)))

    def end_session(self, session_id: str) -> None:
        """Ends a session; contracts bound to it expire."""
        self.call("Sessions1", "End", session_id)

    def bind_session(self, session_id: str, contract_id: str) -> None:
        """Binds an active session-retention contract to a session."""
        self.call("Sessions1", "Bind", session_id, contract_id)

    def session(self, owner: Optional[int] = None) -> "Session":
        """A session as a context manager: opened on entry, ended on exit::

            with client.session() as session:
                session.bind(contract_id)
        """
        return Session(self, owner)

    # Audit1 -------------------------------------------------------------------------------

    def read_audit(self, after_seq: int, limit: int) -> List[Dict[str, Any]]:
        """Audit records after ``after_seq`` (admin)."""
        return list(self.call("Audit1", "Read", after_seq, limit))

    def verify_audit(self) -> AuditVerification:
        """Recomputes the audit chain (admin)."""
        return _wire.audit_verification(self.call("Audit1", "Verify"))

    def archive_audit(self, through_seq: int, through_hash: str) -> int:
        """Removes archived records through ``through_seq`` (admin); returns how many."""
        return int(self.call("Audit1", "Archive", through_seq, through_hash))

    def setup_sealing(self, options: Optional[Request] = None) -> str:
        """Sets up sealing of the audit log (admin; options: force); returns the verification
        key, once."""
        return str(self.call("Audit1", "SetupSealing", _wire.encode_dict(options)))

    def head_seq(self) -> int:
        """The audit log's last sequence number."""
        return int(self.get_property("Audit1", "HeadSeq"))

    def head_hash(self) -> str:
        """The audit log's last hash."""
        return str(self.get_property("Audit1", "HeadHash"))

    # Signals ------------------------------------------------------------------------------

    def follow(self, *event_types: Type[Any]) -> "Events":
        """Follows the daemon's signals of these event types (for example
        :class:`~learning_contracts.ModeSwitched`, :class:`~learning_contracts.MemoriesChanged`)
        as a context manager::

            with client.follow(MemoriesChanged) as events:
                for event in events:        # or events.next(timeout=5)
                    forget(event.memory_ids)

        It adds the match rules and calls ``Daemon1.Subscribe()`` (an owner's signals are
        addressed only to listening connections), and subscribes again when the daemon
        restarts. Only signals sent by the daemon's current owner of its name are taken."""
        if not event_types:
            raise TypeError("follow() needs at least one event type")
        return Events(self, event_types)


class Session:
    """An open session (see :meth:`Client.session`); ``id`` is its id."""

    def __init__(self, client: Client, owner: Optional[int]) -> None:
        self._client = client
        self._owner = owner
        self.id = ""

    def bind(self, contract_id: str) -> None:
        """Binds an active session-retention contract to this session."""
        self._client.bind_session(self.id, contract_id)

    def end(self) -> None:
        """Ends the session now (leaving the ``with`` block does it too)."""
        if self.id:
            session_id, self.id = self.id, ""
            try:
                self._client.end_session(session_id)
            except NotFoundError:
                pass  # it ended already (idle time, or the daemon restarted)

    def __enter__(self) -> "Session":
        options = {} if self._owner is None else {"owner": self._owner}
        self.id = self._client.open_session(options)
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


class Events:
    """The events a :meth:`Client.follow` receives, in order."""

    def __init__(self, client: Client, event_types: Iterable[Type[Any]]) -> None:
        self._client = client
        self._event_types = tuple(event_types)
        self._rules = _wire.match_rules(self._event_types)
        self._queue: Deque[Message] = deque()
        self._follower = _wire.Follower(self._event_types, None)
        self._handle: Any = None

    def __enter__(self) -> "Events":
        connection = self._client._connection
        self._handle = connection.filter(self._follower.filter, queue=self._queue)
        try:
            for rule in self._rules:
                self._client._send(_wire.add_match(rule))
            self._follower.owner = str(self._client._send(_wire.get_name_owner()).body[0])
            self._client.subscribe()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops following (removes the match rules)."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        for rule in self._rules:
            try:
                self._client._send(_wire.remove_match(rule))
            except (LearningContractsError, OSError):
                pass  # the connection is gone: so are its rules

    def next(self, timeout: Optional[float] = None) -> Event:
        """The next event; waits up to ``timeout`` seconds (None: for ever), then raises
        TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        connection = self._client._connection
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            message = connection.recv_until_filtered(self._queue, timeout=remaining)
            event, resubscribe = self._follower.take(message)
            if resubscribe:
                self._client.subscribe()
            if event is not None:
                return event

    def __iter__(self) -> Iterator[Event]:
        while True:
            yield self.next()
