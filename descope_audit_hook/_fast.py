"""The fast path from parsed JSON to :class:`AuditEvent`: a whole batch checked column by column.

``verify()`` spends most of its time past ``json.loads`` here (docs/performance.md).
:func:`usual_columns` checks, one C-level pass per field, that every event of a batch
has its common field types; :func:`build_usual` builds those events (on first use of
``AuditBatch.events``) and cannot fail. :func:`fast_event` builds one event of the
common shape. Anything else is for the checked path in ``_payload``, which holds the
rules and names the failing JSON path; tests/fuzz/test_fast_path.py checks that both
agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from itertools import chain, repeat
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from ._models import _EPOCH, EMPTY_MAPPING, SEVERITY_WORDS, AuditEvent

__all__ = ["Unusual", "all_usual", "build_usual", "fast_event", "usual_columns"]

# --- the fast path --------------------------------------------------------------------
# verify() spends most of its time past json.loads here (see benchmarks/ and
# docs/performance.md). fast_event builds an event only when every field has its common
# type (strings or null, integer milliseconds, arrays of strings, an object); anything
# else, valid or not, goes to _event, which holds the rules and names the failing path.
# Both must build equal events: tests/fuzz/test_fast_path.py compares them.


class Unusual(Exception):
    """An event the fast path leaves to :func:`_event`."""


class _EventBuilder:
    """The layout of :class:`AuditEvent` without its frozen ``__setattr__``.

    Plain attribute stores on it, then one ``__class__`` assignment (allowed between
    classes with the same slots), cost a fifth of 14 ``object.__setattr__`` calls.
    """

    __slots__ = AuditEvent.__slots__


# fast_event sets exactly these; a field added to AuditEvent must be added there too.
_BUILT = (
    "action",
    "occurred",
    "severity",
    "actor_id",
    "user_id",
    "project_id",
    "tenants",
    "login_ids",
    "device",
    "method",
    "geo",
    "remote_address",
    "data",
    "raw",
)
if AuditEvent.__slots__ != _BUILT:  # pragma: no cover
    raise RuntimeError("the fast path of parse_events is out of step with AuditEvent's fields")

_KEYS = (
    "action",
    "occurred",
    "type",
    "actorId",
    "userId",
    "projectId",
    "tenants",
    "loginIds",
    "device",
    "method",
    "geo",
    "remoteAddress",
    "data",
)
_all_fields = itemgetter(*_KEYS)
_FIELD_COUNT = len(_KEYS)
_STR_OR_NONE = frozenset((str, type(None)))
_STR = frozenset((str,))
_ONE_MS = timedelta(milliseconds=1)
_view = MappingProxyType
_new_builder = object.__new__


def fast_event(obj: Any) -> AuditEvent:
    if type(obj) is not dict:
        raise Unusual
    try:
        # One C call when every field is there; an event with fewer keys skips the KeyError.
        fields = _all_fields(obj) if len(obj) >= _FIELD_COUNT else map(obj.get, _KEYS)
    except KeyError:  # an absent field: fine, just a little slower
        fields = map(obj.get, _KEYS)
    action, occurred, kind, actor, user, project, tenants, login_ids, device, method, geo, remote, data = fields
    if not (
        type(action) is str
        and action
        and type(occurred) is int
        and _STR_OR_NONE.issuperset(map(type, (kind, actor, user, project, device, method, geo, remote)))
    ):
        raise Unusual
    if type(login_ids) is list and _STR.issuperset(map(type, login_ids)):
        login_ids = tuple(login_ids)
    elif login_ids is None and "externalIds" not in obj:
        login_ids = ()
    else:
        raise Unusual
    if tenants is None:
        tenants = ()
    elif type(tenants) is list and _STR.issuperset(map(type, tenants)):
        tenants = tuple(tenants)
    else:
        raise Unusual
    if type(data) is dict:
        data = _view(data)
    elif data is None:
        data = EMPTY_MAPPING
    else:
        raise Unusual
    severity = None
    if kind:
        severity = SEVERITY_WORDS.get(kind)
        if severity is None:
            severity = SEVERITY_WORDS.get(kind.lower())
    try:
        # Exact integer arithmetic, equal to occurred_from_ms().
        when = _EPOCH + _ONE_MS * occurred
    except OverflowError:
        raise Unusual from None
    event: Any = _new_builder(_EventBuilder)
    event.action = action
    event.occurred = when
    event.severity = severity
    event.actor_id = actor or None
    event.user_id = user or None
    event.project_id = project or None
    event.tenants = tenants
    event.login_ids = login_ids
    event.device = device or None
    event.method = method or None
    event.geo = geo or None
    event.remote_address = remote or None
    event.data = data
    event.raw = _view(obj)
    event.__class__ = AuditEvent
    return event  # type: ignore[no-any-return]


# --- the batch check ------------------------------------------------------------------
# all_usual() answers "would fast_event accept every item?" without a Python-level loop
# over the events: one C-level pass per field (map, set.issuperset, min/max). A False
# sends the batch through the per-event path in _payload, which finds and names the problem.
# tests/fuzz/test_fast_path.py checks that all_usual() never accepts what fast_event
# would refuse.

_getter = dict.get
_has_key = dict.__contains__
_DICTS = frozenset((dict,))
_INTS = frozenset((int,))
_LISTS_OR_NONE = frozenset((list, type(None)))
_DICTS_OR_NONE = frozenset((dict, type(None)))
# The milliseconds that _EPOCH + timedelta can reach: 0001-01-01 to 9999-12-31 UTC.
_MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)
_MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)


# Descope's events always carry these (its console and fixtures); one itemgetter call per
# event reads them. The others are often left out and are read with a default.
_EVERY = ("action", "occurred", "type", "actorId", "userId", "projectId", "tenants", "data")
_ALWAYS = itemgetter(*_EVERY)
_SOMETIMES = ("device", "method", "geo", "remoteAddress")


def _column(items: list[Any], key: str, default: Any = None) -> list[Any]:
    return list(map(_getter, items, repeat(key), repeat(default)))


def _strings(values: Iterable[Any]) -> bool:
    try:
        # str.join type-checks each item in C: the cheapest test that all are strings.
        "".join(values)
    except TypeError:
        return False
    return True


def all_usual(items: list[Any]) -> bool:
    """Whether :func:`fast_event` builds every item (all dicts, every field of its common type)."""
    return usual_columns(items) is not None


def usual_columns(items: list[Any]) -> tuple[Sequence[Any], ...] | None:
    """The fields of every item, column by column, if every item is usual; else ``None``."""
    if not items:
        return ((),) * 14
    if not _DICTS.issuperset(map(type, items)) or any(map(_has_key, items, repeat("externalIds"))):
        return None
    columns: list[Any]
    try:
        columns = list(zip(*map(_ALWAYS, items), strict=True))
    except KeyError:
        columns = [_column(items, key) for key in _EVERY]
    action, occurred, kind, actor, user, project, tenants, data = columns
    login_ids = _column(items, "loginIds")
    # A missing string field reads as "", which the event stores as None, as it does a null.
    device, method, geo, remote = strings = [_column(items, key, "") for key in _SOMETIMES]
    strings += (kind, actor, user, project)
    usual = (
        _strings(action)
        and all(action)
        and _INTS.issuperset(map(type, occurred))
        and min(occurred) >= _MIN_MS
        and max(occurred) <= _MAX_MS
        # All strings (the usual case), else strings and nulls.
        and (_strings(chain(*strings)) or _STR_OR_NONE.issuperset(map(type, chain(*strings))))
        and _LISTS_OR_NONE.issuperset(map(type, chain(tenants, login_ids)))
        and _strings(map("".join, filter(None, chain(tenants, login_ids))))  # one join per list
        and _DICTS_OR_NONE.issuperset(map(type, data))
    )
    if not usual:
        return None
    return (items, action, occurred, kind, actor, user, project, tenants, login_ids, device, method, geo, remote, data)


def build_usual(columns: tuple[Sequence[Any], ...]) -> tuple[AuditEvent, ...]:
    """The events of columns :func:`usual_columns` accepted: no check left, nothing can fail.

    What :func:`fast_event` builds, field for field (tests/fuzz/test_fast_path.py), in
    one loop with the C-level parts (datetimes) done column-wise first.
    """
    items, action, occurred, kind, actor, user, project, tenants, login_ids, device, method, geo, remote, data = columns
    whens = map(_EPOCH.__add__, map(_ONE_MS.__mul__, occurred))
    severities = SEVERITY_WORDS
    built: list[AuditEvent] = []
    append = built.append
    new, builder, view, empty, final = _new_builder, _EventBuilder, _view, EMPTY_MAPPING, AuditEvent
    for obj, act, when, kin, act_id, usr, proj, ten, log, dev, meth, geo_, rem, dat in zip(
        items, action, whens, kind, actor, user, project, tenants, login_ids, device, method, geo, remote, data,
        strict=True,
    ):  # fmt: skip
        event: Any = new(builder)
        event.action = act
        event.occurred = when
        event.severity = (severities.get(kin) or severities.get(kin.lower())) if kin else None
        event.actor_id = act_id or None
        event.user_id = usr or None
        event.project_id = proj or None
        event.tenants = tuple(ten) if ten else ()
        event.login_ids = tuple(log) if log else ()
        event.device = dev or None
        event.method = meth or None
        event.geo = geo_ or None
        event.remote_address = rem or None
        event.data = empty if dat is None else view(dat)
        event.raw = view(obj)
        event.__class__ = final
        append(event)
    return tuple(built)
