"""An audit event: :class:`AuditEvent` and the table of its fields, :class:`Severity`, :class:`Action`.

Each field is declared once, in :class:`AuditEvent`'s body: its type and default, and an
:class:`EventField` row with its JSON key, its kind (``_field_kinds``), its place in the
fingerprint, its column in the reference receiver's database and how the audit page and
``verify`` show it. :data:`FIELDS` reads the rows back; from them come the checks of a
hand-made event, :meth:`AuditEvent.to_dict`, :attr:`AuditEvent.fingerprint`, both ways
the parser checks events and the one way it makes them (``_parsing``, ``_compiled``),
the receiver's table and rows, and the command line's output. Adding a field is adding
one declaration here (and its tests).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any

from ._codegen import compiled, merge_names
from ._field_kinds import (
    EMPTY_MAPPING,
    Kind,
    Mapped,
    OptionalText,
    Text,
    Texts,
    Time,
    Whole,
    Word,
)
from ._json import canonical_json
from ._time import ms_of

__all__ = ["FIELDS", "KEYED", "LISTED", "SEVERITY_WORDS", "Action", "AuditEvent", "EventField", "Severity"]


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


@dataclass(frozen=True)
class EventField:
    """One row of the table of an event's fields."""

    #: The JSON key; ``None`` for ``raw``, the event object itself.
    key: str | None
    kind: Kind
    #: Other keys read when ``key`` is absent (``externalIds`` for ``loginIds``).
    aliases: tuple[str, ...] = ()
    #: Its place in the list the fingerprint hashes; ``None``: not part of the fingerprint.
    fingerprint: int | None = None
    #: Its column in the reference receiver's SQLite table.
    column: str | None = None
    #: Its column heading on the audit page; ``None``: not a column there.
    heading: str | None = None
    #: Its label in ``verify``'s one line per event: ``""`` shown bare, ``None`` left out.
    label: str | None = None
    #: The attribute of :class:`AuditEvent` (filled in from the class).
    name: str = ""


_ROW = "descope_audit_hook.field"
TEXT, OPTIONAL_TEXT, TEXTS, TIME, MAPPED, WHOLE = Text(), OptionalText(), Texts(), Time(), Mapped(), Whole()
SEVERITY = Word(Severity, SEVERITY_WORDS)


def _row(key: str | None, kind: Kind, **about: Any) -> dict[str, EventField]:
    return {_ROW: EventField(key, kind, **about)}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event, validated. ``raw`` keeps the object as received, unknown fields included.

    ``data`` and ``raw`` are read-only at the top level; their nested values are the
    parsed JSON. Login IDs, addresses and ``data`` are left out of ``repr`` so that a
    logged event does not spill personal data by accident.
    """

    # The table of an event's fields: the dataclass's options, then the field's row (EventField).
    # fmt: off
    action: str = field(metadata=_row(
        "action", TEXT, fingerprint=0, column="action", heading="Action", label=""))
    occurred: datetime = field(metadata=_row(
        "occurred", TIME, fingerprint=1, column="occurred_ms", heading="Time", label=""))
    severity: Severity | None = field(default=None, metadata=_row(
        "type", SEVERITY, fingerprint=11, column="severity", heading="Severity", label=""))
    actor_id: str | None = field(default=None, metadata=_row(
        "actorId", OPTIONAL_TEXT, fingerprint=3, column="actor_id", heading="Actor", label="actor"))
    user_id: str | None = field(default=None, metadata=_row(
        "userId", OPTIONAL_TEXT, fingerprint=4, column="user_id", heading="User", label="user"))
    project_id: str | None = field(default=None, metadata=_row(
        "projectId", OPTIONAL_TEXT, fingerprint=2, column="project_id"))
    tenants: tuple[str, ...] = field(default=(), metadata=_row(
        "tenants", TEXTS, fingerprint=5, column="tenants", heading="Tenants", label="tenants"))
    login_ids: tuple[str, ...] = field(default=(), repr=False, metadata=_row(
        "loginIds", TEXTS, aliases=("externalIds",), fingerprint=6, column="login_ids", heading="Login IDs",
        label="loginIds"))
    device: str | None = field(default=None, repr=False, metadata=_row(
        "device", OPTIONAL_TEXT, fingerprint=7, column="device", heading="Device"))
    method: str | None = field(default=None, repr=False, metadata=_row(
        "method", OPTIONAL_TEXT, fingerprint=8, column="method", heading="Method", label="method"))
    geo: str | None = field(default=None, repr=False, metadata=_row(
        "geo", OPTIONAL_TEXT, fingerprint=9, column="geo", heading="Geo", label="geo"))
    remote_address: str | None = field(default=None, repr=False, metadata=_row(
        "remoteAddress", OPTIONAL_TEXT, fingerprint=10, column="remote_address", heading="Remote address", label="ip"))
    data: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING, repr=False, hash=False, metadata=_row(
        "data", MAPPED, fingerprint=12, column="data", heading="Data"))
    raw: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING, repr=False, hash=False, compare=False,
        metadata=_row(None, WHOLE, column="raw"))
    # fmt: on

    def __post_init__(self) -> None:
        # The same invariants as a parsed event's (the parser checks them on the JSON, see _parsing).
        for row in FIELDS:
            if not row.kind.holds(getattr(self, row.name)):
                raise TypeError(f"AuditEvent.{row.name} must be {row.kind.expected}")

    @property
    def occurred_ms(self) -> int:
        """``occurred`` as Descope sends it: integer milliseconds since the Unix epoch."""
        return ms_of(self.occurred)

    @property
    def fingerprint(self) -> str:
        """A stable hex id of the event, equal for a redelivery of it; the key for deduplication.

        Descope sends no event id, so this hashes every identifying field (not ``raw``,
        which may gain new fields, nor ``occurred_formatted``, which is derived).
        """
        identity = _identity(self)
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
        values = tuple(getattr(self, row.name) for row in FIELDS)
        return _unpickle_event, (tuple(dict(v) if isinstance(v, Mapping) else v for v in values),)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the event's own shape, with the typed values normalised."""
        result: dict[str, Any] = _to_dict(self)
        return result


#: The table of an event's fields, in the order of :class:`AuditEvent`'s.
FIELDS: tuple[EventField, ...] = tuple(replace(item.metadata[_ROW], name=item.name) for item in fields(AuditEvent))
#: The fields with a JSON key (all but ``raw``), in order: :meth:`AuditEvent.to_dict`'s.
KEYED: tuple[EventField, ...] = tuple(row for row in FIELDS if row.key is not None)


def _writer(rows: Iterable[EventField], *, keyed: bool) -> Callable[[AuditEvent], Any]:
    """The fields ``rows`` of an event as JSON values (their kinds' ``write``), compiled
    (``_codegen``): ``to_dict`` and the fingerprint run per event, ``exactly_once`` takes
    every fingerprint. A dict by JSON key if ``keyed``, else a list."""
    names: dict[str, object] = {}
    values = []
    for row in rows:
        merge_names(names, row.kind.names)
        value = row.kind.write.format(v=f"event.{row.name}")
        values.append(f"{row.key!r}: {value}" if keyed else value)
    body = "{" + ", ".join(values) + "}" if keyed else "[" + ", ".join(values) + "]"
    writer: Callable[[AuditEvent], Any] = compiled([f"def compiled(event): return {body}"], names)
    return writer


_to_dict = _writer(KEYED, keyed=True)
_identity = _writer(
    sorted((row for row in FIELDS if row.fingerprint is not None), key=lambda r: r.fingerprint or 0), keyed=False
)


#: The fields as listings show them: the time first (what a row is sorted by), then in order.
LISTED: tuple[EventField, ...] = tuple(sorted(FIELDS, key=lambda row: not isinstance(row.kind, Time)))


def _unpickle_event(values: tuple[Any, ...]) -> AuditEvent:
    wrapped: list[Any] = [
        MappingProxyType(value) if isinstance(row.kind, Mapped) else value
        for row, value in zip(FIELDS, values, strict=True)
    ]
    return AuditEvent(*wrapped)
