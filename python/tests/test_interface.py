"""The package against the interface's source of truth, with no bus: its method table against
dbus/*.xml, both clients' methods against the table, and its exceptions against the error
names the daemon documents and uses."""

from __future__ import annotations

import inspect
import os
import re
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Tuple

import learning_contracts as lc
from jeepney import new_method_return

from learning_contracts import _spec, _wire
from support import REPO

# Public members of the clients that are not D-Bus members.
CLIENT_EXTRAS = {"call", "get_property", "close", "session", "follow", "unique_name"}
ASYNC_CLIENT_EXTRAS = CLIENT_EXTRAS | {"connect", "open"}


def xml_interfaces() -> Dict[str, ET.Element]:
    """Every interface element of dbus/org.learningcontracts.*.xml by short name."""
    files = sorted((REPO / "dbus").glob("org.learningcontracts.*.xml"))
    assert files, f"no interface XML under {REPO / 'dbus'}"
    interfaces = {}
    for path in files:
        # The doc comments are left out: the members are what is compared here (and a
        # comment holding a double hyphen, which XML forbids, would stop the parser).
        text = re.sub(r"<!--.*?-->", "", path.read_text(), flags=re.S)
        for element in ET.fromstring(text).iter("interface"):
            name = element.get("name", "")
            assert name.startswith(_spec.INTERFACE_PREFIX), name
            interfaces[name[len(_spec.INTERFACE_PREFIX) :]] = element
    return interfaces


def args_of(element: ET.Element, direction: str) -> List[Tuple[str, str]]:
    return [
        (arg.get("name", ""), arg.get("type", ""))
        for arg in element.findall("arg")
        if arg.get("direction", "in") == direction
    ]


class MethodTableMatchesXml(unittest.TestCase):
    """_spec.METHODS, SIGNALS and PROPERTIES say exactly what dbus/*.xml says."""

    def test_the_seven_interfaces(self) -> None:
        self.assertEqual(
            sorted(xml_interfaces()),
            sorted(
                {
                    "Daemon1",
                    "Contracts1",
                    "Enforcement1",
                    "Boundary1",
                    "Memories1",
                    "Sessions1",
                    "Audit1",
                }
            ),
        )

    def test_methods(self) -> None:
        xml = {}
        for interface, element in xml_interfaces().items():
            for method in element.findall("method"):
                out = "".join(t for _, t in args_of(method, "out"))
                xml[(interface, method.get("name"))] = (tuple(args_of(method, "in")), out)
        table = {(m.interface, m.name): (m.in_args, m.out_signature) for m in _spec.METHODS}
        self.assertEqual(
            sorted(set(xml) - set(table)), [], "methods in dbus/*.xml the package lacks"
        )
        self.assertEqual(
            sorted(set(table) - set(xml)), [], "methods in the package that dbus/*.xml lacks"
        )
        for key, (in_args, out) in xml.items():
            self.assertEqual(table[key], (in_args, out), f"{key[0]}.{key[1]}: (in args, out)")

    def test_signals(self) -> None:
        xml = {}
        for interface, element in xml_interfaces().items():
            for signal in element.findall("signal"):
                xml[(interface, signal.get("name"))] = tuple(
                    (arg.get("name", ""), arg.get("type", "")) for arg in signal.findall("arg")
                )
        table = {(s.interface, s.name): s.args for s in _spec.SIGNALS}
        self.assertEqual(xml, table)

    def test_properties(self) -> None:
        xml = {}
        for interface, element in xml_interfaces().items():
            for prop in element.findall("property"):
                self.assertEqual(prop.get("access"), "read", prop.get("name"))
                xml[(interface, prop.get("name"))] = prop.get("type")
        table = {(p.interface, p.name): p.signature for p in _spec.PROPERTIES}
        self.assertEqual(xml, table)

    def test_every_signal_has_an_event_class_with_its_argument_names(self) -> None:
        events = {value: cls for cls, value in lc.types.EVENTS.items()}
        self.assertEqual(sorted(events), sorted((s.interface, s.name) for s in _spec.SIGNALS))
        for signal in _spec.SIGNALS:
            cls = events[(signal.interface, signal.name)]
            fields = [f for f in cls.__dataclass_fields__]
            self.assertEqual(fields, [name for name, _ in signal.args], cls.__name__)


class ClientsMatchTheTable(unittest.TestCase):
    """Every member has a method on both clients, with the XML's argument names, and the
    clients have no method for a member that is gone."""

    def check_client(self, cls: type, coroutines: bool, extras: set) -> None:
        wanted = {}
        for method in _spec.METHODS:
            wanted[method.python_name] = [name for name, _ in method.in_args]
        for prop in _spec.PROPERTIES:
            self.assertNotIn(prop.python_name, wanted)
            wanted[prop.python_name] = []
        for name, params in wanted.items():
            member = getattr(cls, name, None)
            self.assertIsNotNone(member, f"{cls.__name__}.{name} is missing")
            self.assertEqual(
                inspect.iscoroutinefunction(member), coroutines, f"{cls.__name__}.{name}"
            )
            signature = inspect.signature(member)
            self.assertEqual(
                [p for p in signature.parameters if p != "self"],
                params,
                f"{cls.__name__}.{name}'s parameters",
            )
            self.assertTrue(member.__doc__, f"{cls.__name__}.{name} has no docstring")
        public = {name for name in dir(cls) if not name.startswith("_")}
        self.assertEqual(sorted(public - set(wanted) - extras), [], f"{cls.__name__}: unknown")

    def test_blocking_client(self) -> None:
        self.check_client(lc.Client, False, CLIENT_EXTRAS)

    def test_asyncio_client(self) -> None:
        self.check_client(lc.AsyncClient, True, ASYNC_CLIENT_EXTRAS)

    def test_the_clients_call_the_member_the_table_names(self) -> None:
        """Each method's body calls its own member (no copy-paste slip)."""
        pattern = re.compile(r'(?:call|get_property)\("(\w+)", "(\w+)"')
        members = {m.python_name: (m.interface, m.name) for m in _spec.METHODS}
        members.update({p.python_name: (p.interface, p.name) for p in _spec.PROPERTIES})
        for cls in (lc.Client, lc.AsyncClient):
            for python_name, member in members.items():
                source = inspect.getsource(getattr(cls, python_name))
                self.assertEqual(
                    pattern.findall(source), [member], f"{cls.__name__}.{python_name}"
                )


class ErrorsMatchTheDaemon(unittest.TestCase):
    """One exception class per error name docs/RULES.md lists, and the daemon's code and
    XML use no other."""

    def documented(self) -> set:
        rules = (REPO / "docs" / "RULES.md").read_text()
        names = set()
        for prefix in ("org.learningcontracts.Error.", "org.freedesktop.DBus.Error."):
            lists = re.findall(re.escape(prefix) + r"\{([^}]*)\}", rules)
            self.assertTrue(lists, f"docs/RULES.md lists no {prefix}{{…}}")
            for listed in lists:
                names |= {prefix + n.strip() for n in listed.split(",")}
        return names

    def test_one_class_per_documented_name(self) -> None:
        documented = self.documented()
        self.assertEqual(sorted(lc.ERRORS), sorted(documented))
        classes = set()
        for name, cls in lc.ERRORS.items():
            self.assertTrue(issubclass(cls, lc.LearningContractsError))
            self.assertIsNot(cls, lc.LearningContractsError)
            self.assertEqual(cls.dbus_name, name)
            self.assertEqual(cls.__name__, name.rsplit(".", 1)[1] + "Error")
            self.assertTrue(hasattr(lc, cls.__name__), f"{cls.__name__} is not exported")
            classes.add(cls)
        self.assertEqual(len(classes), len(lc.ERRORS))

    def test_the_daemon_answers_no_undocumented_name(self) -> None:
        """Every org.learningcontracts.Error.* in the daemon's sources and the XML is one of
        the documented names."""
        used = set()
        # The daemon's sources wherever they live (src/, crates/…), not the build output or
        # what only tests and tools say.
        skip = {"target", "tests", "benches", "fuzz", "python", "examples", ".git"}
        paths = list((REPO / "dbus").glob("*.xml"))
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
            paths += [Path(root) / f for f in files if f.endswith(".rs")]
        self.assertTrue(any(p.suffix == ".rs" for p in paths), "found no Rust sources")
        for path in paths:
            used |= set(re.findall(r"org\.learningcontracts\.Error\.[A-Za-z]+", path.read_text()))
        self.assertEqual(sorted(used - self.documented()), [])

    def test_names_map_to_classes(self) -> None:
        err = lc.error_from_dbus("org.learningcontracts.Error.NotFound", "no such contract")
        self.assertIsInstance(err, lc.NotFoundError)
        self.assertEqual(err.name, "org.learningcontracts.Error.NotFound")
        self.assertEqual(err.message, "no such contract")
        err = lc.error_from_dbus("org.freedesktop.DBus.Error.InvalidArgs", "domain: is required")
        self.assertIsInstance(err, lc.InvalidArgsError)
        self.assertEqual(err.key, "domain")

    def test_unknown_names_keep_name_and_message(self) -> None:
        err = lc.error_from_dbus("org.freedesktop.DBus.Error.ServiceUnknown", "not running")
        self.assertIs(type(err), lc.LearningContractsError)
        self.assertEqual(err.name, "org.freedesktop.DBus.Error.ServiceUnknown")
        self.assertEqual(err.message, "not running")
        self.assertIn("ServiceUnknown", str(err))


class Values(unittest.TestCase):
    """Requests and answers without a bus."""

    def test_decision_truthiness(self) -> None:
        self.assertTrue(lc.Decision(True, "allowed", "ok", "C"))
        self.assertFalse(lc.Decision(False, "no_contract", "no", ""))
        registration = lc.Registration(True, "allowed", "ok", "C", "M")
        self.assertTrue(registration)
        self.assertEqual(registration.decision, lc.Decision(True, "allowed", "ok", "C"))

    def test_request_encoding(self) -> None:
        encoded = lc.encode_dict(
            lc.request("coding", "x", 1, owner=1000, derived_from=["a"], tool="t")
        )
        self.assertEqual(
            encoded,
            {
                "domain": ("s", "coding"),
                "context": ("s", "x"),
                "classification": ("y", 1),
                "owner": ("u", 1000),
                "derived_from": ("as", ["a"]),
                "tool": ("s", "t"),
            },
        )
        self.assertEqual(lc.encode_dict({"network": True}), {"network": ("b", True)})
        self.assertEqual(lc.encode_dict({"n": lc.Variant("t", 5)}), {"n": ("t", 5)})
        with self.assertRaises(TypeError):
            lc.encode_dict({"unknown": 5})
        with self.assertRaises(TypeError):
            lc.encode_dict({"x": 1.5})

    def test_a_gate_answers_three_out_arguments_and_nothing_else(self) -> None:
        call = _wire.method_call("Enforcement1", "RecallGate", (0,), False)
        reply = new_method_return(call, "bss", (True, "allowed", "ok"))
        answer = _wire.method_result("Enforcement1", "RecallGate", reply)
        self.assertEqual(_wire.decision(answer), lc.Decision(True, "allowed", "ok", ""))
        # One struct is not what the interface says: refused, not guessed at.
        reply = new_method_return(call, "(bss)", ((True, "allowed", "ok"),))
        with self.assertRaises(lc.LearningContractsError):
            _wire.method_result("Enforcement1", "RecallGate", reply)

    def test_an_unexpected_signature_is_refused(self) -> None:
        call = _wire.method_call("Enforcement1", "RecallGate", (0,), False)
        reply = new_method_return(call, "bs", (True, "allowed"))
        with self.assertRaises(lc.LearningContractsError) as refused:
            _wire.method_result("Enforcement1", "RecallGate", reply)
        self.assertEqual(refused.exception.name, "org.freedesktop.DBus.Error.InvalidSignature")

    def test_the_session_bus_needs_an_address(self) -> None:
        saved = os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        try:
            with self.assertRaises(ConnectionError):
                lc.Client("session")
        finally:
            if saved is not None:
                os.environ["DBUS_SESSION_BUS_ADDRESS"] = saved


if __name__ == "__main__":
    unittest.main()
