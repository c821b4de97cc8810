"""The per-event code of the parser, compiled from the table of fields (``_codegen``).

* :func:`checked_row`: one event object's checked values, every field's ``read`` rule
  applied, or the :class:`PayloadError` of its first problem;
* :func:`made_events`: the events of rows of checked values, whether they come from
  :func:`checked_row` or from the column check (``_parsing``). It is the one way the
  parser makes an :class:`AuditEvent`.

``made_events`` stores the values with plain attribute stores on an object of
:class:`AuditEvent`'s layout without its frozen ``__setattr__``, which then becomes an
:class:`AuditEvent` by one ``__class__`` assignment (allowed between classes with the
same slots): a fifth of the cost of 14 ``object.__setattr__`` calls, a ninth of
``AuditEvent(...)`` (``benchmarks/run.py --only breakdown``). ``__post_init__``
does not run; the values keep its invariants because every kind's ``read`` and column
check lead to values its ``finish`` turns into ones that ``holds`` accepts
(tests/core/test_field_kinds.py), and every parsed event is checked against them in
tests/core/test_parsing_columns.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from ._codegen import compiled, merge_names
from ._errors import PayloadError
from ._events import FIELDS, AuditEvent

__all__ = ["checked_row", "made_events"]


class _Unfrozen:
    """:class:`AuditEvent`'s layout without its frozen ``__setattr__``: an event being made."""

    __slots__ = AuditEvent.__slots__


def _not_an_event(path: str) -> NoReturn:
    raise PayloadError("expected an audit event object", path=path)


_VALUES = [f"v{index}" for index in range(len(FIELDS))]


def _checked_row() -> Callable[[Any, str], tuple[Any, ...]]:
    names: dict[str, object] = {"_not_an_event": _not_an_event}
    lines = [
        "def compiled(obj, path):",
        "    if type(obj) is not dict:",
        "        _not_an_event(path)",
        "    get = obj.get",
    ]
    for index, (row, value) in enumerate(zip(FIELDS, _VALUES, strict=True)):
        if row.key is None:
            lines.append(f"    {value} = obj")  # raw: the object itself
            continue
        key = repr(row.key)
        if row.aliases:
            lines.append(f"    key{index} = {key}")
            for alias in reversed(row.aliases):  # the first alias present wins, if the key is absent
                lines.append(f"    if {key} not in obj and {alias!r} in obj: key{index} = {alias!r}")
            key = f"key{index}"
        names[f"read{index}"] = row.kind.read
        call = f"read{index}({value}, path, {key})"
        lines.append(f"    {value} = get({key})")
        if row.kind.accepts is None:
            lines.append(f"    {value} = {call}")
        else:
            lines.append(f"    if not ({row.kind.accepts.format(v=value)}): {value} = {call}")
    lines.append(f"    return ({', '.join(_VALUES)},)")
    checked: Callable[[Any, str], tuple[Any, ...]] = compiled(lines, names)
    return checked


def _made_events() -> Callable[[Iterable[Sequence[Any]]], list[AuditEvent]]:
    names: dict[str, object] = {"_new": object.__new__, "_unfrozen": _Unfrozen, "_event": AuditEvent}
    stores = []
    for row, value in zip(FIELDS, _VALUES, strict=True):
        merge_names(names, row.kind.names)
        stores.append(f"        event.{row.name} = {row.kind.finish.format(v=value)}")
    lines = [
        "def compiled(rows):",
        "    built = []",
        "    append = built.append",
        f"    for {', '.join(_VALUES)} in rows:",
        "        event = _new(_unfrozen)",
        *stores,
        "        event.__class__ = _event",
        "        append(event)",
        "    return built",
    ]
    made: Callable[[Iterable[Sequence[Any]]], list[AuditEvent]] = compiled(lines, names)
    return made


#: ``checked_row(obj, path)``: the checked values of one event object, one per field of
#: ``FIELDS`` in order, or the :class:`PayloadError` of its first problem (at ``path``).
checked_row = _checked_row()

#: ``made_events(rows)``: the events of rows of checked values (one per field of ``FIELDS``,
#: in order, as its kind's ``read`` returns it or its ``column`` gives it). No check is left.
made_events = _made_events()
