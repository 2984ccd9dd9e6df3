"""A client for learning-contractsd: an agent asks before it learns, generalizes, recalls or
exports, and does what the answer says.

    from learning_contracts import Client, request

    with Client() as client:                       # the system bus; "session" for --user
        answer = client.register_memory(request("coding", "project-x", 1, abstraction="raw"))
        if answer:
            keep(answer.memory_id)

:class:`Client` blocks; :class:`AsyncClient` has the same methods as coroutines.
"""

from __future__ import annotations

from typing import Any, Dict

from ._spec import BUS_NAME, METHODS, OBJECT_PATH, PROPERTIES, SIGNALS
from ._wire import CHECK_BATCH_MAX, CHECK_KINDS, Variant, encode_dict
from .aio import AsyncClient, AsyncEvents, AsyncSession
from .client import Client, Events, Session
from .errors import (
    ERRORS,
    AccessDeniedError,
    AlreadyExistsError,
    InteractiveAuthorizationRequiredError,
    InvalidArgsError,
    InvalidConfigError,
    InvalidSpecError,
    InvalidStateError,
    LearningContractsError,
    LimitReachedError,
    NotFoundError,
    NotRevocableError,
    StoreFailedError,
    TokenInvalidError,
    UnavailableError,
    error_from_dbus,
)
from .types import (
    AuditVerification,
    ContractChanged,
    ContractsResumed,
    ContractsSuspended,
    Decision,
    DraftFromText,
    Event,
    MemoriesChanged,
    ModeSwitched,
    Registration,
    SessionEnded,
)

__version__ = "0.1.0"


def request(domain: str, context: str, classification: int, **keys: Any) -> Dict[str, Any]:
    """A check or registration request: ``domain``, ``context`` and ``classification`` (0–5),
    plus any other key (``tool``, ``contract_id``, ``abstraction``, ``memory_id``,
    ``derived_from``, ``owner``)."""
    return {"domain": domain, "context": context, "classification": classification, **keys}


__all__ = [
    "BUS_NAME",
    "OBJECT_PATH",
    "METHODS",
    "SIGNALS",
    "PROPERTIES",
    "CHECK_BATCH_MAX",
    "CHECK_KINDS",
    "Variant",
    "encode_dict",
    "request",
    "Client",
    "Session",
    "Events",
    "AsyncClient",
    "AsyncSession",
    "AsyncEvents",
    "Decision",
    "Registration",
    "DraftFromText",
    "AuditVerification",
    "Event",
    "ModeSwitched",
    "MemoriesChanged",
    "ContractChanged",
    "ContractsSuspended",
    "ContractsResumed",
    "SessionEnded",
    "ERRORS",
    "error_from_dbus",
    "LearningContractsError",
    "NotFoundError",
    "InvalidStateError",
    "InvalidSpecError",
    "NotRevocableError",
    "TokenInvalidError",
    "AlreadyExistsError",
    "LimitReachedError",
    "StoreFailedError",
    "InvalidConfigError",
    "UnavailableError",
    "AccessDeniedError",
    "InvalidArgsError",
    "InteractiveAuthorizationRequiredError",
]
