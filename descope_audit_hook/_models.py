"""The typed results: :class:`AuditEvent`, :class:`AuditBatch`, :class:`Severity`, :class:`Action`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal, overload

__all__ = [
    "EMPTY_MAPPING",
    "SEVERITY_WORDS",
    "Action",
    "AuditBatch",
    "AuditEvent",
    "Severity",
    "SignedForm",
    "canonical_json",
]

#: Which string the signature was computed over; see docs/security.md.
SignedForm = Literal["raw", "trimmed", "compact", "compact-escaped"]

EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Severity(str, Enum):
    """An event's ``type``: Descope's SDKs say info/warn/error, its console Information/Warning/Error."""

    INFO = "info"
    WARNING = "warn"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: The words Descope uses for a severity (SDKs: info/warn/error; console: Information/...).
SEVERITY_WORDS: dict[str, Severity] = {
    "info": Severity.INFO,
    "information": Severity.INFO,
    "warn": Severity.WARNING,
    "warning": Severity.WARNING,
    "error": Severity.ERROR,
}


class Action(str, Enum):
    """Descope's documented audit actions. Custom actions exist: ``AuditEvent.action`` is a plain ``str``.

    Compare with ``event.action == Action.LOGIN_FAILED``.
    """

    USER_CREATED = "UserCreated"
    USERS_CREATED = "UsersCreated"
    USER_DELETED = "UserDeleted"
    USER_MODIFIED = "UserModified"
    USERS_MODIFIED = "UsersModified"
    USERS_DELETED = "UsersDeleted"
    ACCESS_KEY_CREATED = "AccessKeyCreated"
    ACCESS_KEY_DELETED = "AccessKeyDeleted"
    ACCESS_KEY_MODIFIED = "AccessKeyModified"
    ACCESS_KEYS_DELETED = "AccessKeysDeleted"
    LOGIN_SUCCEED = "LoginSucceed"
    LOGIN_STARTED = "LoginStarted"
    USER_REFRESH = "UserRefresh"
    PERMISSION_CREATED = "PermissionCreated"
    PERMISSION_MODIFIED = "PermissionModified"
    LOGIN_FAILED = "LoginFailed"
    LOGIN_EXCEED_MAX_ATTEMPTS = "LoginExceedMaxAttempts"
    LOGIN_STARTED_FAILED = "LoginStartedFailed"
    PROJECT_DELETED = "ProjectDeleted"
    PERMISSION_DELETED = "PermissionDeleted"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event, validated. ``raw`` keeps the object as received, unknown fields included.

    ``data`` and ``raw`` are read-only at the top level; their nested values are the
    parsed JSON. Login IDs, addresses and ``data`` are left out of ``repr`` so that a
    logged event does not spill personal data by accident.
    """

    action: str
    occurred: datetime
    severity: Severity | None = None
    actor_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    tenants: tuple[str, ...] = ()
    login_ids: tuple[str, ...] = field(default=(), repr=False)
    device: str | None = field(default=None, repr=False)
    method: str | None = field(default=None, repr=False)
    geo: str | None = field(default=None, repr=False)
    remote_address: str | None = field(default=None, repr=False)
    data: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING, repr=False, hash=False)
    raw: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING, repr=False, hash=False, compare=False)

    def __post_init__(self) -> None:
        # Events built by the parser are already checked; this guards hand-built ones.
        if not isinstance(self.action, str) or not self.action:
            raise TypeError("AuditEvent.action must be a non-empty str")
        if not isinstance(self.occurred, datetime) or self.occurred.tzinfo is None:
            raise TypeError("AuditEvent.occurred must be a timezone-aware datetime")
        if not isinstance(self.tenants, tuple) or not isinstance(self.login_ids, tuple):
            raise TypeError("AuditEvent.tenants and login_ids must be tuples")

    @property
    def occurred_ms(self) -> int:
        """``occurred`` as Descope sends it: integer milliseconds since the Unix epoch."""
        delta = self.occurred - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000

    @property
    def fingerprint(self) -> str:
        """A stable hex id of the event, equal for a redelivery of it; the key for deduplication.

        Descope sends no event id, so this hashes every identifying field (not ``raw``,
        which may gain new fields, nor ``occurred_formatted``, which is derived).
        """
        identity = [
            self.action,
            self.occurred_ms,
            self.project_id,
            self.actor_id,
            self.user_id,
            list(self.tenants),
            list(self.login_ids),
            self.device,
            self.method,
            self.geo,
            self.remote_address,
            self.severity.value if self.severity else None,
            dict(self.data),
        ]
        try:
            canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)
        except RecursionError:
            # ``data`` nested about as deep as the parser allows, and this call runs a few
            # frames deeper than verify() did: the same text, written without recursion.
            canonical = canonical_json(identity)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The read-only views cannot be pickled; send plain dicts and wrap them again, so
        # events and batches travel to multiprocessing workers and task queues.
        values = tuple(getattr(self, name) for name in _FIELD_NAMES)
        return _unpickle_event, (values[:-2], dict(self.data), dict(self.raw))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the event's own shape, with the typed values normalised."""
        return {
            "action": self.action,
            "occurred": self.occurred_ms,
            "type": self.severity.value if self.severity else None,
            "actorId": self.actor_id,
            "userId": self.user_id,
            "projectId": self.project_id,
            "tenants": list(self.tenants),
            "loginIds": list(self.login_ids),
            "device": self.device,
            "method": self.method,
            "geo": self.geo,
            "remoteAddress": self.remote_address,
            "data": dict(self.data),
        }


class _Raw(str):
    """Already-encoded JSON text on the work stack of :func:`canonical_json`."""


def _key_text(key: object) -> str:
    # json.dumps turns str, int, float, bool and None keys into strings, and refuses others.
    if not isinstance(key, str):
        if not (key is None or isinstance(key, (int, float))):
            raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
        key = json.dumps(key)
    return json.dumps(key) + ":"


def canonical_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)``, without recursion."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Raw:
            out.append(item)
        elif item is None or isinstance(item, (str, int, float)):  # bool is an int
            out.append(json.dumps(item))
        elif isinstance(item, (list, tuple)):
            stack.append(_Raw("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        elif isinstance(item, dict):
            pairs = sorted(item.items(), key=lambda pair: pair[0])
            stack.append(_Raw("}"))
            for index in range(len(pairs) - 1, -1, -1):
                key, child = pairs[index]
                stack.append(child)
                stack.append(_Raw(_key_text(key)))
                if index:
                    stack.append(_Raw(","))
            stack.append(_Raw("{"))
        else:
            stack.append(repr(item))
    return "".join(out)


_FIELD_NAMES: tuple[str, ...] = AuditEvent.__slots__


def _unpickle_event(values: tuple[Any, ...], data: dict[str, Any], raw: dict[str, Any]) -> AuditEvent:
    fields: dict[str, Any] = dict(zip(_FIELD_NAMES[:-2], values, strict=True))
    return AuditEvent(**fields, data=MappingProxyType(data), raw=MappingProxyType(raw))


def _unpickle_batch(values: dict[str, Any]) -> AuditBatch:
    return AuditBatch(**values)


def occurred_from_ms(ms: int) -> datetime:
    """Exact conversion (no float rounding) of epoch milliseconds to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class AuditBatch(Sequence[AuditEvent]):
    """The verified events of one delivery: a read-only sequence of :class:`AuditEvent`.

    ``signed_form`` says which form of the payload the signature matched (``None`` when
    no HMAC secret is configured). ``body`` holds the bytes the signature covers: the
    received body under ``raw``, the body without its trailing whitespace under
    ``trimmed``, the re-serialized string under ``compact`` and ``compact-escaped``, the
    received body when no secret is configured; the events are read from those bytes
    (docs/security.md). It is kept out of ``repr``. ``duplicates`` counts events dropped
    because they were completed before or repeated inside the delivery; ``in_progress``
    those dropped because another request holds them (both set by ``exactly_once``).
    ``claims`` is what the Bearer token validator returned, read-only and kept out of
    ``repr`` (``None`` when no validator checked the token).
    """

    events: tuple[AuditEvent, ...]
    signed_form: SignedForm | None = None
    body: bytes = field(default=b"", repr=False)
    duplicates: int = 0
    in_progress: int = 0
    claims: Mapping[str, Any] | None = field(default=None, repr=False, hash=False)

    def __post_init__(self) -> None:
        claims = self.claims
        if claims is not None and type(claims) is not MappingProxyType:
            if not isinstance(claims, Mapping):
                raise TypeError("AuditBatch.claims must be a mapping or None")
            object.__setattr__(self, "claims", MappingProxyType(dict(claims)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The read-only claims cannot be pickled (nor deep-copied): send a plain dict, wrapped again.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if values["claims"] is not None:
            values["claims"] = dict(values["claims"])
        return _unpickle_batch, (values,)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[AuditEvent]:
        return iter(self.events)

    @overload
    def __getitem__(self, index: int) -> AuditEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AuditEvent]: ...

    def __getitem__(self, index: int | slice) -> AuditEvent | Sequence[AuditEvent]:
        return self.events[index]
