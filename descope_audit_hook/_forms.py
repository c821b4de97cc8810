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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._auth import check_secret
from ._errors import ConfigurationError
from ._models import SignedForm
from ._payload import Parsed

__all__ = [
    "FORMS",
    "compact",
    "compact_escaped",
    "decode_signature",
    "forms_of",
    "hmac_digest",
    "no_duplicate_keys",
    "sign",
]

FORMS: tuple[SignedForm, ...] = ("raw", "trimmed", "compact", "compact-escaped")

_JSON_WS = b" \t\r\n"
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{43}=?")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_SIXTEEN_DIGITS = b"0" * 16
_MAX_SAFE = 2**53 - 1
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


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, float):
        out.append(_js_number(value))
    elif type(value) is int and not -_MAX_SAFE <= value <= _MAX_SAFE:
        # JSON.parse reads every number as a double: 2**53 + 1 comes back as 2**53.
        try:
            out.append(_js_number(float(value)))
        except OverflowError:
            out.append("null")  # JSON.stringify(Infinity)
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def compact(parsed: Parsed) -> bytes:
    """``JSON.stringify(JSON.parse(body))``, as UTF-8 bytes."""
    if not parsed.has_float:
        # Fast path: without floats, the C encoder already writes what JS writes, unless an
        # integer is too big for a double (16+ digits; a digit run inside a string only costs
        # the slow path).
        fast = json.dumps(parsed.value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # Every ASCII digit mapped to "0", then one 16-byte search: a tenth of a regex's time.
        if _SIXTEEN_DIGITS not in fast.translate(_DIGITS_TO_ZERO):
            return fast
    out: list[str] = []
    _write(parsed.value, out)
    return "".join(out).encode("utf-8")


def compact_escaped(compact_bytes: bytes) -> bytes:
    """Go's ``json.Marshal`` escaping applied to compact JSON (it only touches string contents)."""
    for plain, escaped in _GO_ESCAPES:
        # U+2028/U+2029 start with 0xE2: a memchr skips their slower 3-byte searches.
        if plain[0] == 0xE2 and 0xE2 not in compact_bytes:
            continue
        compact_bytes = compact_bytes.replace(plain, escaped)
    return compact_bytes


def no_duplicate_keys(body: bytes, signed: bytes) -> bool:
    """True only if ``body`` has no object with a repeated key, given ``signed`` = its compact form.

    ``False`` means "cannot tell": the caller then runs the strict parse. The proof: every
    colon in compact JSON is a key's (one per key kept) or a character of a string (JSON
    never escapes ``:``). Every colon of the body is likewise a key's (one per key
    written, repeats included) or a string's, written as ``:`` or as the escape
    ``\\u003a``. A repeated key leaves the parsed value, and the compact form, one key
    short, and may take strings with it: the compact form then has fewer colons than the
    body's colons plus its ``\\u003a`` escapes. With no repeat the two counts are equal
    (unless ``\\u003a`` occurs as text after an escaped backslash: a harmless ``False``).
    Three C-level counts instead of the parser's ``object_pairs_hook`` (docs/performance.md).
    """
    colons = body.count(b":")
    if b"\\u003" in body:
        colons += body.count(b"\\u003a") + body.count(b"\\u003A")
    return colons == signed.count(b":")


def forms_of(
    body: bytes, parse: Callable[[], Parsed | None], allowed: Sequence[SignedForm] = FORMS
) -> Iterator[tuple[SignedForm, bytes]]:
    """Yield each distinct candidate signed string, cheapest first.

    ``parse`` returns the decoded body or ``None`` when it is not valid JSON, in which
    case only the byte-level forms exist. A form equal to an earlier one is skipped.
    """
    seen: list[bytes] = []
    if "raw" in allowed:
        seen.append(body)
        yield "raw", body
    if "trimmed" in allowed:
        trimmed = body.rstrip(_JSON_WS)
        if trimmed not in seen:
            seen.append(trimmed)
            yield "trimmed", trimmed
    if "compact" not in allowed and "compact-escaped" not in allowed:
        return
    parsed = parse()
    if parsed is None:
        return
    try:
        plain = compact(parsed)
    except (ValueError, RecursionError):  # pragma: no cover - parse_json already refused these
        return
    if "compact" in allowed and plain not in seen:
        seen.append(plain)
        yield "compact", plain
    if "compact-escaped" in allowed:
        escaped = compact_escaped(plain)
        if escaped not in seen:
            yield "compact-escaped", escaped
