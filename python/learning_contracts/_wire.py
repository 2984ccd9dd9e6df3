"""What both clients share: encoding requests (``a{sv}``), building messages, decoding replies
and errors, and recognising the daemon's signals. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from jeepney import DBusAddress, HeaderFields, Message, MessageFlag, MessageType, new_method_call
from jeepney.bus_messages import MatchRule

from . import _spec
from .errors import LearningContractsError, error_from_dbus
from .types import (
    EVENTS,
    AuditVerification,
    Decision,
    DraftFromText,
    Event,
    Registration,
)


@dataclass(frozen=True)
class Variant:
    """A value with an explicit D-Bus signature, for a request key whose type this package
    cannot tell from the Python value (an int for a key it does not know)."""

    signature: str
    value: Any


#: The types of the request and spec keys that a Python int cannot tell by itself.
INT_KEY_SIGNATURES: Dict[str, str] = {
    "classification": "y",
    "classification_cap": "y",
    "memory_class": "y",
    "owner": "u",
    "retention_until": "x",
}


def encode_value(key: str, value: Any) -> Tuple[str, Any]:
    """One ``a{sv}`` value as jeepney sends a variant: ``(signature, value)``."""
    if isinstance(value, Variant):
        return (value.signature, value.value)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        signature = INT_KEY_SIGNATURES.get(key)
        if signature is None:
            raise TypeError(
                f"{key}: an integer for a key of unknown type; pass Variant('u', {value}) or the"
                " type the daemon documents"
            )
        return (signature, value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return ("as", list(value))
    if isinstance(value, Mapping):
        return ("a{sv}", encode_dict(value))
    raise TypeError(f"{key}: cannot send a {type(value).__name__} as a D-Bus variant")


def encode_dict(mapping: Optional[Mapping[str, Any]]) -> Dict[str, Tuple[str, Any]]:
    """A Python mapping as an ``a{sv}`` (keys are strings; see :func:`encode_value`)."""
    if mapping is None:
        return {}
    encoded = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"request keys are strings, not {type(key).__name__}")
        encoded[key] = encode_value(key, value)
    return encoded


def split_signature(signature: str) -> List[str]:
    """The complete types of a signature, in order (``"sas(bs)"`` → ``["s", "as", "(bs)"]``)."""
    types = []
    index = 0
    while index < len(signature):
        end = _complete_type_end(signature, index)
        types.append(signature[index:end])
        index = end
    return types


def _complete_type_end(signature: str, index: int) -> int:
    code = signature[index]
    if code == "a":
        return _complete_type_end(signature, index + 1)
    if code in "({":
        close = ")" if code == "(" else "}"
        index += 1
        while signature[index] != close:
            index = _complete_type_end(signature, index)
        return index + 1
    return index + 1


def unwrap(signature: str, value: Any) -> Any:
    """A value jeepney parsed, with its variants replaced by their plain values."""
    if signature == "v":
        inner_signature, inner = value
        return unwrap(inner_signature, inner)
    if signature.startswith("a{"):
        key_type, value_type = split_signature(signature[2:-1])
        return {unwrap(key_type, k): unwrap(value_type, v) for k, v in value.items()}
    if signature.startswith("a"):
        element = signature[1:]
        if element in ("y",) and isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return [unwrap(element, item) for item in value]
    if signature.startswith("("):
        return tuple(unwrap(t, v) for t, v in zip(split_signature(signature[1:-1]), value))
    return value


def address(interface: str) -> DBusAddress:
    """The daemon's object with one of its interfaces (short name)."""
    return DBusAddress(
        _spec.OBJECT_PATH, bus_name=_spec.BUS_NAME, interface=_spec.interface_name(interface)
    )


def method_call(interface: str, name: str, args: Sequence[Any], interactive: bool) -> Message:
    """The call of a method of the table, its arguments already in wire form."""
    method = _spec.METHODS_BY_NAME[(interface, name)]
    if len(args) != len(method.in_args):
        raise TypeError(f"{interface}.{name} takes {len(method.in_args)} arguments")
    message = new_method_call(
        address(interface), name, method.in_signature or None, tuple(args)
    )
    if interactive:
        message.header.flags |= MessageFlag.allow_interactive_authorization
    return message


def property_get(interface: str, name: str) -> Message:
    """``org.freedesktop.DBus.Properties.Get`` of a property of the table."""
    _spec.PROPERTIES_BY_NAME[(interface, name)]  # only properties the table knows
    target = DBusAddress(
        _spec.OBJECT_PATH, bus_name=_spec.BUS_NAME, interface="org.freedesktop.DBus.Properties"
    )
    return new_method_call(target, "Get", "ss", (_spec.interface_name(interface), name))


def check_reply(reply: Message) -> Message:
    """The reply itself when it is a method return, else the mapped exception of the error."""
    if reply.header.message_type == MessageType.error:
        raise error_of(reply)
    return reply


def error_of(reply: Message) -> LearningContractsError:
    """The exception for an error reply."""
    name = reply.header.fields.get(HeaderFields.error_name)
    body = reply.body
    message = body[0] if body and isinstance(body[0], str) else ""
    return error_from_dbus(name, message)


def method_result(interface: str, name: str, reply: Message) -> Any:
    """A method's reply with variants unwrapped: None for no output, the value for one, a
    tuple for several (a check answers four: allowed, code, reason, contract id). A reply
    with any other signature than the table's is refused rather than guessed at."""
    method = _spec.METHODS_BY_NAME[(interface, name)]
    expected = method.out_signature
    body = reply.body
    got = reply.header.fields.get(HeaderFields.signature, "")
    types = split_signature(expected)
    if got != expected:
        raise LearningContractsError(
            f"{interface}.{name} answered with the signature '{got}', not '{expected}'",
            "org.freedesktop.DBus.Error.InvalidSignature",
        )
    values = tuple(unwrap(t, v) for t, v in zip(types, body))
    if not types:
        return None
    if len(types) == 1:
        return values[0]
    return values


def property_result(interface: str, name: str, reply: Message) -> Any:
    """A property's value from the reply to ``Get``, checked against the table's type."""
    signature, value = reply.body[0]
    expected = _spec.PROPERTIES_BY_NAME[(interface, name)].signature
    if signature != expected:
        raise LearningContractsError(
            f"{interface}.{name} has the type '{signature}', not '{expected}'",
            "org.freedesktop.DBus.Error.InvalidSignature",
        )
    return unwrap(signature, value)


def decision(answer: Sequence[Any]) -> Decision:
    """A check's answer (``bsss``) or a gate's (``bss``) as a :class:`Decision`."""
    if len(answer) == 3:
        allowed, code, reason = answer
        return Decision(bool(allowed), code, reason, "")
    allowed, code, reason, contract_id = answer
    return Decision(bool(allowed), code, reason, contract_id)


def registration(answer: Sequence[Any]) -> Registration:
    """A registration's answer (``bssss``) as a :class:`Registration`."""
    allowed, code, reason, contract_id, memory_id = answer
    return Registration(bool(allowed), code, reason, contract_id, memory_id)


def draft_from_text(answer: Sequence[Any]) -> DraftFromText:
    """``DraftFromText``'s three outputs."""
    draft_id, summary, questions = answer
    return DraftFromText(draft_id, summary, list(questions))


def audit_verification(answer: Sequence[Any]) -> AuditVerification:
    """``Audit1.Verify``'s four outputs."""
    ok, records, first_bad, message = answer
    return AuditVerification(bool(ok), records, first_bad, message)


#: The check kinds ``Enforcement1.CheckBatch`` takes.
CHECK_KINDS = ("memory_creation", "abstraction", "recall", "export")
#: The most requests one ``CheckBatch`` takes.
CHECK_BATCH_MAX = 1000


def batch_requests(requests: Iterable[Mapping[str, Any]]) -> List[Dict[str, Tuple[str, Any]]]:
    """``CheckBatch``'s ``aa{sv}``."""
    return [encode_dict(request) for request in requests]


# Signals ------------------------------------------------------------------------------------

_SIGNAL_SPECS = {(s.interface, s.name): s for s in _spec.SIGNALS}
_BUS_DAEMON = DBusAddress(
    "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
)


def match_rules(event_types: Iterable[type]) -> List[MatchRule]:
    """The bus match rules for these events, and for the daemon's name changing owner."""
    rules = []
    for event_type in event_types:
        interface, member = EVENTS[event_type]
        rules.append(
            MatchRule(
                type="signal",
                sender=_spec.BUS_NAME,
                interface=_spec.interface_name(interface),
                member=member,
                path=_spec.OBJECT_PATH,
            )
        )
    owner_changes = MatchRule(
        type="signal",
        sender="org.freedesktop.DBus",
        interface="org.freedesktop.DBus",
        member="NameOwnerChanged",
        path="/org/freedesktop/DBus",
    )
    owner_changes.add_arg_condition(0, _spec.BUS_NAME)
    rules.append(owner_changes)
    return rules


def add_match(rule: MatchRule) -> Message:
    """``AddMatch`` for a rule."""
    return new_method_call(_BUS_DAEMON, "AddMatch", "s", (rule.serialise(),))


def remove_match(rule: MatchRule) -> Message:
    """``RemoveMatch`` for a rule."""
    return new_method_call(_BUS_DAEMON, "RemoveMatch", "s", (rule.serialise(),))


def get_name_owner() -> Message:
    """``GetNameOwner`` of the daemon's name."""
    return new_method_call(_BUS_DAEMON, "GetNameOwner", "s", (_spec.BUS_NAME,))


class SignalFilter:
    """Picks, among the messages a connection receives, the signals a follower wants and the
    daemon's name changing owner (jeepney's filters call :meth:`matches`)."""

    def __init__(self, event_types: Iterable[type]) -> None:
        self.wanted = {
            (_spec.interface_name(EVENTS[t][0]), EVENTS[t][1]): t for t in event_types
        }

    def matches(self, message: Message) -> bool:
        header = message.header
        if header.message_type != MessageType.signal:
            return False
        fields = header.fields
        key = (fields.get(HeaderFields.interface), fields.get(HeaderFields.member))
        if key == ("org.freedesktop.DBus", "NameOwnerChanged"):
            return bool(message.body) and message.body[0] == _spec.BUS_NAME
        return key in self.wanted and fields.get(HeaderFields.path) == _spec.OBJECT_PATH


class Follower:
    """The state of one follower: who owns the daemon's name now. Signals from any other
    sender are dropped (anyone may send a signal with the daemon's interface name)."""

    def __init__(self, event_types: Iterable[type], owner: Optional[str]) -> None:
        self.filter = SignalFilter(event_types)
        self.owner = owner

    def take(self, message: Message) -> Tuple[Optional[Event], bool]:
        """The event a matched message carries (None for none), and whether the daemon's
        name has a new owner, to which the follower must subscribe again."""
        fields = message.header.fields
        if fields.get(HeaderFields.member) == "NameOwnerChanged":
            if fields.get(HeaderFields.sender) != "org.freedesktop.DBus":
                return None, False
            _, _, new_owner = message.body
            self.owner = new_owner or None
            return None, bool(new_owner)
        if self.owner is None or fields.get(HeaderFields.sender) != self.owner:
            return None, False
        interface = fields[HeaderFields.interface][len(_spec.INTERFACE_PREFIX) :]
        signal = _SIGNAL_SPECS[(interface, fields[HeaderFields.member])]
        event_type = self.filter.wanted[(fields[HeaderFields.interface], signal.name)]
        if message.header.fields.get(HeaderFields.signature, "") != "".join(
            t for _, t in signal.args
        ):
            return None, False
        values = [unwrap(t, v) for (_, t), v in zip(signal.args, message.body)]
        return event_type(*values), False
