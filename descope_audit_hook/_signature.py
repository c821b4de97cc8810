"""The signature: the HMAC, and the strings Descope may have computed it over.

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
import re
from collections.abc import Iterator, Sequence
from typing import Literal

from ._compact import Compact, compact_form
from ._errors import ConfigurationError
from ._secrets import any_equal, check_secret

__all__ = [
    "FORMS",
    "SignedForm",
    "compact_escaped",
    "decode_signature",
    "find_signed",
    "forms_of",
    "hmac_digest",
    "sign",
]

#: Which string the signature was computed over; see docs/security.md.
SignedForm = Literal["raw", "trimmed", "compact", "compact-escaped"]
FORMS: tuple[SignedForm, ...] = ("raw", "trimmed", "compact", "compact-escaped")

_JSON_WS = b" \t\r\n"
_TRAILING_WS = (b" ", b"\t", b"\r", b"\n")
# 43 base64 characters carry 258 bits: the last one's 2 unused bits must be zero (one of
# the 16 characters below), so that only the canonical encoding of the 32 bytes is accepted.
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=?")
_GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def hmac_digest(secret: bytes, message: bytes | memoryview) -> bytes:
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
    return binascii.a2b_base64(value[:43] + "=")


# --- the compact forms -----------------------------------------------------------------


def compact_escaped(compact_bytes: bytes) -> bytes:
    """Go's ``json.Marshal`` escaping applied to compact JSON (it only touches string contents)."""
    return _go_escaped(compact_bytes, None)  # type: ignore[return-value]  # no limit: never None


def _escaped_within(compact_bytes: bytes) -> bytes | None:
    """``compact_escaped(compact_bytes)``, or ``None`` once it is an eighth (and 256 bytes) longer.

    Each ``<`` ``>`` ``&`` grows by 5 bytes, U+2028 and U+2029 by 3: a body made of them
    would make the escaped candidate six times as long as the body, and hashing it six
    times as costly (docs/performance.md). No audit payload is that dense in them; a body
    that is has no ``compact-escaped`` form.
    """
    return _go_escaped(compact_bytes, 256 + len(compact_bytes) * 9 // 8)


def _go_escaped(compact_bytes: bytes, limit: int | None) -> bytes | None:
    # One pass per character; the length is checked after each, so that building stops early.
    for plain, escaped in _GO_ESCAPES:
        # U+2028/U+2029 start with 0xE2: a memchr skips their slower 3-byte searches.
        if plain[0] == 0xE2 and 0xE2 not in compact_bytes:
            continue
        compact_bytes = compact_bytes.replace(plain, escaped)
        if limit is not None and len(compact_bytes) > limit:
            return None
    return compact_bytes


def forms_of(
    body: bytes, allowed: Sequence[SignedForm] = FORMS, tried: Sequence[int] = ()
) -> Iterator[tuple[SignedForm, bytes | memoryview, Compact | None]]:
    """Yield each distinct candidate signed string, cheapest first, with its compact form if it is one.

    The trimmed body is a view of the body (no copy). The compact form is built only once
    ``raw`` and ``trimmed`` have been tried, and only if a compact form is allowed. A
    candidate equal to an earlier one is skipped; ``tried``: the lengths of the body's
    prefixes the caller has already tried.
    """
    size = _trimmed_length(body)
    # The lengths of the prefixes of the body already tried (raw, trimmed).
    prefixes: list[int] = list(tried)
    if "raw" in allowed:
        prefixes.append(len(body))
        yield "raw", body, None
    if "trimmed" in allowed and ("raw" not in allowed or size < len(body)):
        prefixes.append(size)
        yield "trimmed", memoryview(body)[:size], None
    if "compact" not in allowed and "compact-escaped" not in allowed:
        return
    form = compact_form(body)
    if form is None:
        return
    plain = form.text
    plain_tried = "compact" in allowed and not _is_prefix_tried(plain, body, prefixes)
    if plain_tried:
        yield "compact", plain, form
    if "compact-escaped" in allowed:
        escaped = _escaped_within(plain)
        if escaped is None or _is_prefix_tried(escaped, body, prefixes) or (plain_tried and escaped == plain):
            return
        yield "compact-escaped", escaped, form


def _is_prefix_tried(candidate: bytes, body: bytes, prefixes: list[int]) -> bool:
    """Whether ``candidate`` is one of the body's prefixes of these lengths (an earlier candidate).

    ``startswith`` compares with one memcmp; comparing bytes with a memoryview of the
    body would compare byte by byte, 50 times slower (1.7 ms a MiB), on a path a forged
    request reaches.
    """
    return len(candidate) in prefixes and body.startswith(candidate)


def _trimmed_length(body: bytes) -> int:
    """``len(body.rstrip(_JSON_WS))``, without copying the body."""
    if body[-1:] not in _TRAILING_WS:
        return len(body)
    tail = body[-256:].rstrip(_JSON_WS)
    if tail:
        return len(body) - 256 + len(tail) if len(body) > 256 else len(tail)
    return len(body.rstrip(_JSON_WS))


def find_signed(
    body: bytes, expected: bytes, secrets: Sequence[bytes], allowed: Sequence[SignedForm] = FORMS
) -> tuple[SignedForm, bytes, Compact | None] | None:
    """The first candidate whose HMAC under any of ``secrets`` is ``expected``, or ``None``.

    Every secret is tried for every candidate (constant time in which one matched). The
    trimmed body is a prefix of the raw one: both HMACs come from one pass over it.
    """
    if "raw" in allowed and body[-1:] not in _TRAILING_WS:
        # The common case, without the generator: a delivery signed over the bytes it carries.
        if _any_equal([hmac_digest(secret, body) for secret in secrets], expected):
            return "raw", body, None
        # Without trailing whitespace the trimmed body is the raw one: neither is left to try,
        # and a compact candidate equal to the body is not hashed again.
        allowed = tuple(form for form in allowed if form not in ("raw", "trimmed"))
        tried: tuple[int, ...] = (len(body),)
    else:
        tried = ()
    trimmed_digests: list[bytes] = []
    for form, candidate, compact in forms_of(body, allowed, tried):
        if form == "raw" and "trimmed" in allowed:  # here the body ends with whitespace
            digests, trimmed_digests = _raw_and_trimmed(body, secrets)
        elif form == "trimmed" and trimmed_digests:
            digests = trimmed_digests
        else:
            digests = [hmac_digest(secret, candidate) for secret in secrets]
        if _any_equal(digests, expected):
            return form, bytes(candidate), compact
    return None


def _any_equal(digests: list[bytes], expected: bytes) -> bool:
    return any_equal(digests, (expected,))  # every secret's digest, whichever matched


def _raw_and_trimmed(body: bytes, secrets: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    size = _trimmed_length(body)
    view = memoryview(body)
    raw_digests, trimmed_digests = [], []
    for secret in secrets:
        mac = hmac.new(secret, view[:size], hashlib.sha256)
        trimmed_digests.append(mac.digest())
        mac.update(view[size:])
        raw_digests.append(mac.digest())
    return raw_digests, trimmed_digests
