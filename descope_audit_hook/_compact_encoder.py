"""The ``compact`` form by ``json.loads`` and the C encoder, for bodies dense in escapes (``_compact``).

json.loads, then the C encoder. A float must not go through the encoder (Python's repr
differs from JavaScript's, and formatting a double costs up to four times parsing it),
so the parser hands each float token to ``str.__mod__`` (C, no Python frame) and gets
it back *marked*: as a string between two pairs of surrogates that no parsed body can
hold (json.loads joins an escaped high surrogate and the low one after it into one
character). The encoder writes it as "<mark>1.5<mark>", and two str.replace calls
remove the quotes and marks; a regular expression finds the floats to rewrite.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from ._js_number import js_float_pattern, js_spelling

__all__ = ["ENCODE", "by_encoder", "reject_constant"]

_START = "\ud800\udc00"
_END = "\ud800\udc01"
_MARKED = (_START + "%s" + _END).__mod__


def reject_constant(name: str) -> NoReturn:
    raise ValueError(name)  # NaN, Infinity, -Infinity


class _Marks:
    """The marks around a float as one encoder writes them, and the floats to rewrite."""

    def __init__(self, start: str, end: str) -> None:
        self.start = '"' + start
        self.end = end + '"'
        ahead = js_float_pattern(re.escape(end))
        self.to_rewrite = re.compile(re.escape(self.start) + "(?!" + ahead + '")([^"]*)' + re.escape(self.end))


# Built once (json.loads and json.dumps with options build them on every call). The
# encoder writes as JSON.stringify does: compact, non-ASCII as itself; a parsed value has
# no cycle to look for, and no float (each is a marked string).
_DECODE = json.JSONDecoder(parse_float=_MARKED, parse_constant=reject_constant).decode
ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_MARKS = _Marks(_START, _END)


def by_encoder(body: bytes, budget: int) -> tuple[bytes, Any] | None:
    """The compact form of ``body`` and its parsed value (``None`` if it holds a float), or ``None``.

    At most ``budget`` floats spelled otherwise than JavaScript writes them are rewritten.
    """
    try:
        value = _DECODE(body.decode("utf-8"))
        out = ENCODE(value)
    except (ValueError, RecursionError):
        # Not UTF-8 or not JSON, NaN, integers beyond Python's digit limit, nesting beyond
        # the recursion limit.
        return None
    if _MARKS.start in out:
        value = None  # a float: the verifier parses the signed string for the events
        pieces: list[str] = []
        end = 0
        for match in _MARKS.to_rewrite.finditer(out):
            if not budget:
                return None
            budget -= 1
            try:
                pieces += (out[end : match.start()], js_spelling(match[1]))
            except ValueError:
                return None
            end = match.end()
        pieces.append(out[end:])
        out = "".join(pieces).replace(_MARKS.start, "").replace(_MARKS.end, "")
    try:
        return out.encode("utf-8"), value
    except UnicodeEncodeError:
        return None  # a lone surrogate escape in the body: not strict JSON, no compact form
