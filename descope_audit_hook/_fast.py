"""The fast path from parsed JSON to :class:`AuditEvent`: a whole batch checked column by column.

``verify()`` spends most of its time past ``json.loads`` here (docs/performance.md).
:func:`usual_columns` checks, one C-level pass per field, that every event of a batch
has its common field types; :func:`build_usual` builds those events and cannot fail.
Anything else (and a batch of a few events, built faster one by one) is for the checked
path in ``_payload``, which holds the rules and names the failing JSON path;
tests/fuzz/test_fast_path.py checks that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from itertools import chain, repeat
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from ._models import _EPOCH, EMPTY_MAPPING, SEVERITY_WORDS, AuditEvent

__all__ = ["EventBuilder", "all_usual", "build_usual", "usual_columns"]


class EventBuilder:
    """The layout of :class:`AuditEvent` without its frozen ``__setattr__``.

    Plain attribute stores on it, then one ``__class__`` assignment (allowed between
    classes with the same slots), cost a fifth of 14 ``object.__setattr__`` calls.
    """

    __slots__ = AuditEvent.__slots__


# build_usual and _payload._event set exactly these; a field added to AuditEvent must be added there too.
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
    raise RuntimeError("build_usual is out of step with AuditEvent's fields")

_STR_OR_NONE = frozenset((str, type(None)))
_ONE_MS = timedelta(milliseconds=1)
_view = MappingProxyType
_new_builder = object.__new__


# --- the batch check ------------------------------------------------------------------
# usual_columns() answers "has every event its common field types?" without a
# Python-level loop over the events: one C-level pass per field (map, str.join,
# set.issuperset, min/max). A None sends the batch through the checked per-event path in
# _payload, which accepts the other valid shapes (ISO timestamps, externalIds, ...) and
# names the first problem. tests/fuzz/test_fast_path.py checks that it never accepts what
# the checked path refuses, and that both build equal events.

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
    """Whether every item is an event object with every field of its common type."""
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

    What the checked path in ``_payload`` builds, field for field
    (tests/fuzz/test_fast_path.py), in one loop with the datetimes computed column-wise first.
    """
    items, action, occurred, kind, actor, user, project, tenants, login_ids, device, method, geo, remote, data = columns
    whens = map(_EPOCH.__add__, map(_ONE_MS.__mul__, occurred))
    severities = SEVERITY_WORDS
    built: list[AuditEvent] = []
    append = built.append
    new, builder, view, empty, final = _new_builder, EventBuilder, _view, EMPTY_MAPPING, AuditEvent
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
