"""Each kind of field against itself: the column check, the one-value check and the invariant agree.

A parsed event is made without ``__post_init__`` (``_compiled.made_events``); what makes
that safe is shown here, kind by kind, for any JSON value:

* the column check never takes a value ``read`` refuses, and takes ``None``-free columns
  of what it takes one by one;
* what ``read`` returns (or ``column`` gives), once ``finish`` has run, keeps the
  invariant ``holds`` that ``__post_init__`` applies to a hand-made event;
* a value ``accepts`` lets through without the call is one ``read`` returns unchanged;
* ``to_json`` of a stored value reads back as the same stored value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import PayloadError, Severity
from descope_audit_hook._events import FIELDS
from descope_audit_hook._field_kinds import Kind

KINDS = {type(row.kind).__name__: row.kind for row in FIELDS}

_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**62), max_value=2**62),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
        st.sampled_from(["", "info", "WARN", "Information", "loud", "1780949905843", "2026-06-08T20:20:12.3Z"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=5,
)
_lists_of_strings = st.lists(st.text(max_size=4), max_size=3)


def _finish(kind: Kind) -> Callable[[Any], Any]:
    function: Callable[[Any], Any] = eval(f"lambda v: {kind.finish.format(v='v')}", dict(kind.names))  # noqa: S307
    return function


def _read(kind: Kind, value: Any) -> tuple[bool, Any]:
    try:
        return True, kind.read(value, "$[0]", "k")
    except PayloadError as exc:
        path = exc.path
    assert path is not None
    assert path.startswith("$[0].k")  # the field's path, never its value
    return False, None


@pytest.mark.parametrize("name", sorted(KINDS))
@settings(max_examples=300)
@given(value=st.one_of(_json_values, _lists_of_strings))
def test_the_checks_of_a_kind_agree(name: str, value: Any) -> None:
    kind = KINDS[name]
    if name == "Whole" and type(value) is not dict:
        value = {"k": value}  # raw: the event object, an object by then (not assume(): too few would pass)
    finish = _finish(kind)
    readable, checked = _read(kind, value)
    if kind.check_columns([[value]]):
        assert readable, "the column check took a value read() refuses"
        (from_column,) = list(kind.column([value]))
        assert finish(from_column) == finish(checked)
    if kind.accepts is not None and eval(kind.accepts.format(v="v"), {}, {"v": value}):  # noqa: S307
        assert readable
        assert checked is value
    if readable:
        stored = finish(checked)
        assert kind.holds(stored), (name, value, stored)
        again = finish(kind.read(kind.to_json(stored), "$", "k"))
        assert kind.to_json(again) == kind.to_json(stored)
        assert type(again) is type(stored)
        if name != "Time":  # a time is written in whole milliseconds, as Descope sends it
            assert again == stored


@pytest.mark.parametrize("name", sorted(KINDS))
@settings(max_examples=200)
@given(column=st.lists(st.one_of(_json_values, _lists_of_strings), min_size=1, max_size=5))
def test_a_column_is_taken_only_if_each_value_is_readable(name: str, column: list[Any]) -> None:
    kind = KINDS[name]
    if kind.check_columns([column]):
        assert all(_read(kind, value)[0] for value in column)


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("Text", ["A"], ["", None, 1, ["A"]]),
        ("OptionalText", ["", "x", None], [1, [], {}]),
        ("Word", [None, Severity.INFO], ["info", 1]),
        ("Texts", [(), ("a", "b")], [["a"], ("a", 1), None]),
        ("Time", [datetime(2026, 1, 1, tzinfo=timezone.utc)], [datetime(2026, 1, 1), 1780949905843, "2026"]),
        ("Mapped", [{}, {"a": 1}], [None, [], "x"]),
    ],
)
def test_the_invariant_of_a_hand_made_value(name: str, good: list[Any], bad: list[Any]) -> None:
    kind = KINDS[name]
    assert all(kind.holds(value) for value in good)
    assert not any(kind.holds(value) for value in bad)


def test_every_kind_of_the_table_is_tested() -> None:
    assert set(KINDS) == {"Text", "Time", "Word", "OptionalText", "Texts", "Mapped", "Whole"}
