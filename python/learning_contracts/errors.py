"""One exception class per named D-Bus error the daemon answers with, all under
:class:`LearningContractsError`. An error name this package does not know (a bus error such as
``org.freedesktop.DBus.Error.ServiceUnknown`` when the daemon is not running) becomes the base
class itself, keeping the name and message.

Errors are not decisions: a denied check is a :class:`~learning_contracts.Decision` whose
``allowed`` is false; an error means the call itself was refused or failed.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

DAEMON_ERROR_PREFIX = "org.learningcontracts.Error."
BUS_ERROR_PREFIX = "org.freedesktop.DBus.Error."


class LearningContractsError(Exception):
    """A call to learning-contractsd was refused or failed.

    ``name`` is the D-Bus error name, ``message`` the daemon's message (one sentence for
    people; never parse it)."""

    #: The D-Bus error name a subclass stands for (None for the base class).
    dbus_name: Optional[str] = None

    def __init__(self, message: str = "", name: Optional[str] = None) -> None:
        super().__init__(message)
        self.name: str = name or self.dbus_name or "org.learningcontracts.Error"
        self.message: str = message

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class NotFoundError(LearningContractsError):
    """No such contract, memory or session that the caller may see (another owner's id is
    answered the same as one that does not exist)."""

    dbus_name = DAEMON_ERROR_PREFIX + "NotFound"


class InvalidStateError(LearningContractsError):
    """The call does not fit the contract's or session's state (for example submitting a
    contract that is not a draft)."""

    dbus_name = DAEMON_ERROR_PREFIX + "InvalidState"


class InvalidSpecError(LearningContractsError):
    """A contract spec is invalid; the message names each key at fault."""

    dbus_name = DAEMON_ERROR_PREFIX + "InvalidSpec"


class NotRevocableError(LearningContractsError):
    """An active prohibition cannot be revoked or amended."""

    dbus_name = DAEMON_ERROR_PREFIX + "NotRevocable"


class TokenInvalidError(LearningContractsError):
    """A purge token is wrong, expired, used or someone else's."""

    dbus_name = DAEMON_ERROR_PREFIX + "TokenInvalid"


class AlreadyExistsError(LearningContractsError):
    """What the call would create exists already (a memory id the owner uses, sealing set
    up)."""

    dbus_name = DAEMON_ERROR_PREFIX + "AlreadyExists"


class LimitReachedError(LearningContractsError):
    """The caller used up a share (drafts, memories, writes a minute, sessions, waiting calls)
    or the store is short of room; the message names the setting."""

    dbus_name = DAEMON_ERROR_PREFIX + "LimitReached"


class StoreFailedError(LearningContractsError):
    """The change could not be committed to the store; nothing was changed."""

    dbus_name = DAEMON_ERROR_PREFIX + "StoreFailed"


class InvalidConfigError(LearningContractsError):
    """A reload found a bad configuration; the old one stays in force."""

    dbus_name = DAEMON_ERROR_PREFIX + "InvalidConfig"


class UnavailableError(LearningContractsError):
    """The daemon is shutting down or lost a part it needs; try again."""

    dbus_name = DAEMON_ERROR_PREFIX + "Unavailable"


class AccessDeniedError(LearningContractsError):
    """The caller may not do this."""

    dbus_name = BUS_ERROR_PREFIX + "AccessDenied"


class InvalidArgsError(LearningContractsError):
    """A request is malformed; ``key`` is the key or argument at fault (the daemon's message
    starts with it)."""

    dbus_name = BUS_ERROR_PREFIX + "InvalidArgs"

    def __init__(self, message: str = "", name: Optional[str] = None) -> None:
        super().__init__(message, name)
        key, sep, _ = message.partition(": ")
        #: The key or argument the daemon named, or "" when the message names none.
        self.key: str = key if sep and " " not in key else ""


class InteractiveAuthorizationRequiredError(LearningContractsError):
    """The caller could be authorized after authenticating, but the call did not allow
    interaction (pass ``interactive=True`` to the client)."""

    dbus_name = BUS_ERROR_PREFIX + "InteractiveAuthorizationRequired"


#: Every named error the daemon answers with, by D-Bus name.
ERRORS: Dict[str, Type[LearningContractsError]] = {
    cls.dbus_name: cls
    for cls in (
        NotFoundError,
        InvalidStateError,
        InvalidSpecError,
        NotRevocableError,
        TokenInvalidError,
        AlreadyExistsError,
        LimitReachedError,
        StoreFailedError,
        InvalidConfigError,
        UnavailableError,
        AccessDeniedError,
        InvalidArgsError,
        InteractiveAuthorizationRequiredError,
    )
}


def error_from_dbus(name: Optional[str], message: str) -> LearningContractsError:
    """The exception for a D-Bus error reply: its own class when the name is one of
    :data:`ERRORS`, else the base class keeping the name."""
    cls = ERRORS.get(name or "")
    if cls is not None:
        return cls(message, name)
    return LearningContractsError(message, name or "org.freedesktop.DBus.Error.Failed")
