"""Both clients against the real daemon on a private bus (started by tests/bus/python_client.rs):
an owner creates and submits a contract, an admin activates it, the owner's agent checks,
registers and recalls a memory, the owner revokes the contract and a listening connection
hears MemoriesChanged; named errors arrive as their own exception classes; sessions as
context managers; ModeSwitched."""

from __future__ import annotations

import asyncio
import time
import unittest

import learning_contracts as lc
from learning_contracts import MemoriesChanged, ModeSwitched, SessionEnded, request
from support import BUS, OWNER_UID, as_user, episodic_spec, need_daemon, session_spec

# A well-formed contract id that no contract has.
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
# How long a signal may take to arrive before the test fails (it comes in milliseconds).
SIGNAL_WAIT = 10.0


class BlockingClient(unittest.TestCase):
    def setUp(self) -> None:
        need_daemon(self)
        with as_user(OWNER_UID):
            self.owner = lc.Client(BUS)
            self.listener = lc.Client(BUS)
        self.admin = lc.Client(BUS)
        for client in (self.owner, self.listener, self.admin):
            self.addCleanup(client.close)

    def test_the_agent_scenario(self) -> None:
        owner, admin = self.owner, self.admin
        # create, submit (the owner), activate (an admin)
        contract = owner.create_draft("episodic", episodic_spec("py-blocking"))
        owner.submit(contract)
        self.assertEqual(owner.get_contract(contract)["state"], "review")
        admin.activate(contract)
        self.assertEqual(owner.get_contract(contract)["state"], "active")

        # check
        allowed = owner.check_memory_creation(request("py-blocking", "project-x", 1))
        self.assertIsInstance(allowed, lc.Decision)
        self.assertTrue(allowed)
        self.assertEqual((allowed.code, allowed.contract_id), ("allowed", contract))
        denied = owner.check_memory_creation(request("py-elsewhere", "home", 1))
        self.assertFalse(denied)
        self.assertEqual((denied.code, denied.contract_id), ("no_contract", ""))

        # register
        kept = owner.register_memory(
            request("py-blocking", "project-x", 1, abstraction="raw")
        )
        self.assertIsInstance(kept, lc.Registration)
        self.assertTrue(kept, kept.reason)
        self.assertEqual(kept.contract_id, contract)
        self.assertTrue(kept.memory_id)
        self.assertEqual(owner.get_memory(kept.memory_id)["contract_id"], contract)

        # recall
        recall = owner.check_recall(
            request("py-blocking", "project-x", 1, memory_id=kept.memory_id)
        )
        self.assertTrue(recall, recall.reason)
        self.assertEqual(recall.contract_id, contract)

        # revoke, followed by a connection that only listens (it subscribes)
        with self.listener.follow(MemoriesChanged) as events:
            owner.revoke(contract, "no longer wanted")
            event = events.next(timeout=SIGNAL_WAIT)
        self.assertEqual(event, MemoriesChanged(contract, "tombstoned", [kept.memory_id]))
        self.assertEqual(owner.get_contract(contract)["state"], "revoked")
        after = owner.check_recall(
            request("py-blocking", "project-x", 1, memory_id=kept.memory_id)
        )
        self.assertFalse(after)

        # a named error, as its own exception class
        with self.assertRaises(lc.InvalidStateError) as refused:
            owner.submit(contract)
        self.assertEqual(refused.exception.name, "org.learningcontracts.Error.InvalidState")
        self.assertIsInstance(refused.exception, lc.LearningContractsError)

    def test_named_errors(self) -> None:
        with self.assertRaises(lc.NotFoundError) as missing:
            self.owner.get_contract(UNKNOWN_ID)
        self.assertTrue(missing.exception.message)
        with self.assertRaises(lc.AccessDeniedError):
            self.owner.enter_lockdown("only admins may")
        with self.assertRaises(lc.InvalidArgsError) as bad:
            self.owner.check_recall({"domain": "py-blocking", "context": "x"})
        self.assertEqual(bad.exception.key, "classification")
        with self.assertRaises(lc.InvalidSpecError):
            self.owner.create_draft("episodic", {"domains": ["*"]})

    def test_a_session_as_a_context_manager(self) -> None:
        contract = self.owner.create_draft("episodic", session_spec("py-session"))
        self.owner.submit(contract)
        self.admin.activate(contract)
        probe = request("py-session", "chat", 1)
        self.assertEqual(self.owner.check_memory_creation(probe).code, "not_active")
        with self.listener.follow(SessionEnded) as events:
            with self.owner.session() as session:
                opened = session.id
                self.assertTrue(opened)
                session.bind(contract)
                self.assertTrue(self.owner.check_memory_creation(probe))
            ended = events.next(timeout=SIGNAL_WAIT)
        self.assertEqual(ended, SessionEnded(opened, [contract]))
        self.assertEqual(self.owner.get_contract(contract)["state"], "expired")
        self.assertFalse(self.owner.check_memory_creation(probe))

    def test_following_mode_switches(self) -> None:
        with self.owner.follow(ModeSwitched) as events:
            self.admin.enter_lockdown("python client test")
            try:
                switched = events.next(timeout=SIGNAL_WAIT)
                self.assertEqual((switched.old, switched.new), ("OPEN", "LOCKDOWN"))
                self.assertEqual(self.owner.mode(), "LOCKDOWN")
                self.assertFalse(self.owner.recall_gate(0))
            finally:
                self.admin.release_lockdown("python client test done")
            back = events.next(timeout=SIGNAL_WAIT)
        self.assertEqual((back.old, back.new), ("LOCKDOWN", "OPEN"))
        self.assertTrue(self.owner.recall_gate(0))

    def test_properties_and_reads(self) -> None:
        self.assertTrue(self.owner.version())
        self.assertIsInstance(self.owner.features(), list)
        self.assertEqual(self.owner.mode(), "OPEN")
        self.assertEqual(self.owner.source(), "static")
        self.assertIsInstance(self.owner.facts(), dict)
        self.assertIsInstance(self.admin.head_seq(), int)
        self.assertTrue(self.owner.tool_gate("editor", {"network": True}))
        templates = self.owner.templates()
        self.assertTrue(templates and isinstance(templates[0], dict))
        self.assertTrue(self.admin.verify_audit())


class AsyncioClient(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        need_daemon(self)
        with as_user(OWNER_UID):
            self.owner = await lc.AsyncClient.connect(BUS)
            self.listener = await lc.AsyncClient.connect(BUS)
        self.admin = await lc.AsyncClient.connect(BUS)
        for client in (self.owner, self.listener, self.admin):
            self.addAsyncCleanup(client.close)

    async def test_the_agent_scenario(self) -> None:
        owner, admin = self.owner, self.admin
        contract = await owner.create_draft("episodic", episodic_spec("py-asyncio"))
        await owner.submit(contract)
        await admin.activate(contract)
        self.assertEqual((await owner.get_contract(contract))["state"], "active")

        # Calls of one connection may run concurrently.
        allowed, denied = await asyncio.gather(
            owner.check_memory_creation(request("py-asyncio", "project-x", 1)),
            owner.check_memory_creation(request("py-elsewhere", "home", 1)),
        )
        self.assertTrue(allowed)
        self.assertEqual((allowed.code, allowed.contract_id), ("allowed", contract))
        self.assertFalse(denied)
        self.assertEqual(denied.code, "no_contract")

        kept = await owner.register_memory(
            request("py-asyncio", "project-x", 1, abstraction="raw")
        )
        self.assertTrue(kept, kept.reason)
        self.assertEqual(kept.contract_id, contract)

        recall = await owner.check_recall(
            request("py-asyncio", "project-x", 1, memory_id=kept.memory_id)
        )
        self.assertTrue(recall, recall.reason)

        async with self.listener.follow(MemoriesChanged) as events:
            await owner.revoke(contract, "no longer wanted")
            event = await events.next(timeout=SIGNAL_WAIT)
        self.assertEqual(event, MemoriesChanged(contract, "tombstoned", [kept.memory_id]))
        self.assertFalse(
            await owner.check_recall(
                request("py-asyncio", "project-x", 1, memory_id=kept.memory_id)
            )
        )

        with self.assertRaises(lc.InvalidStateError) as refused:
            await owner.submit(contract)
        self.assertEqual(refused.exception.name, "org.learningcontracts.Error.InvalidState")

    async def test_named_errors(self) -> None:
        with self.assertRaises(lc.NotFoundError):
            await self.owner.get_contract(UNKNOWN_ID)
        with self.assertRaises(lc.AccessDeniedError):
            await self.owner.pause_all("only admins may")
        with self.assertRaises(lc.InvalidArgsError) as bad:
            await self.owner.check_recall({"domain": "py-asyncio", "classification": 1})
        self.assertEqual(bad.exception.key, "context")

    async def test_a_session_as_a_context_manager(self) -> None:
        contract = await self.owner.create_draft("episodic", session_spec("py-asession"))
        await self.owner.submit(contract)
        await self.admin.activate(contract)
        probe = request("py-asession", "chat", 1)
        async with self.listener.follow(SessionEnded) as events:
            async with self.owner.session() as session:
                opened = session.id
                self.assertTrue(opened)
                await session.bind(contract)
                self.assertTrue(await self.owner.check_memory_creation(probe))
            ended = await events.next(timeout=SIGNAL_WAIT)
        self.assertEqual(ended, SessionEnded(opened, [contract]))
        self.assertEqual((await self.owner.get_contract(contract))["state"], "expired")

    async def test_waiting_for_an_event_times_out(self) -> None:
        async with self.listener.follow(ModeSwitched) as events:
            started = time.monotonic()
            with self.assertRaises(TimeoutError):
                await events.next(timeout=0.05)
            self.assertLess(time.monotonic() - started, SIGNAL_WAIT)


if __name__ == "__main__":
    unittest.main()
