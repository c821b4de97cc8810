"""Case-insensitive header lookup over whatever a framework hands us.

A ``dict``, any ``Mapping`` (Django's ``HttpHeaders``), a multi-dict with ``items()``
(Werkzeug's ``Headers``) or an iterable of ``(name, value)`` pairs (WSGI, ASGI's raw
``bytes`` pairs) are all accepted. Only the names the verifier needs are collected,
in one pass, and every value is kept so that a duplicated credential or signature
header can be refused instead of silently picking one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Union

from ._errors import AuthenticationError, VerificationError

__all__ = ["HeadersLike", "collect", "header_bytes", "single"]

HeaderName = Union[str, bytes]
HeaderValue = Union[str, bytes]
HeadersLike = Union[Mapping[str, str], Mapping[str, HeaderValue], Iterable[tuple[HeaderName, HeaderValue]]]

_OWS = " \t"


def _text(item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, (bytes, bytearray)):
        # HTTP/1.1 header bytes are opaque octets; latin-1 maps each one to one char
        # and back, which is exactly what WSGI does (PEP 3333).
        return bytes(item).decode("latin-1")
    raise AuthenticationError("request headers could not be read", code="malformed_headers")


def collect(headers: HeadersLike, wanted: frozenset[str]) -> dict[str, list[str]]:
    """Return ``{lower-case name: [values...]}`` for the names in ``wanted`` only."""
    found: dict[str, list[str]] = {}
    pairs: Iterable[object]
    try:
        items = getattr(headers, "items", None)
        pairs = items() if callable(items) else headers
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise AuthenticationError("request headers could not be read", code="malformed_headers")
            name, value = pair
            if type(name) is not str:
                name = _text(name)
            # ASCII-only lower-casing: str.lower() maps the Kelvin sign to "k", which would
            # let "x-descope-webhoo\u212a-s256" pose as the signature header.
            if name.isascii() and (name := name.lower()) in wanted:
                if type(value) is not str:
                    value = _text(value)
                found.setdefault(name, []).append(value.strip(_OWS))
    except AuthenticationError:
        raise
    except Exception as exc:  # a broken mapping must not become a 500
        raise AuthenticationError("request headers could not be read", code="malformed_headers") from exc
    return found


def single(found: Mapping[str, list[str]], name: str, error: type[VerificationError]) -> str | None:
    """The one value of ``name``; a repeated header is refused, it could smuggle a second value."""
    values = found.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise error(f"header {name} was sent more than once", code="duplicate_header")
    return values[0]


def header_bytes(value: str) -> tuple[bytes, ...]:
    """The byte strings a received header value may stand for.

    A WSGI server hands us the wire octets decoded as latin-1, so ``latin-1`` gives the
    original bytes back; a caller that passes a real Unicode ``str`` means its UTF-8
    encoding. Both are compared (in constant time), never one chosen by a guess.
    """
    utf8 = value.encode("utf-8", "surrogatepass")
    try:
        latin = value.encode("latin-1")
    except UnicodeEncodeError:
        return (utf8,)
    return (latin,) if latin == utf8 else (latin, utf8)
