"""The asyncio client: one D-Bus connection whose calls may run concurrently from many tasks."""

from __future__ import annotations

import asyncio
from typing import (
    Any,
    AsyncIterator,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Type,
)

from jeepney import Message
from jeepney.io.asyncio import DBusConnection, DBusRouter, open_dbus_connection

from . import _wire
from .client import bus_for
from .errors import LearningContractsError, NotFoundError
from .types import AuditVerification, Decision, DraftFromText, Event, Registration

Request = Mapping[str, Any]


class AsyncClient:
    """An asyncio connection to learning-contractsd; the same methods as
    :class:`~learning_contracts.Client`, as coroutines.

    ``bus`` is ``"system"`` (the default), ``"session"`` or a D-Bus address; ``timeout`` and
    ``interactive`` as for :class:`~learning_contracts.Client`. Connect with
    ``async with AsyncClient() as client:`` or ``client = await AsyncClient.connect()`` (then
    ``await client.close()``)."""

    def __init__(
        self, bus: str = "system", *, timeout: Optional[float] = None, interactive: bool = False
    ) -> None:
        self._bus = bus_for(bus)
        self.timeout = timeout
        self.interactive = interactive
        self._connection: Optional[DBusConnection] = None
        self._router: Optional[DBusRouter] = None

    @classmethod
    async def connect(
        cls, bus: str = "system", *, timeout: Optional[float] = None, interactive: bool = False
    ) -> "AsyncClient":
        """A connected client."""
        client = cls(bus, timeout=timeout, interactive=interactive)
        await client.open()
        return client

    async def open(self) -> None:
        """Connects (``async with`` and :meth:`connect` do it)."""
        if self._router is None:
            self._connection = await open_dbus_connection(self._bus)
            self._router = DBusRouter(self._connection)

    @property
    def unique_name(self) -> str:
        """This connection's unique name on the bus."""
        return str(self._require().unique_name)

    async def close(self) -> None:
        """Closes the connection (sessions it opened end with it)."""
        router, connection = self._router, self._connection
        self._router = self._connection = None
        if router is not None:
            await router.__aexit__(None, None, None)
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> "AsyncClient":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # Calls --------------------------------------------------------------------------------

    def _require(self) -> DBusRouter:
        if self._router is None:
            raise RuntimeError("the client is not connected: use 'async with' or connect()")
        return self._router

    async def _send(self, message: Message) -> Message:
        try:
            reply = await asyncio.wait_for(
                self._require().send_and_get_reply(message), self.timeout
            )
        except asyncio.TimeoutError:  # not yet the built-in TimeoutError before Python 3.11
            raise TimeoutError(f"no answer within {self.timeout} s") from None
        return _wire.check_reply(reply)

    async def call(self, interface: str, name: str, *args: Any) -> Any:
        """As :meth:`Client.call <learning_contracts.Client.call>`."""
        reply = await self._send(_wire.method_call(interface, name, args, self.interactive))
        return _wire.method_result(interface, name, reply)

    async def get_property(self, interface: str, name: str) -> Any:
        """As :meth:`Client.get_property <learning_contracts.Client.get_property>`."""
        reply = await self._send(_wire.property_get(interface, name))
        return _wire.property_result(interface, name, reply)

    # Daemon1 ------------------------------------------------------------------------------

    async def reload(self) -> None:
        """Reloads the daemon's configuration (admin)."""
        await self.call("Daemon1", "Reload")

    async def subscribe(self) -> bool:
        """Makes this connection a listener for its uid's signals; True when it listens as an
        admin. :meth:`follow` calls it for you."""
        return bool(await self.call("Daemon1", "Subscribe"))

    async def version(self) -> str:
        """The daemon's version."""
        return str(await self.get_property("Daemon1", "Version"))

    async def features(self) -> List[str]:
        """The optional features this daemon has."""
        return list(await self.get_property("Daemon1", "Features"))

    # Contracts1 ---------------------------------------------------------------------------

    async def create_draft(self, kind: str, spec: Request) -> str:
        """Creates a draft contract of ``kind`` (observation, episodic, procedural, strategic,
        prohibited) owned by the caller; returns its id. docs/RULES.md lists the spec keys."""
        return str(await self.call("Contracts1", "CreateDraft", kind, _wire.encode_dict(spec)))

    async def update_draft(self, id: str, spec: Request) -> None:
        """Changes keys of a draft's spec (the owner only)."""
        await self.call("Contracts1", "UpdateDraft", id, _wire.encode_dict(spec))

    async def submit(self, id: str) -> None:
        """Draft → review, after full validation (the owner only)."""
        await self.call("Contracts1", "Submit", id)

    async def return_to_draft(self, id: str, note: str) -> None:
        """Review → draft, asking for changes (the owner or an admin)."""
        await self.call("Contracts1", "ReturnToDraft", id, note)

    async def activate(self, id: str) -> None:
        """Review → active (the owner confirming, or an admin)."""
        await self.call("Contracts1", "Activate", id)

    async def amend(self, id: str, changes: Request) -> str:
        """Drafts an amendment of an active contract; returns the new draft's id."""
        return str(await self.call("Contracts1", "Amend", id, _wire.encode_dict(changes)))

    async def revoke(self, id: str, reason: str) -> None:
        """Revokes a contract (the owner or an admin); its memories are forgotten
        (``MemoriesChanged``)."""
        await self.call("Contracts1", "Revoke", id, reason)

    async def get_contract(self, id: str) -> Dict[str, Any]:
        """A contract as a dictionary (id, kind, state, owner, the spec's keys, effective, …)."""
        return dict(await self.call("Contracts1", "Get", id))

    async def list_contracts(self, filter: Optional[Request] = None) -> List[Dict[str, Any]]:
        """The contracts the caller may see (filter keys: state, kind, owner)."""
        return list(await self.call("Contracts1", "List", _wire.encode_dict(filter)))

    async def summarize(self, id: str) -> str:
        """A contract in plain language."""
        return str(await self.call("Contracts1", "Summarize", id))

    async def templates(self) -> List[Dict[str, Any]]:
        """The ready-made contracts and their parameters."""
        return list(await self.call("Contracts1", "Templates"))

    async def draft_from_template(self, name: str, params: Mapping[str, str]) -> str:
        """A draft from a template; returns its id."""
        answer = await self.call("Contracts1", "DraftFromTemplate", name, _wire.encode_dict(params))
        return str(answer)

    async def draft_from_text(self, text: str) -> DraftFromText:
        """A draft from a sentence; returns its id, summary and open questions."""
        return _wire.draft_from_text(await self.call("Contracts1", "DraftFromText", text))

    async def active_count(self) -> int:
        """How many contracts are active on the host."""
        return int(await self.get_property("Contracts1", "ActiveCount"))

    async def suspended_count(self) -> int:
        """How many active contracts are suspended."""
        return int(await self.get_property("Contracts1", "SuspendedCount"))

    # Enforcement1 -------------------------------------------------------------------------

    async def check_memory_creation(self, request: Request) -> Decision:
        """May a memory be created? Keys: domain, context, classification; tool, contract_id,
        owner."""
        answer = await self.call("Enforcement1", "CheckMemoryCreation", _wire.encode_dict(request))
        return _wire.decision(answer)

    async def check_abstraction(self, request: Request) -> Decision:
        """May a memory be generalized to ``abstraction``?"""
        answer = await self.call("Enforcement1", "CheckAbstraction", _wire.encode_dict(request))
        return _wire.decision(answer)

    async def check_recall(self, request: Request) -> Decision:
        """May a memory be recalled? (``memory_id`` names one.)"""
        answer = await self.call("Enforcement1", "CheckRecall", _wire.encode_dict(request))
        return _wire.decision(answer)

    async def check_export(self, request: Request) -> Decision:
        """May knowledge leave the machine?"""
        answer = await self.call("Enforcement1", "CheckExport", _wire.encode_dict(request))
        return _wire.decision(answer)

    async def check_batch(self, check: str, requests: Iterable[Request]) -> List[Decision]:
        """Up to 1,000 checks of one kind (``memory_creation``, ``abstraction``, ``recall``,
        ``export``) in one call, answered from one snapshot, each as the single check would
        answer, in order."""
        batch = _wire.batch_requests(requests)
        answers = await self.call("Enforcement1", "CheckBatch", check, batch)
        return [_wire.decision(answer) for answer in answers]

    async def register_memory(self, request: Request) -> Registration:
        """Checks and records a memory in one step (keys as for creation, plus abstraction,
        memory_id, derived_from)."""
        answer = await self.call("Enforcement1", "RegisterMemory", _wire.encode_dict(request))
        return _wire.registration(answer)

    async def recall_gate(self, memory_class: int) -> Decision:
        """May a memory of this class (0–5) be recalled in the current mode?"""
        return _wire.decision(await self.call("Enforcement1", "RecallGate", memory_class))

    async def tool_gate(self, tool: str, needs: Mapping[str, bool]) -> Decision:
        """May a tool that needs network, filesystem or usb run in the current mode?"""
        answer = await self.call("Enforcement1", "ToolGate", tool, _wire.encode_dict(needs))
        return _wire.decision(answer)

    async def generation(self) -> int:
        """A number that changes whenever any decision could change; an agent that caches
        allowed answers drops them when it changes."""
        return int(await self.get_property("Enforcement1", "Generation"))

    # Boundary1 ----------------------------------------------------------------------------

    async def explain(self) -> str:
        """The facts and the rule behind the mode, as JSON text."""
        return str(await self.call("Boundary1", "Explain"))

    async def enter_lockdown(self, reason: str) -> None:
        """Enters LOCKDOWN (admin)."""
        await self.call("Boundary1", "EnterLockdown", reason)

    async def release_lockdown(self, reason: str) -> None:
        """Releases a latched lockdown (admin)."""
        await self.call("Boundary1", "ReleaseLockdown", reason)

    async def set_override(self, mode: str, reason: str) -> None:
        """Lowers the mode (admin)."""
        await self.call("Boundary1", "SetOverride", mode, reason)

    async def clear_override(self) -> None:
        """Clears the override (admin)."""
        await self.call("Boundary1", "ClearOverride")

    async def pause_learning(self, reason: str) -> None:
        """Pauses the caller's own learning."""
        await self.call("Boundary1", "PauseLearning", reason)

    async def resume_learning(self) -> None:
        """Resumes the caller's own learning."""
        await self.call("Boundary1", "ResumeLearning")

    async def pause_all(self, reason: str) -> None:
        """Pauses everyone's learning (admin)."""
        await self.call("Boundary1", "PauseAll", reason)

    async def resume_all(self) -> None:
        """Resumes everyone's learning (admin)."""
        await self.call("Boundary1", "ResumeAll")

    async def mode(self) -> str:
        """The boundary mode (OPEN … COLDROOM, LOCKDOWN, UNKNOWN)."""
        return str(await self.get_property("Boundary1", "Mode"))

    async def source(self) -> str:
        """Where the mode comes from."""
        return str(await self.get_property("Boundary1", "Source"))

    async def source_healthy(self) -> bool:
        """Whether the mode's source answers."""
        return bool(await self.get_property("Boundary1", "SourceHealthy"))

    async def lockdown(self) -> bool:
        """Whether a lockdown is latched."""
        return bool(await self.get_property("Boundary1", "Lockdown"))

    async def lockdown_reason(self) -> str:
        """Why the lockdown was latched."""
        return str(await self.get_property("Boundary1", "LockdownReason"))

    async def mode_override(self) -> str:
        """The admin's override ("" when none)."""
        return str(await self.get_property("Boundary1", "ModeOverride"))

    async def facts(self) -> Dict[str, Any]:
        """The facts the mode was read from."""
        return dict(await self.get_property("Boundary1", "Facts"))

    async def paused_all(self) -> bool:
        """Whether an admin paused everyone's learning."""
        return bool(await self.get_property("Boundary1", "PausedAll"))

    # Memories1 ----------------------------------------------------------------------------

    async def get_memory(self, memory_id: str) -> Dict[str, Any]:
        """One of the caller's own memory records."""
        return dict(await self.call("Memories1", "Get", memory_id))

    async def get_memory_for_owner(self, owner: int, memory_id: str) -> Dict[str, Any]:
        """One memory record of ``owner`` (for the owner, its agents, admins)."""
        return dict(await self.call("Memories1", "GetForOwner", owner, memory_id))

    async def list_memories(self, contract_id: str) -> List[Dict[str, Any]]:
        """The memory records of a contract."""
        return list(await self.call("Memories1", "List", contract_id))

    async def request_purge(self, contract_id: str) -> str:
        """First step of a deep purge: a one-time token, valid two minutes."""
        return str(await self.call("Memories1", "RequestPurge", contract_id))

    async def confirm_purge(self, contract_id: str, token: str) -> int:
        """Second step: deletes the contract's memory records for good; returns how many."""
        return int(await self.call("Memories1", "ConfirmPurge", contract_id, token))

    # Sessions1 ----------------------------------------------------------------------------

    async def open_session(self, options: Optional[Request] = None) -> str:
        """Opens a session (options: owner); returns its id. Prefer :meth:`session`."""
        return str(await self.call("Sessions1", "Open", _wire.encode_dict(options)))

    async def end_session(self, session_id: str) -> None:
        """Ends a session; contracts bound to it expire."""
        await self.call("Sessions1", "End", session_id)

    async def bind_session(self, session_id: str, contract_id: str) -> None:
        """Binds an active session-retention contract to a session."""
        await self.call("Sessions1", "Bind", session_id, contract_id)

    def session(self, owner: Optional[int] = None) -> "AsyncSession":
        """A session as an async context manager: opened on entry, ended on exit::

            async with client.session() as session:
                await session.bind(contract_id)
        """
        return AsyncSession(self, owner)

    # Audit1 -------------------------------------------------------------------------------

    async def read_audit(self, after_seq: int, limit: int) -> List[Dict[str, Any]]:
        """Audit records after ``after_seq`` (admin)."""
        return list(await self.call("Audit1", "Read", after_seq, limit))

    async def verify_audit(self) -> AuditVerification:
        """Recomputes the audit chain (admin)."""
        return _wire.audit_verification(await self.call("Audit1", "Verify"))

    async def archive_audit(self, through_seq: int, through_hash: str) -> int:
        """Removes archived records through ``through_seq`` (admin); returns how many."""
        return int(await self.call("Audit1", "Archive", through_seq, through_hash))

    async def setup_sealing(self, options: Optional[Request] = None) -> str:
        """Sets up sealing of the audit log (admin; options: force); returns the verification
        key, once."""
        return str(await self.call("Audit1", "SetupSealing", _wire.encode_dict(options)))

    async def head_seq(self) -> int:
        """The audit log's last sequence number."""
        return int(await self.get_property("Audit1", "HeadSeq"))

    async def head_hash(self) -> str:
        """The audit log's last hash."""
        return str(await self.get_property("Audit1", "HeadHash"))

    # Signals ------------------------------------------------------------------------------

    def follow(self, *event_types: Type[Any]) -> "AsyncEvents":
        """As :meth:`Client.follow <learning_contracts.Client.follow>`, as an async context
        manager::

            async with client.follow(MemoriesChanged) as events:
                async for event in events:   # or await events.next(timeout=5)
                    forget(event.memory_ids)
        """
        if not event_types:
            raise TypeError("follow() needs at least one event type")
        return AsyncEvents(self, event_types)


class AsyncSession:
    """An open session (see :meth:`AsyncClient.session`); ``id`` is its id."""

    def __init__(self, client: AsyncClient, owner: Optional[int]) -> None:
        self._client = client
        self._owner = owner
        self.id = ""

    async def bind(self, contract_id: str) -> None:
        """Binds an active session-retention contract to this session."""
        await self._client.bind_session(self.id, contract_id)

    async def end(self) -> None:
        """Ends the session now (leaving the ``async with`` block does it too)."""
        if self.id:
            session_id, self.id = self.id, ""
            try:
                await self._client.end_session(session_id)
            except NotFoundError:
                pass  # it ended already (idle time, or the daemon restarted)

    async def __aenter__(self) -> "AsyncSession":
        options = {} if self._owner is None else {"owner": self._owner}
        self.id = await self._client.open_session(options)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.end()


class AsyncEvents:
    """The events an :meth:`AsyncClient.follow` receives, in order."""

    def __init__(self, client: AsyncClient, event_types: Iterable[Type[Any]]) -> None:
        self._client = client
        self._event_types = tuple(event_types)
        self._rules = _wire.match_rules(self._event_types)
        self._queue: "asyncio.Queue[Message]" = asyncio.Queue()
        self._follower = _wire.Follower(self._event_types, None)
        self._handle: Any = None

    async def __aenter__(self) -> "AsyncEvents":
        router = self._client._require()
        self._handle = router.filter(self._follower.filter, queue=self._queue)
        try:
            for rule in self._rules:
                await self._client._send(_wire.add_match(rule))
            self._follower.owner = str((await self._client._send(_wire.get_name_owner())).body[0])
            await self._client.subscribe()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stops following (removes the match rules)."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        for rule in self._rules:
            try:
                await self._client._send(_wire.remove_match(rule))
            except (LearningContractsError, OSError, RuntimeError):
                pass  # the connection is gone: so are its rules

    async def next(self, timeout: Optional[float] = None) -> Event:
        """The next event; waits up to ``timeout`` seconds (None: for ever), then raises
        TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                message = await asyncio.wait_for(self._queue.get(), remaining)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no event within {timeout} s") from None
            event, resubscribe = self._follower.take(message)
            if resubscribe:
                await self._client.subscribe()
            if event is not None:
                return event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.next()
