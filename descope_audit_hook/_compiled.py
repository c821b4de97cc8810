"""The per-event code of the parser, compiled from the table of fields as dataclasses compile ``__init__``.

* :func:`checked_row`: one event object's checked values, every field's ``read`` rule
  applied, or the :class:`PayloadError` of its first problem;
* :func:`made_events`: the events of rows of checked values, whether they come from
  :func:`checked_row` or from the column check (``_parsing``). It is the one way the
  parser makes an :class:`AuditEvent`.

Why compiled: per event, a loop over the table costs about a microsecond more than code
with each field written out (its key, its kind's test inlined), and the parser runs per
event on every delivery (``benchmarks/run.py --only breakdown``: "made_events",
"checked_row"). The source is built from the table alone, nothing else.

``made_events`` stores the values with plain attribute stores on an object of
:class:`AuditEvent`'s layout without its frozen ``__setattr__``, which then becomes an
:class:`AuditEvent` by one ``__class__`` assignment (allowed between classes with the
same slots): a fifth of the cost of 14 ``object.__setattr__`` calls. ``__post_init__``
does not run; the values keep its invariants because every kind's ``read`` and column
check lead to values its ``finish`` turns into ones that ``holds`` accepts
(tests/core/test_field_kinds.py), and every parsed event is checked against them in
tests/core/test_parsing_columns.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from ._errors import PayloadError
from ._events import FIELDS, AuditEvent

__all__ = ["checked_row", "made_events"]


class _Unfrozen:
    """:class:`AuditEvent`'s layout without its frozen ``__setattr__``: an event being made."""

    __slots__ = AuditEvent.__slots__


def _not_an_event(path: str) -> NoReturn:
    raise PayloadError("expected an audit event object", path=path)


def _compile(source: list[str], names: dict[str, object]) -> Any:
    text = "\n".join([f"def _bind({', '.join(names)}):", *("    " + line for line in source), f"    return {_NAME}"])
    scope: dict[str, Any] = {}
    exec(text, {}, scope)  # noqa: S102 - the source is built from the table of fields, nothing else
    return scope["_bind"](**names)


def _add(names: dict[str, object], more: Iterable[tuple[str, object]]) -> None:
    for name, obj in more:
        if names.setdefault(name, obj) is not obj:  # pragma: no cover - two kinds use one name
            raise RuntimeError(f"two kinds of field use the name {name}")


_NAME = "compiled"
_VALUES = [f"v{index}" for index in range(len(FIELDS))]


def _checked_row() -> Callable[[Any, str], tuple[Any, ...]]:
    names: dict[str, object] = {"_not_an_event": _not_an_event}
    lines = [
        f"def {_NAME}(obj, path):",
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
    checked: Callable[[Any, str], tuple[Any, ...]] = _compile(lines, names)
    return checked


def _made_events() -> Callable[[Iterable[Sequence[Any]]], list[AuditEvent]]:
    names: dict[str, object] = {"_new": object.__new__, "_unfrozen": _Unfrozen, "_event": AuditEvent}
    stores = []
    for row, value in zip(FIELDS, _VALUES, strict=True):
        _add(names, row.kind.names.items())
        stores.append(f"        event.{row.name} = {row.kind.finish.format(v=value)}")
    lines = [
        f"def {_NAME}(rows):",
        "    built = []",
        "    append = built.append",
        f"    for {', '.join(_VALUES)} in rows:",
        "        event = _new(_unfrozen)",
        *stores,
        "        event.__class__ = _event",
        "        append(event)",
        "    return built",
    ]
    made: Callable[[Iterable[Sequence[Any]]], list[AuditEvent]] = _compile(lines, names)
    return made


#: ``checked_row(obj, path)``: the checked values of one event object, one per field of
#: ``FIELDS`` in order, or the :class:`PayloadError` of its first problem (at ``path``).
checked_row = _checked_row()

#: ``made_events(rows)``: the events of rows of checked values (one per field of ``FIELDS``,
#: in order, as its kind's ``read`` returns it or its ``column`` gives it). No check is left.
made_events = _made_events()
