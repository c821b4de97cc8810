"""Sample events and deliveries as Descope's connector sends them.

Public as :mod:`descope_audit_hook.testing` (for users' own tests); the command line
(``send``, ``demo``) builds its deliveries here too, so the emulator and the test
helpers cannot drift apart.

The signed string for each form is built here from the Python objects directly, not
with the verifier's own re-serializer, so a test that uses it checks the verifier
against an independent construction.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from ._auth import Auth
from ._signature import SignedForm, sign
from ._verifier import SIGNATURE_HEADER

__all__ = ["SAMPLE_KINDS", "Delivery", "make_delivery", "sample_event", "sample_events", "signed_string"]

_PROJECT = "P2aAc4T2V93bddihGEx2Ryhc8e5Z"
_ALICE = "U2J5ES9S8TkvCgOvcrkpzUgVTEBM"
_BASE_MS = 1780949905843

_SAMPLES: dict[str, dict[str, Any]] = {
    "login_succeed": {
        "action": "LoginSucceed",
        "type": "info",
        "actorId": _ALICE,
        "userId": _ALICE,
        "projectId": _PROJECT,
        "occurred": _BASE_MS,
        "device": "Desktop",
        "method": "otp",
        "geo": "US",
        "remoteAddress": "203.0.113.24",
        "loginIds": ["alice@example.com"],
        "tenants": ["acme-corp"],
        "data": {},
    },
    "login_failed": {
        "action": "LoginFailed",
        "type": "warn",
        "actorId": _ALICE,
        "userId": _ALICE,
        "projectId": _PROJECT,
        "occurred": _BASE_MS + 106_534,
        "device": "Mobile",
        "method": "password",
        "geo": "IL",
        "remoteAddress": "198.51.100.7",
        "loginIds": ["alice@example.com"],
        "tenants": ["acme-corp"],
        "data": {"error_message": "Invalid login credentials"},
    },
    "user_modified": {
        "action": "UserModified",
        "type": "info",
        "actorId": "K2mgmtKeyExample000000000000",
        "userId": _ALICE,
        "projectId": _PROJECT,
        "occurred": _BASE_MS + 28,
        "device": "",
        "method": "",
        "geo": "",
        "remoteAddress": "",
        "loginIds": ["alice@example.com"],
        "tenants": ["acme-corp", "globex"],
        "data": {"Change": {"display_name": "Alice Smith", "email": "alice.smith@example.com"}},
    },
    "user_created": {
        "action": "UserCreated",
        "type": "info",
        "actorId": "K2mgmtKeyExample000000000000",
        "userId": "U2ZzCarolExample00000000000",
        "projectId": _PROJECT,
        "occurred": _BASE_MS + 1_597,
        "loginIds": ["carol@example.com"],
        "tenants": None,
        "data": {},
    },
    "access_key_created": {
        "action": "AccessKeyCreated",
        "type": "info",
        "actorId": _ALICE,
        "userId": "",
        "projectId": _PROJECT,
        "occurred": _BASE_MS + 5_001,
        "remoteAddress": "203.0.113.24",
        "tenants": ["globex"],
        "data": {"access_key_name": "ci-deployer"},
    },
    "login_exceed_max_attempts": {
        "action": "LoginExceedMaxAttempts",
        "type": "warn",
        "actorId": "U2QpR7c0bWExampleBob0000000",
        "userId": "U2QpR7c0bWExampleBob0000000",
        "projectId": _PROJECT,
        "occurred": _BASE_MS + 9_000,
        "device": "Bot",
        "method": "password",
        "geo": "DE",
        "remoteAddress": "192.0.2.55",
        "loginIds": ["bob@example.com"],
        "tenants": ["globex"],
        "data": {"error_message": "Too many attempts"},
    },
}

#: Names accepted by :func:`sample_event`.
SAMPLE_KINDS: tuple[str, ...] = tuple(_SAMPLES)


class Delivery(NamedTuple):
    """A request as the connector would send it; unpack as ``body, headers = delivery``."""

    body: bytes
    headers: dict[str, str]


def sample_event(kind: str = "login_succeed", **overrides: Any) -> dict[str, Any]:
    """A realistic audit event as Descope sends it; keyword arguments replace fields."""
    if kind not in _SAMPLES:
        raise ValueError(f"unknown sample {kind!r}; choose from {', '.join(SAMPLE_KINDS)}")
    event = copy.deepcopy(_SAMPLES[kind])
    event.update(overrides)
    return event


def sample_events(count: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct, realistic events of mixed kinds (about 450 bytes each)."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    events = []
    for index in range(count):
        kind = SAMPLE_KINDS[rng.randrange(len(SAMPLE_KINDS))]
        event = sample_event(kind, occurred=_BASE_MS + 1_000 * index + rng.randrange(1000))
        event["remoteAddress"] = f"198.51.100.{rng.randrange(1, 255)}"
        events.append(event)
    return events


def _compact(payload: Any) -> bytes:
    # JSON.stringify: compact, keys in insertion order, non-ASCII kept as UTF-8.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _js_number(value: float) -> str:
    # Number.prototype.toString of a double (ECMA-262 6.1.6.1.20), written from the spec
    # with Decimal, independently of _js_number.js_number.
    if value != value or value in (float("inf"), float("-inf")):
        return "null"
    if value == 0:
        return "0"
    _sign, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), len(digits) + (exponent if isinstance(exponent, int) else 0)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{n - 1:+d}"
    return ("-" if value < 0 else "") + text


def _stringify(value: Any) -> str:
    # The compact form: JSON.stringify, floats as JavaScript prints doubles, integers exact
    # (as Go and Python write them; see docs/wire-format.md).
    if isinstance(value, dict):
        return "{" + ",".join(f"{_stringify(str(k))}:{_stringify(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_stringify(v) for v in value) + "]"
    if isinstance(value, float):
        return _js_number(value)
    return json.dumps(value, ensure_ascii=False)


def _pretty(value: Any, indent: str = "") -> str:
    # json.dumps(value, indent=2, ensure_ascii=False), floats as JavaScript prints them.
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_pretty(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)) and value:
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in value) + "\n" + indent + "]"
    if isinstance(value, float):
        return _js_number(value)
    return json.dumps(value, ensure_ascii=False)


def signed_string(payload: Any, form: SignedForm = "raw") -> tuple[bytes, bytes]:
    """``(body, signed bytes)`` for ``payload`` as a sender using ``form`` would produce them.

    ``raw``: a compact body, signed as is. ``trimmed``: that body plus a newline, signed
    without it. ``compact``: a pretty-printed body, signed compactly.
    ``compact-escaped``: a pretty-printed body, signed compactly with Go's escaping.
    """
    compact = _compact(payload)
    if form == "raw":
        return compact, compact
    if form == "trimmed":
        return compact + b"\n", compact
    # A hop that pretty-printed the body (numbers as JavaScript writes them, so that a
    # payload of many floats stays within the verifier's rewrite budget).
    pretty = _pretty(payload).encode("utf-8")
    # What was signed is the compact form: 1.0 is signed as 1, 1e-7 as 1e-7.
    stringified = _stringify(payload)
    if form == "compact":
        return pretty, stringified.encode("utf-8")
    if form == "compact-escaped":
        escaped = stringified
        for char in "<>&\u2028\u2029":
            escaped = escaped.replace(char, f"\\u{ord(char):04x}")
        return pretty, escaped.encode("utf-8")
    raise ValueError(f"unknown signed form {form!r}")


def make_delivery(
    events: Sequence[Mapping[str, Any]] | Mapping[str, Any] | bytes,
    *,
    hmac_secret: str | bytes | None = None,
    auth: Auth | None = None,
    required_headers: Mapping[str, str] | None = None,
    signed_form: SignedForm = "raw",
) -> Delivery:
    """A signed, authenticated delivery of ``events`` (a list, one event, or ready bytes).

    ``auth`` takes the same objects as :class:`Verifier`; its first credential is sent.
    Ready ``bytes`` are sent and signed as they are (``signed_form`` is then ignored).
    """
    if isinstance(events, bytes):
        body = signed = events
    else:
        payload = dict(events) if isinstance(events, Mapping) else [dict(e) for e in events]
        body, signed = signed_string(payload, signed_form)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        _merge(headers, auth.connector_headers())
    if required_headers:
        _merge(headers, required_headers)
    if hmac_secret is not None:
        _merge(headers, {SIGNATURE_HEADER: sign(signed, hmac_secret)})
    return Delivery(body, headers)


def _merge(headers: dict[str, str], more: Mapping[str, str]) -> None:
    """``headers.update(more)`` where names differ only in case: each header is sent once, the later value."""
    for name, value in more.items():
        for known in [known for known in headers if known.lower() == name.lower()]:
            del headers[known]
        headers[name] = value
