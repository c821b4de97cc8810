"""Functions compiled from the table of an event's fields, as dataclasses compile ``__init__``.

Per event, a loop over the table costs about a microsecond more than code with each field
written out (its key, its kind's expression inlined): the parser, ``to_dict`` and the
fingerprint run per event on the path users take (``benchmarks/run.py --only breakdown``
shows the parser's functions against a loop over the table). The source is built from the
table and the kinds' expressions alone, never from input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["compiled", "expression", "merge_names"]


def compiled(lines: Iterable[str], names: Mapping[str, object]) -> Any:
    """The function ``def compiled(...)`` whose source is ``lines``, with ``names`` bound in its closure."""
    text = "\n".join([f"def _bind({', '.join(names)}):", *("    " + line for line in lines), "    return compiled"])
    scope: dict[str, Any] = {}
    exec(text, {}, scope)  # noqa: S102 - the source comes from the table of fields and the kinds, nothing else
    return scope["_bind"](**names)


def expression(template: str, names: Mapping[str, object]) -> Any:
    """``lambda v: <template with {v} as v>``, compiled."""
    return compiled([f"def compiled(v): return {template.format(v='v')}"], names)


def merge_names(names: dict[str, object], more: Mapping[str, object]) -> None:
    """Add a kind's names; two kinds may share a name only for the same object."""
    for name, obj in more.items():
        if names.setdefault(name, obj) is not obj:  # pragma: no cover - two kinds use one name
            raise RuntimeError(f"two kinds of field use the name {name}")
