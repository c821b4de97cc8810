"""Configured secrets: each one checked once, at construction, and never shown.

Every message names *what* was wrong, never the value.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from typing import Union

from ._errors import ConfigurationError

__all__ = ["SecretArg", "any_equal", "check_header_name", "check_header_secret", "check_secret", "hmac_secrets"]

#: What ``Verifier(hmac_secret=...)`` takes: one secret, or several (newest first) to rotate.
SecretArg = Union[str, bytes, Sequence[Union[str, bytes]]]

_FORBIDDEN = frozenset("\r\n\x00")
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_secret(value: object, what: str) -> bytes:
    """Validate one configured secret and return its UTF-8 bytes."""
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        if not raw.strip():
            raise ConfigurationError(f"{what} must not be empty or whitespace")
        return raw
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ConfigurationError(f"{what} must not be empty or whitespace")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (os.environ's spelling of a byte that is not UTF-8); the error's
        # message and object would quote the secret.
        raise ConfigurationError(f"{what} must be valid UTF-8 text") from None


def check_header_secret(value: object, what: str) -> bytes:
    """A secret that travels in a header: no line breaks, no surrounding whitespace.

    Servers strip whitespace around header values, so such a secret could never match.
    """
    raw = check_secret(value, what)
    text = raw.decode("latin-1")
    if _FORBIDDEN & set(text):
        raise ConfigurationError(f"{what} must not contain CR, LF or NUL")
    if text != text.strip(" \t"):
        raise ConfigurationError(f"{what} must not start or end with whitespace")
    return raw


def check_header_name(name: object, what: str) -> str:
    """A configured header name (RFC 9110 token characters), lower-cased."""
    if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
        raise ConfigurationError(f"{what} must be a non-empty HTTP header name")
    return name.lower()


def hmac_secrets(value: SecretArg | None) -> tuple[bytes, ...]:
    """The HMAC secrets of ``Verifier(hmac_secret=...)``, in order; ``()`` for ``None``."""
    if value is None:
        return ()
    if not isinstance(value, (str, bytes, bytearray, Sequence)):
        # An int, a dict or a set is a mistake (a set would also lose the rotation order).
        raise ConfigurationError("hmac_secret must be a str, bytes, or a sequence of them")
    values: Iterable[object] = [value] if isinstance(value, (str, bytes, bytearray)) else value
    secrets = tuple(check_secret(v, "hmac_secret") for v in values)
    if not secrets:
        raise ConfigurationError("hmac_secret is an empty sequence; pass None for no signature")
    return secrets


def any_equal(received: Iterable[bytes], expected: Sequence[bytes]) -> bool:
    """Whether a received value equals a configured one: every pair compared in constant time.

    No short-circuit: the time says neither whether nor which value matched.
    """
    matched = False
    for candidate in received:
        for value in expected:
            matched |= hmac.compare_digest(candidate, value)
    return matched
