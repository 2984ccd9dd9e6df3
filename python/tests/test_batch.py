"""Batched decisions and the decision generation, with both clients against the real daemon:
``check_batch`` answers each request exactly as the single check does, in order; more than
CHECK_BATCH_MAX requests are refused; ``generation()`` moves when a decision could change.

These need Enforcement1.CheckBatch and Enforcement1.Generation. A daemon without them fails
here, naming what is missing (never a skip)."""

from __future__ import annotations

import unittest
from typing import Any, Callable, List

import learning_contracts as lc
from learning_contracts import request
from support import BUS, OWNER_UID, as_user, episodic_spec, need_daemon

MISSING_NAMES = {
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownProperty",
    "org.freedesktop.DBus.Error.InvalidArgs",
}


def missing(err: lc.LearningContractsError, member: str) -> str:
    return (
        f"the daemon lacks Enforcement1.{member} ({err.name}: {err.message}); "
        "it is part of this interface (dbus/org.learningcontracts.Enforcement1.xml)"
    )


def requests_for(domain: str, memory_id: str) -> List[dict]:
    """Requests whose single answers differ: allowed, no contract, above the mode's class cap,
    a named memory, an unknown memory."""
    return [
        request(domain, "project-x", 1),
        request("py-nowhere", "home", 1),
        request(domain, "project-x", 3),
        request(domain, "project-x", 1, memory_id=memory_id),
        request(domain, "project-x", 1, memory_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ]


class BlockingBatch(unittest.TestCase):
    def setUp(self) -> None:
        need_daemon(self)
        with as_user(OWNER_UID):
            self.owner = lc.Client(BUS)
        self.admin = lc.Client(BUS)
        self.addCleanup(self.owner.close)
        self.addCleanup(self.admin.close)

    def batch(self, check: str, requests: List[dict]) -> List[lc.Decision]:
        try:
            return self.owner.check_batch(check, requests)
        except lc.LearningContractsError as err:
            if err.name == "org.freedesktop.DBus.Error.UnknownMethod":
                self.fail(missing(err, "CheckBatch"))
            raise

    def generation(self) -> int:
        try:
            return self.owner.generation()
        except lc.LearningContractsError as err:
            if err.name in MISSING_NAMES:
                self.fail(missing(err, "Generation"))
            raise

    def test_each_answer_is_the_single_checks(self) -> None:
        owner = self.owner
        contract = owner.create_draft("episodic", episodic_spec("py-batch"))
        owner.submit(contract)
        self.admin.activate(contract)
        kept = owner.register_memory(request("py-batch", "project-x", 1, abstraction="raw"))
        self.assertTrue(kept, kept.reason)
        requests = requests_for("py-batch", kept.memory_id)
        singles: dict = {
            "memory_creation": owner.check_memory_creation,
            "recall": owner.check_recall,
            "export": owner.check_export,
        }
        for check, single in singles.items():
            plain = [r for r in requests if check != "memory_creation" or "memory_id" not in r]
            answers = self.batch(check, plain)
            self.assertTrue(all(isinstance(a, lc.Decision) for a in answers))
            self.assertEqual(answers, [single(r) for r in plain], check)
        abstraction = [dict(r, abstraction="pattern") for r in requests if "memory_id" not in r]
        self.assertEqual(
            self.batch("abstraction", abstraction),
            [owner.check_abstraction(r) for r in abstraction],
        )
        self.assertEqual([bool(a) for a in self.batch("recall", requests)][:2], [True, False])

    def test_the_maximum_and_bad_requests(self) -> None:
        self.assertEqual(lc.CHECK_BATCH_MAX, 1000)
        full = [request("py-batch-max", "x", 1)] * lc.CHECK_BATCH_MAX
        answers = self.batch("recall", full)
        self.assertEqual(len(answers), lc.CHECK_BATCH_MAX)
        self.assertEqual({a.code for a in answers}, {"no_contract"})
        with self.assertRaises(lc.InvalidArgsError):
            self.batch("recall", full + [request("py-batch-max", "x", 1)])
        with self.assertRaises(lc.InvalidArgsError) as bad:
            self.batch("recall", [request("py-batch-max", "x", 1), {"domain": "x"}])
        self.assertEqual(bad.exception.key, "requests[1]")
        with self.assertRaises(lc.InvalidArgsError):
            self.batch("learning", [request("py-batch-max", "x", 1)])
        self.assertEqual(self.batch("recall", []), [])

    def test_the_generation_moves_when_a_decision_could(self) -> None:
        before = self.generation()
        self.assertIsInstance(before, int)
        self.assertEqual(self.generation(), before, "reading it never moves it")
        self.owner.check_recall(request("py-generation", "x", 1))
        self.assertEqual(self.generation(), before, "asking a check never moves it")
        self.owner.pause_learning("python generation test")
        try:
            paused = self.generation()
            self.assertGreater(paused, before)
        finally:
            self.owner.resume_learning()
        self.assertGreater(self.generation(), paused)


class AsyncioBatch(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        need_daemon(self)
        with as_user(OWNER_UID):
            self.owner = await lc.AsyncClient.connect(BUS)
        self.admin = await lc.AsyncClient.connect(BUS)
        self.addAsyncCleanup(self.owner.close)
        self.addAsyncCleanup(self.admin.close)

    async def guarded(self, member: str, call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except lc.LearningContractsError as err:
            if err.name == "org.freedesktop.DBus.Error.UnknownMethod" or (
                member == "Generation" and err.name in MISSING_NAMES
            ):
                self.fail(missing(err, member))
            raise

    async def test_each_answer_is_the_single_checks(self) -> None:
        owner = self.owner
        contract = await owner.create_draft("episodic", episodic_spec("py-abatch"))
        await owner.submit(contract)
        await self.admin.activate(contract)
        kept = await owner.register_memory(
            request("py-abatch", "project-x", 1, abstraction="raw")
        )
        requests = requests_for("py-abatch", kept.memory_id)
        answers = await self.guarded(
            "CheckBatch", lambda: owner.check_batch("recall", requests)
        )
        self.assertEqual(answers, [await owner.check_recall(r) for r in requests])

    async def test_the_generation_moves_when_a_decision_could(self) -> None:
        before = await self.guarded("Generation", self.owner.generation)
        await self.owner.pause_learning("python generation test")
        await self.owner.resume_learning()
        self.assertGreater(await self.guarded("Generation", self.owner.generation), before)


if __name__ == "__main__":
    unittest.main()
