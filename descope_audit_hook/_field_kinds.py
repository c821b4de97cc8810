"""The kinds of an audit event's fields: each declares, once, every rule about its values.

A kind says what a field accepts from JSON and how it is checked there (one value, with
the JSON path of a failure, or a whole column at once), the value an event stores
(``finish``) and the invariant that value keeps (``holds``), and how it is written back
(``to_json``) and stored (``sql``). The table of fields in ``_events`` names a kind for
each field; every use of a field is derived from the two.

Between reading and storing sits the *checked value*: what :meth:`Kind.read` returns and
:meth:`Kind.column` gives for a column the column check accepted, and what ``finish``
turns into the stored value without a check left (``_compiled.made_events``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from itertools import chain
from types import MappingProxyType
from typing import Any, NoReturn

from ._codegen import expression
from ._errors import PayloadError
from ._time import MAX_MS, MIN_MS, from_iso, ms_of, occurred_from_ms, utc_datetimes

__all__ = [
    "EMPTY_MAPPING",
    "Kind",
    "Mapped",
    "OptionalText",
    "Text",
    "Texts",
    "Time",
    "Whole",
    "Word",
]

EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})


def _fail(message: str, path: str) -> NoReturn:
    # The JSON path of the problem, never the value: the body may hold personal data.
    raise PayloadError(message, path=path)


# --- column checks: one C-level pass per column, no Python loop over the events ------------
# Each takes every column of the fields that share it (chained), and is True only if every
# value would pass ``read``; it may refuse more (ISO timestamps, a batch with a null in a
# list), which then goes through ``read`` one event at a time. tests/core/test_field_kinds.py
# checks that, kind by kind, against ``read``.

_STR_OR_NONE = frozenset((str, type(None)))
_INTS = frozenset((int,))
_LISTS_OR_NONE = frozenset((list, type(None)))
_DICTS_OR_NONE = frozenset((dict, type(None)))


def _strings(values: Iterable[Any]) -> bool:
    try:
        # str.join type-checks each item in C: the cheapest test that all are strings.
        "".join(values)
    except TypeError:
        return False
    return True


def _nonempty_strings(columns: Sequence[Sequence[Any]]) -> bool:
    return all(_strings(column) and all(column) for column in columns)


def _optional_strings(columns: Sequence[Sequence[Any]]) -> bool:
    # All strings (the usual case: an absent key reads as ""), else strings and nulls.
    return _strings(chain(*columns)) or _STR_OR_NONE.issuperset(map(type, chain(*columns)))


def _string_lists(columns: Sequence[Sequence[Any]]) -> bool:
    return _LISTS_OR_NONE.issuperset(map(type, chain(*columns))) and _strings(
        map("".join, filter(None, chain(*columns)))  # one join per list
    )


def _epoch_ms(columns: Sequence[Sequence[Any]]) -> bool:
    for column in columns:
        if not (_INTS.issuperset(map(type, column)) and min(column) >= MIN_MS and max(column) <= MAX_MS):
            return False
    return True


def _objects(columns: Sequence[Sequence[Any]]) -> bool:
    return _DICTS_OR_NONE.issuperset(map(type, chain(*columns)))


class Kind:
    """The rules of one kind of field. Subclasses fill in every attribute and method."""

    #: What ``holds`` requires, for the ``TypeError`` of a hand-made event.
    expected = ""
    #: What the column check reads for an absent key (``dict.get``'s default).
    absent: Any = None
    #: The column check, shared by the kinds that accept the same JSON values (see above).
    check_columns: Callable[[Sequence[Sequence[Any]]], bool]
    #: The SQL type of its column in the reference receiver, and whether it holds JSON text.
    sql = "TEXT"
    json_text = False

    def holds(self, value: Any) -> bool:
        """The invariant of the stored value: checked on every event made by hand."""
        raise NotImplementedError

    def read(self, value: Any, path: str, key: str) -> Any:
        """The checked value of one JSON value, or :class:`PayloadError` at ``path.key``."""
        raise NotImplementedError

    #: Source of an expression true only when ``read({v})`` would return ``{v}`` itself (the
    #: usual case), so that the call can be skipped (``_compiled.checked_row``); ``None``:
    #: always call it.
    accepts: str | None = None

    def column(self, values: Sequence[Any]) -> Iterable[Any]:
        """The checked values of a column :attr:`check_columns` accepted."""
        return values

    #: Whether :meth:`column` changes the values (else the column check skips the call).
    converts_columns = False

    #: Source of the expression that turns the checked value ``{v}`` into the stored one,
    #: and the names it uses (compiled into ``_compiled.made_events``).
    finish = "{v}"
    names: Mapping[str, object] = MappingProxyType({})

    #: Source of the expression that writes the stored value ``{v}`` as JSON (``to_dict``,
    #: the fingerprint, the receiver's rows), with ``names`` too.
    write = "{v}"

    def __init__(self) -> None:
        self._write = expression(self.write, self.names)

    def to_json(self, value: Any) -> Any:
        """The stored value as JSON (the expression ``write``)."""
        return self._write(value)


class Text(Kind):
    """A non-empty string, required (``action``)."""

    expected = "a non-empty str"
    check_columns = staticmethod(_nonempty_strings)
    sql = "TEXT NOT NULL"
    accepts = "type({v}) is str and {v}"

    def holds(self, value: Any) -> bool:
        return isinstance(value, str) and value != ""

    def read(self, value: Any, path: str, key: str) -> Any:
        if type(value) is not str or not value:
            _fail(f"missing or non-string {key}", f"{path}.{key}")
        return value


class OptionalText(Kind):
    """A string or null; an empty string is stored as ``None``, as is an absent key."""

    expected = "a str or None"
    absent = ""
    check_columns = staticmethod(_optional_strings)
    accepts = "{v} is None or type({v}) is str"
    finish = "{v} or None"

    def holds(self, value: Any) -> bool:
        return value is None or isinstance(value, str)

    def read(self, value: Any, path: str, key: str) -> Any:
        if value is None or type(value) is str:
            return value
        _fail("expected a string or null", f"{path}.{key}")


class Word(OptionalText):
    """A string or null naming a member of ``enum`` through ``words`` (any case), else ``None``.

    An unknown word is no error (it stays in ``raw``): Descope may add one.
    """

    def __init__(self, enum: type[Enum], words: Mapping[str, Enum]) -> None:
        self._enum = enum
        self.expected = f"a {enum.__name__} or None"
        name = f"_{enum.__name__.lower()}_words"
        self.finish = f"({name}.get({{v}}) or {name}.get({{v}}.lower())) if {{v}} else None"
        self.names = MappingProxyType({name: dict(words)})
        super().__init__()

    def holds(self, value: Any) -> bool:
        return value is None or isinstance(value, self._enum)

    write = "None if {v} is None else {v}.value"


class Texts(Kind):
    """An array of strings or null, stored as a tuple (``()`` for null or absent)."""

    expected = "a tuple of str"
    check_columns = staticmethod(_string_lists)
    sql = "TEXT NOT NULL"
    json_text = True
    accepts = "{v} is None"
    finish = "tuple({v}) if {v} else ()"

    def holds(self, value: Any) -> bool:
        return type(value) is tuple and all(isinstance(item, str) for item in value)

    def read(self, value: Any, path: str, key: str) -> Any:
        if value is None:
            return None
        if type(value) is not list:
            _fail("expected an array of strings or null", f"{path}.{key}")
        for index, item in enumerate(value):
            if type(item) is not str:
                _fail("expected a string", f"{path}.{key}[{index}]")
        return value

    write = "list({v})"


class Time(Kind):
    """Epoch milliseconds (what Descope sends), stored as an aware UTC ``datetime``; required.

    Also read: a string of ASCII digits (the audit search API's), an integral float and an
    ISO-8601 string (``Z``, an offset, or none: read as UTC). The column check takes
    integers only; the checked value is the ``datetime``.
    """

    expected = "a timezone-aware datetime"
    check_columns = staticmethod(_epoch_ms)
    sql = "INTEGER NOT NULL"

    def holds(self, value: Any) -> bool:
        return isinstance(value, datetime) and value.tzinfo is not None

    converts_columns = True

    def column(self, values: Sequence[Any]) -> Iterable[Any]:
        return utc_datetimes(values)

    def read(self, value: Any, path: str, key: str) -> Any:
        where = f"{path}.{key}"
        try:
            if type(value) is int:
                return occurred_from_ms(value)
            if type(value) is str:
                if value.isascii() and value.isdigit():
                    return occurred_from_ms(int(value))
                parsed = from_iso(value)
                if parsed is None:
                    _fail(f"{key} is not a valid ISO-8601 timestamp", where)
                return parsed
            if type(value) is float and value.is_integer():
                return occurred_from_ms(int(value))
        except (OverflowError, ValueError):
            _fail(f"{key} is out of range", where)
        if value is None:
            _fail(f"missing {key}", where)
        _fail(f"{key} must be epoch milliseconds or an ISO-8601 string", where)

    write = "_ms_of({v})"
    names = MappingProxyType({"_ms_of": ms_of})


class Mapped(Kind):
    """A JSON object or null, stored as a read-only mapping (empty for null or absent)."""

    expected = "a Mapping"
    check_columns = staticmethod(_objects)
    sql = "TEXT NOT NULL"
    json_text = True
    accepts = "{v} is None or type({v}) is dict"
    finish = "_empty_mapping if {v} is None else _read_only({v})"
    names = MappingProxyType({"_empty_mapping": EMPTY_MAPPING, "_read_only": MappingProxyType})

    def holds(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def read(self, value: Any, path: str, key: str) -> Any:
        if value is None or type(value) is dict:
            return value
        _fail("expected an object or null", f"{path}.{key}")

    write = "dict({v})"


class Whole(Mapped):
    """The event object itself, as received (``raw``): checked to be an object before any field."""

    finish = "_read_only({v})"
    names = MappingProxyType({"_read_only": MappingProxyType})
