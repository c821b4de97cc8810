"""The ``compact`` signed form of a body, built at C speed: ``JSON.stringify(JSON.parse(body))``.

A stranger can send any body with a wrong signature, and the verifier must build this
string before it can say no; so it is built without walking the document in Python per
value, at a cost bounded by a small multiple of ``json.loads`` of the same bytes
(docs/performance.md, ``benchmarks/run.py --only worst``). Two builders, chosen by the
body's count of backslashes, give the same string:

* **by text** (most bodies): the body's own bytes with the whitespace between tokens
  removed, every number JavaScript would write otherwise rewritten, and every escape
  JavaScript would write otherwise (``\\/``, ``\\u00e9``, a surrogate pair) decoded. No
  parse: strings are copied, not decoded and encoded again, which for long strings costs
  a quarter of the C encoder. The body is not checked to be JSON here: if the signature
  matches, the verifier parses the signed string strictly, and the events are read from
  it, never from the body.
* **by the C encoder** (bodies dense in escapes, where decoding them one by one costs
  more than parsing the body): ``json.loads``, then the C encoder, each float passed
  through as its own text (``_compact_encoder``).

Deliberate differences from JavaScript (docs/wire-format.md): integers are written
exactly, as Go and Python write them (JavaScript rounds those beyond 2^53 to a double and
writes ``null`` beyond the largest one); a float already spelled as JavaScript spells it
keeps its spelling even with more digits than needed; a repeated key is kept by the text
builder. A body with more floats to rewrite than ``_rewrite_budget`` allows, or large and
denser in strings than any audit payload (see ``_DENSEST``), has no compact form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ._compact_encoder import ENCODE, by_encoder, reject_constant
from ._js_number import js_float_pattern, js_spelling

__all__ = ["Compact", "compact_form"]

#: No compact form for a body of more than ``_DENSE_FROM`` bytes once the part of it
#: read so far (a whole number of chunks, see ``_chunks``) has more than one ``"`` per
#: ``_DENSEST`` bytes: there splitting the text costs over 3x json.loads (a batch of
#: audit events has one per 7 to 11 bytes; a list of one-letter strings, one per 3).
_DENSEST = 5
_DENSE_FROM = 16384
#: The encoder builds the form of a body with more than one backslash per this many
#: bytes: there, decoding its escapes one by one costs more than parsing it.
_ESCAPE_DENSE = 64


def _rewrite_budget(size: int) -> int:
    """How many numbers of a ``size``-byte body may be rewritten in Python (about 2 µs each).

    A few per body, and one per 16 KiB: at most a fifth of what the cheapest 16 KiB of
    JSON (one long string) costs to hash and parse.
    """
    return 8 + size // 16384


class Compact:
    """The compact form of a body, and its meaning when that is already at hand.

    ``value`` is ``json.loads(text)`` exactly (the same values and Python types), or
    ``None``: the caller then parses ``text``, the string that was signed.
    """

    __slots__ = ("text", "value")

    def __init__(self, text: bytes, value: Any) -> None:
        self.text = text
        self.value = value


def compact_form(body: bytes) -> Compact | None:
    """The ``compact`` candidate of ``body``, or ``None`` if the body has none."""
    backslashes = body.count(b"\\") if b"\\" in body else 0  # a memchr, then a count only if needed
    if backslashes * _ESCAPE_DENSE > len(body):
        return _by_encoder(body)
    text = _by_text(body, backslashes)
    return None if text is None else Compact(text, None)


# --- by text ------------------------------------------------------------------------------
# The body's bytes, split at its string delimiters. After escaped backslashes and escaped
# quotes are swapped for NUL and SOH (neither may appear raw in JSON text, so a body that
# has one has no compact form), every remaining ``"`` delimits a string: the pieces
# alternate between the text outside strings and their contents. Whitespace goes from the
# outside pieces only; numbers are found in them by the parser and regular expressions;
# escapes in the contents are decoded and encoded again in bulk. Every step is one C-level
# pass, over one chunk of about 64 KiB at a time: the pieces of a chunk are freed before
# the next one is split, so that the allocator reuses their memory instead of asking the
# kernel for fresh pages for each of a large body's pieces (which costs as much again as
# the split; measured on the adversarial corpus, docs/performance.md).

_WHITESPACE = b" \t\n\r"
_CHUNK = 65536
# The outside text with every byte that ends a number or a literal made a space: its
# ``split()`` lists the numbers and literals.
_TOKEN_ENDS = bytes.maketrans(b'[]{},:"', b"       ")
_ESCAPED_BACKSLASH = re.compile(rb"\\\\")  # re finds it with memchr; bytes.replace does not
_ESCAPED_QUOTE = re.compile(rb'\\"')
# A float token in the outside text: where it is, from its first "." "e" or "E" on (a scan
# for those three bytes, then a look back at the digit before); its integer part ends the
# text before it.
_FLOAT_TAIL = re.compile(rb"([.eE](?<=[0-9][.eE])[-+0-9.eE]*)")
_NOT_JS_FLOAT = re.compile(r"^(?!" + js_float_pattern("$") + ")", re.MULTILINE)
_MINUS_ZERO = re.compile(rb"-0(?![0-9.eE])(?<![eE]-0)")
# An escape JavaScript writes otherwise: \/, and \uXXXX but for the control characters
# without a short form (JSON.stringify writes \u001f, lower case); a surrogate pair is one.
_ODD_ESCAPE = (
    rb"\\(?:/|u(?!00(?:0[0-7]|0b|0e|0f|1[0-9a-f]))[0-9a-fA-F]{4}"
    rb"(?:(?<=\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})?)"
)
_HAS_ODD_ESCAPE = re.compile(_ODD_ESCAPE)
_SPLIT_ODD_ESCAPES = re.compile(b"(" + _ODD_ESCAPE + b")")


def _by_text(body: bytes, backslashes: int, chunk_size: int = _CHUNK) -> bytes | None:
    """The compact form of ``body`` from its text, chunk by chunk; ``None`` if it has none."""
    if b"\x00" in body or b"\x01" in body:
        return None
    text = body
    if backslashes:
        text = _ESCAPED_BACKSLASH.sub(b"\x00", text)
        text = _ESCAPED_QUOTE.sub(b"\x01", text)
    size = len(body)
    budget = _rewrite_budget(size)
    written: list[bytes] = []
    read = quotes = 0
    for chunk in _chunks(text, chunk_size):
        read += len(chunk)
        done = _chunk_by_text(chunk, backslashes, budget)
        if done is None:
            return None
        chunk, budget, delimiters = done
        quotes += delimiters
        if quotes * _DENSEST > read and size > _DENSE_FROM:
            return None
        written.append(chunk)
    out = b"".join(written)
    if backslashes:
        out = out.replace(b"\x00", b"\\\\").replace(b"\x01", b'\\"')
    return out


def _chunks(text: bytes, chunk_size: int) -> Iterator[bytes]:
    """``text`` in pieces of about ``chunk_size`` bytes, each cut where no string and no token is open.

    At a line break (a raw one is never inside a JSON string) if one follows soon; else
    before a comma outside strings (a body on one line: an even count of quotes before
    it), or before the next opening quote. A body that is not JSON may be cut elsewhere:
    its candidate is then not its compact form, and cannot be one that was signed.
    """
    size = len(text)
    start = 0
    while size - start > chunk_size:
        window = (start + chunk_size, start + 2 * chunk_size)
        end = text.find(b"\n", *window)
        if end < 0:
            end = text.find(b",", *window)
            if end < 0 or text.count(b'"', start, end) % 2:
                end = text.find(b'"', window[0])
                if end >= 0 and text.count(b'"', start, end) % 2:
                    end = text.find(b'"', end + 1)  # that quote closes a string: cut before the next
            if end < 0:
                break
        yield text[start:end]
        start = end
    yield text[start:]


def _chunk_by_text(chunk: bytes, backslashes: int, budget: int) -> tuple[bytes, int, int] | None:
    """One chunk's compact text, the rewrite budget left and the chunk's ``"`` count; ``None``: no compact form."""
    pieces = chunk.split(b'"')
    if not len(pieces) % 2:
        return None  # an unclosed string
    outside = b'"'.join(pieces[0::2]).translate(None, _WHITESPACE)
    if b"." in outside or b"E" in outside or _has_exponent(outside):
        rewritten = _rewrite_floats(outside, budget)
        if rewritten is None:
            return None
        outside, budget = rewritten
    if b"-" in outside and b"-0" in outside:
        outside = _MINUS_ZERO.sub(b"0", outside)  # JSON.parse("-0") is -0, which JSON.stringify writes 0
    pieces[0::2] = outside.split(b'"')
    if backslashes:
        inside = b'"'.join(pieces[1::2])
        if _HAS_ODD_ESCAPE.search(inside):
            decoded = _decode_odd_escapes(inside)
            if decoded is None:
                return None
            pieces[1::2] = decoded.split(b'"')
    return b'"'.join(pieces), budget, len(pieces) - 1


def _has_exponent(outside: bytes) -> bool:
    # An "e" that is not one of true's or false's (three C counts, cheaper than a scan).
    return b"e" in outside and outside.count(b"e") != outside.count(b"true") + outside.count(b"false")


def _rewrite_floats(outside: bytes, budget: int) -> tuple[bytes, int] | None:
    """``outside`` with each float JavaScript writes otherwise rewritten, and the budget left.

    ``None`` past the budget. The parser lists the float tokens of the outside text (its
    numbers and literals as one JSON array; ``list.append`` as its float hook: C, no
    Python frame), one regular expression over them finds those to rewrite, and only
    those cost Python work. Text that is not JSON has no compact form.
    """
    floats: list[str] = []
    tokens = b",".join(outside.translate(_TOKEN_ENDS).split())
    try:
        json.loads(b"[" + tokens + b"]", parse_float=floats.append, parse_int=bool, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        return None
    if not floats:
        return outside, budget
    lines = "\n".join(floats)
    first = _NOT_JS_FLOAT.search(lines)
    if first is None:
        return outside, budget
    parts = _FLOAT_TAIL.split(outside)
    if len(parts) != 2 * len(floats) + 1:  # pragma: no cover - the parser and the scan agree on JSON
        return None
    index, counted = 0, 0  # the float at ``counted`` in ``lines`` is floats[index]
    for match in _NOT_JS_FLOAT.finditer(lines, first.start()):
        if not budget:
            return None
        budget -= 1
        index += lines.count("\n", counted, match.start())
        counted = match.start()
        token = floats[index]
        head, tail = parts[2 * index], parts[2 * index + 1]
        try:
            parts[2 * index] = head[: len(head) - (len(token) - len(tail))]
            parts[2 * index + 1] = js_spelling(token).encode()
        except ValueError:
            return None
    return b"".join(parts), budget


def _decode_odd_escapes(inside: bytes) -> bytes | None:
    """String contents with every escape JavaScript writes otherwise replaced by what it writes.

    All of them at once: one split, one ``json.loads`` of them as a list, one encoder
    call, one split of its output (in which escaped backslashes and quotes are swapped
    for NUL and SOH again, so that ``","`` only separates items).
    """
    parts = _SPLIT_ODD_ESCAPES.split(inside)
    escapes = parts[1::2]
    try:
        decoded = json.loads(b'["' + b'","'.join(escapes) + b'"]')
        written = ENCODE(decoded).encode("utf-8")  # a lone surrogate fails here
    except (ValueError, UnicodeEncodeError):
        return None
    items = _ESCAPED_QUOTE.sub(b"\x01", _ESCAPED_BACKSLASH.sub(b"\x00", written))[2:-2].split(b'","')
    if len(items) != len(escapes):  # pragma: no cover - every item is one string
        return None
    parts[1::2] = items
    return b"".join(parts)


def _by_encoder(body: bytes) -> Compact | None:
    built = by_encoder(body, _rewrite_budget(len(body)))
    return None if built is None else Compact(*built)
