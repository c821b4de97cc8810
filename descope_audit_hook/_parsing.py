"""From a parsed payload to :class:`AuditEvent` s: the shapes a payload may take, and the two checks.

Both checks apply each field's kind (``_field_kinds``), as the table in ``_events`` names
it, and hand the checked values to ``_compiled.made_events``:

* **one event at a time** (``_compiled.checked_row``): every rule, and a
  :class:`PayloadError` naming the JSON path of the first problem;
* **column by column** (:func:`checked_columns`), for a batch of more than a few events:
  one C-level pass per kind over every value of its fields, no Python loop over the
  events. It takes only the usual shape (integer ``occurred``, no ``externalIds``, ...);
  anything else, or any problem, sends the batch one event at a time, so the first bad
  event is reported as the first path would report it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from itertools import repeat
from operator import itemgetter
from typing import Any, NoReturn

from ._batch import AuditBatch
from ._compiled import checked_row, made_events
from ._errors import PayloadError
from ._events import FIELDS, AuditEvent
from ._signature import SignedForm

__all__ = ["checked_columns", "parse_batch", "parse_events"]

# Up to this many events, checking them one at a time is faster than the column check,
# whose dozen C-level passes cost ~8 µs whatever the batch (benchmarks/run.py --only breakdown).
_FEW = 8


def _fail(message: str, path: str) -> NoReturn:
    raise PayloadError(message, path=path)


# --- column by column ---------------------------------------------------------------------
# Descope's events always carry these keys (its console and fixtures): one itemgetter call
# per event reads them all, where a dict.get per key and event costs ~40 ns more each. A
# batch that lacks one of them is read key by key. The other keys are often left out.
_USUALLY_SENT = ("action", "occurred", "type", "actorId", "userId", "projectId", "tenants", "data")
_SENT = itemgetter(*_USUALLY_SENT)
_SENT_AT = {key: index for index, key in enumerate(_USUALLY_SENT)}
_ALIASES = tuple(alias for row in FIELDS for alias in row.aliases)
_DICTS = frozenset((dict,))
_has_key = dict.__contains__
_get = dict.get


def _checks() -> tuple[tuple[Callable[[Sequence[Sequence[Any]]], bool], tuple[int, ...]], ...]:
    """Each column check once, with the fields it covers, in the order of their first field."""
    groups: dict[Callable[[Sequence[Sequence[Any]]], bool], list[int]] = {}
    for index, row in enumerate(FIELDS):
        if row.key is not None:
            groups.setdefault(row.kind.check_columns, []).append(index)
    return tuple((check, tuple(indexes)) for check, indexes in groups.items())


_CHECKS = _checks()


# Per field: where the column check finds its values (its place among the usually sent
# keys, else its key and the value of an absent key), and which kinds convert a column.
_PLAN = tuple((_SENT_AT.get(row.key or ""), row.key, row.kind.absent) for row in FIELDS)
_CONVERTED = tuple((index, row.kind.column) for index, row in enumerate(FIELDS) if row.kind.converts_columns)


def checked_columns(items: list[Any]) -> list[Iterable[Any]] | None:
    """The checked values of every item, column by column (one per field), or ``None``.

    ``None`` when an item is not an object, uses an alias key (``externalIds``), or has a
    value the column checks do not take: then ``checked_row`` decides, one event at a time.
    """
    if not items:
        return [() for _ in FIELDS]
    if not _DICTS.issuperset(map(type, items)):
        return None
    for alias in _ALIASES:
        if any(map(_has_key, items, repeat(alias))):
            return None
    sent: list[Sequence[Any]] = []
    with suppress(KeyError):  # a batch without one of them: every key is read with a default
        sent = list(zip(*map(_SENT, items), strict=True))
    columns: list[Any] = [
        items
        if key is None
        else sent[at]
        if sent and at is not None
        else list(map(_get, items, repeat(key), repeat(absent)))
        for at, key, absent in _PLAN
    ]
    for check, indexes in _CHECKS:
        if not check([columns[index] for index in indexes]):
            return None
    for index, convert in _CONVERTED:
        columns[index] = convert(columns[index])
    return columns


# --- payloads -----------------------------------------------------------------------------


def _items(value: Any) -> tuple[list[Any], str] | dict[str, Any]:
    """The list of events and its JSON path, or the one event object of a single-object body."""
    path = "$"
    if type(value) is dict:
        keys = [key for key in ("audits", "events") if key in value]
        if len(keys) == 2:
            _fail("both audits and events given", path)
        if keys:
            path = f"$.{keys[0]}"
            value = value[keys[0]]
            if type(value) is not list:
                _fail("expected an array of audit events", path)
        else:
            return value
    elif type(value) is not list:
        _fail("expected an array of audit events or an event object", path)
    return value, path


def parse_events(value: Any) -> tuple[AuditEvent, ...]:
    """Accept what Descope sends (an array), a single event object, or ``{"audits"|"events": [...]}``."""
    found = _items(value)
    if isinstance(found, dict):
        return tuple(made_events([checked_row(found, "$")]))
    items, path = found
    if len(items) == 1:  # one event, the commonest small delivery: a tenth of its fixed cost is the loop below
        return tuple(made_events((checked_row(items[0], path + "[0]"),)))
    if len(items) > _FEW:
        columns = checked_columns(items)
        if columns is not None:
            return tuple(made_events(zip(*columns, strict=True)))
    # Every event one at a time, in order, so that the first bad one is reported.
    return tuple(made_events([checked_row(item, f"{path}[{index}]") for index, item in enumerate(items)]))


def parse_batch(
    value: Any, signed_form: SignedForm | None, body: bytes, claims: Mapping[str, Any] | None = None
) -> AuditBatch:
    """:func:`parse_events` as an :class:`AuditBatch` of the given signed form, signed bytes and claims.

    ``claims``: what the token validator returned.
    """
    events = parse_events(value)
    if claims is None:
        return AuditBatch(events, signed_form, body)  # no keyword: a fifth less per request
    return AuditBatch(events, signed_form, body, claims=claims)
