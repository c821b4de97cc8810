"""The strings Descope may have signed, and the HMAC itself.

Descope "creates the HMAC signature from a JSON string, not the raw post body", and its
backend is Go. So the bytes we receive and the bytes that were signed can differ by a
trailing newline (Go's ``json.Encoder``), by whitespace (a pretty-printing hop), or by
Go's HTML escaping. We accept exactly four forms, tried cheapest first, and nothing
else (docs/security.md explains each):

``raw``              the body as received
``trimmed``          the body without trailing JSON whitespace
``compact``          the parsed payload re-serialized compactly, keys in received order,
                     non-ASCII as UTF-8: what ``JSON.stringify`` gives
``compact-escaped``  ``compact`` with Go's escaping of ``< > &`` U+2028 U+2029
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from ._auth import check_secret
from ._errors import ConfigurationError
from ._models import SignedForm

__all__ = [
    "FORMS",
    "Compact",
    "compact_escaped",
    "compact_form",
    "decode_signature",
    "forms_of",
    "hmac_digest",
    "sign",
]

FORMS: tuple[SignedForm, ...] = ("raw", "trimmed", "compact", "compact-escaped")

_JSON_WS = b" \t\r\n"
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{43}=?")
_GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def hmac_digest(secret: bytes, message: bytes) -> bytes:
    return hmac.digest(secret, message, hashlib.sha256)


def sign(body: bytes | str, secret: bytes | str) -> str:
    """The ``x-descope-webhook-s256`` value Descope sends for exactly these bytes.

    Standard base64 with padding of HMAC-SHA256(secret, body). A ``str`` is UTF-8 encoded.
    """
    key = check_secret(secret, "hmac_secret")
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray, memoryview)):
        raise ConfigurationError("sign() takes the body as bytes or str")
    return base64.b64encode(hmac_digest(key, bytes(body))).decode("ascii")


def decode_signature(value: str) -> bytes | None:
    """The 32 bytes of a base64 HMAC-SHA256 (padded or not), or ``None`` for anything else.

    Hex, URL-safe base64, truncated or over-long values are all ``None``.
    """
    if not _SIGNATURE.fullmatch(value):
        return None
    try:
        decoded = base64.b64decode(value.rstrip("=") + "=", validate=True)
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern already excludes these
        return None
    # The 43rd character carries 4 bits and 2 unused ones; only the canonical encoding
    # (unused bits zero) is base64 of these 32 bytes, anything else is refused.
    if base64.b64encode(decoded)[:43] != value[:43].encode("ascii"):
        return None
    return decoded


# --- the compact forms -----------------------------------------------------------------
# The compact form is built at C speed: json.loads, then the C encoder. Integers come out
# exactly as they were written; strings, keys and structure as JSON.stringify writes them.
# A float must not go through the encoder (Python's repr differs from JavaScript's, and
# formatting a double costs up to four times parsing it), so the parser hands each float
# token to ``str.__mod__`` (C, no Python frame) and gets it back *marked*: as a string
# between two pairs of surrogates that no parsed body can hold (json.loads joins an
# escaped high surrogate and the low one after it into one character). The encoder
# writes it as "<mark>1.5<mark>", and two str.replace calls remove the quotes and marks.
# One regular expression then checks that every marked token is already written as
# JavaScript writes it. Those that are not (3.0, 1e-07, 1.50) are rewritten in Python, at
# most ``_rewrite_budget`` of them per body, so that no body costs more than a few times
# json.loads (docs/performance.md); a body with more has no compact form.

_START = "\ud800\udc00"
_END = "\ud800\udc01"
_MARKED = (_START + "%s" + _END).__mod__
_MAX_SAFE = 2**53
# A float JavaScript writes exactly as it is spelled, provided the spelling has the fewest
# digits that round to the same double (what JSON writers print: JavaScript, Go, Python,
# Java, Rust; a spelling of 15 significant digits or fewer always has): plain notation from
# 1e-6 up to 1e15, exponent notation (1.5e-7, 1e+21) below 1e-6 and from 1e21 to 1e308,
# no needless zero, sign or capital.
_JS_FLOAT = (
    r"-?(?:"
    r"(?=[0-9.]{3,18}" + _END + r")[1-9][0-9]{0,14}\.[0-9]*[1-9]"
    r"|0\.0{0,5}[1-9](?:[0-9]{0,15}[1-9])?"
    r"|[1-9](?:\.[0-9]{0,15}[1-9])?e(?:\+(?:2[1-9]|[3-9][0-9]|[12][0-9]{2}|30[0-7])|-(?:[7-9]|[1-9][0-9]|[12][0-9]{2}|30[0-7]))"
    r")" + _END
)
# A marked float that is not written as JavaScript writes it.
_TO_REWRITE = re.compile('"' + _START + "(?!" + _JS_FLOAT + '")([^"]*)' + _END + '"')


class _NoCompactForm(Exception):
    """The body has no compact form: a number out of range, or too many floats to rewrite."""


def _js_number(value: float) -> str:
    """Format a float as ``JSON.stringify`` and Go's ``encoding/json`` do.

    Both print the shortest round-tripping digits, in plain notation from 1e-6 up to
    1e21 and in exponent notation outside it; Python's ``repr`` switches at other
    bounds and writes ``1.0`` where they write ``1``.
    """
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        exp = point - 1
        head = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    return sign + text


def _rewrite_budget(size: int) -> int:
    """How many floats of a ``size``-byte body may be rewritten in Python (about 2 µs each).

    A few per body, and one per 16 KiB: at most a fifth of what the cheapest 16 KiB
    of JSON (one long string) costs to hash and parse.
    """
    return 8 + size // 16384


def _rewritten(out: str, budget: int) -> str | None:
    """``out`` with each marked float JavaScript writes otherwise rewritten; ``None`` past the budget.

    One pass of the regular expression over the text, and Python work only per rewrite.
    """
    pieces: list[str] = []
    end = 0
    for match in _TO_REWRITE.finditer(out):
        value = float(match[1])
        if not budget or value - value != 0:
            return None  # too many to rewrite, or 1e400 (JSON.parse: Infinity; parse_json refuses it)
        budget -= 1
        pieces += (out[end : match.start()], _js_number(value))
        end = match.end()
    if not pieces:
        return out
    pieces.append(out[end:])
    return "".join(pieces)


def _reject_constant(name: str) -> NoReturn:
    raise _NoCompactForm  # NaN, Infinity, -Infinity


# Built once (json.loads and json.dumps with options build them on every call). The
# encoder writes as JSON.stringify does: compact, non-ASCII kept; a parsed value has no
# cycle to look for, and no float (each is a marked string).
_DECODE = json.JSONDecoder(parse_float=_MARKED, parse_constant=_reject_constant).decode
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class Compact:
    """The compact form of a body, and its meaning when that is already at hand.

    ``value`` is ``json.loads(text)`` exactly (the same values and Python types), or
    ``None`` when the body holds a float: the caller then parses ``text``, the string
    that was signed, for the events.
    """

    __slots__ = ("text", "value")

    def __init__(self, text: bytes, value: Any) -> None:
        self.text = text
        self.value = value


def compact_form(body: bytes) -> Compact | None:
    """``JSON.stringify(JSON.parse(body))`` as UTF-8, or ``None`` if the body has no compact form.

    Two deliberate differences from JavaScript (docs/wire-format.md): integers are
    written exactly, as Go and Python write them, where JavaScript rounds those beyond
    2^53 to a double (and writes ``null`` beyond the largest double); and a float already
    spelled as JavaScript spells it keeps its spelling, even with more digits than needed.
    """
    try:
        text = body.decode("utf-8")
        value = _DECODE(text)
        out = _ENCODE(value)
    except (_NoCompactForm, ValueError, RecursionError):
        # Not UTF-8 or not JSON, NaN, integers beyond Python's digit limit, nesting beyond
        # the recursion limit.
        return None
    if _START in out:
        value = None
        rewritten = _rewritten(out, _rewrite_budget(len(body)))
        if rewritten is None:
            return None
        out = rewritten.replace('"' + _START, "").replace(_END + '"', "")
    try:
        return Compact(out.encode("utf-8"), value)
    except UnicodeEncodeError:
        return None  # a lone surrogate escape in the body: not strict JSON, no compact form


def compact_escaped(compact_bytes: bytes) -> bytes:
    """Go's ``json.Marshal`` escaping applied to compact JSON (it only touches string contents)."""
    for plain, escaped in _GO_ESCAPES:
        # U+2028/U+2029 start with 0xE2: a memchr skips their slower 3-byte searches.
        if plain[0] == 0xE2 and 0xE2 not in compact_bytes:
            continue
        compact_bytes = compact_bytes.replace(plain, escaped)
    return compact_bytes


def forms_of(body: bytes, allowed: Sequence[SignedForm] = FORMS) -> Iterator[tuple[SignedForm, bytes, Compact | None]]:
    """Yield each distinct candidate signed string, cheapest first, with its compact form if it is one.

    The body is parsed only once ``raw`` and ``trimmed`` have been tried, and only if a
    compact form is allowed. A candidate equal to an earlier one is skipped.
    """
    seen: list[bytes] = []
    if "raw" in allowed:
        seen.append(body)
        yield "raw", body, None
    if "trimmed" in allowed:
        trimmed = body.rstrip(_JSON_WS)
        if trimmed not in seen:
            seen.append(trimmed)
            yield "trimmed", trimmed, None
    if "compact" not in allowed and "compact-escaped" not in allowed:
        return
    form = compact_form(body)
    if form is None:
        return
    plain = form.text
    if "compact" in allowed and plain not in seen:
        seen.append(plain)
        yield "compact", plain, form
    if "compact-escaped" in allowed:
        escaped = compact_escaped(plain)
        if escaped not in seen:
            yield "compact-escaped", escaped, form
