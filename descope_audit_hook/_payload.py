"""Strict JSON decoding and the mapping of JSON audit events onto :class:`AuditEvent`.

Every failure is a :class:`PayloadError` naming the JSON path of the problem, never
the offending value: the body may hold personal data and error responses travel back
to the sender.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NoReturn

from ._errors import PayloadError
from ._fast import EventBuilder, build_usual, usual_columns
from ._models import EMPTY_MAPPING, SEVERITY_WORDS, AuditBatch, AuditEvent, Severity, SignedForm, occurred_from_ms

__all__ = ["parse_batch", "parse_events", "parse_json"]


_INFINITIES = (float("inf"), float("-inf"))
# Up to this many events, the checked path builds them faster than the column check's
# dozen C-level passes plus the column-wise build (docs/performance.md).
_FEW = 4
_FRACTION = re.compile(r"(?<=:[0-9]{2})[.,]([0-9]+)")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


class _Duplicate(dict[str, Any]):
    """Stands in for an object with a repeated key while the error's path is searched."""


class _DuplicateKey(Exception):
    pass


class _BadConstant(Exception):
    pass


class _OutOfRange(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # A repeated key is read differently by different parsers (first or last wins),
        # so a signed body could mean one thing to the signer and another to us.
        raise _DuplicateKey
    return result


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    return _Duplicate(result) if len(result) != len(pairs) else result


def _reject_constant(name: str) -> NoReturn:
    raise _BadConstant


def _find(node: Any, path: str, kind: type) -> str | None:
    if isinstance(node, kind):
        return path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found = _find(child, _segment(path, key), kind)
        if found:
            return found
    return None


def _segment(path: str, key: str | int) -> str:
    # Keys come from the body and end up in a response and a log line: a plain name is
    # kept, anything else (line breaks, quotes, very long keys) is shown JSON-escaped, cut.
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isascii() and key.replace("_", "a").replace("-", "a").isalnum() and len(key) <= 64:
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key[:64])}]"


def _duplicate_path(text: str) -> str | None:
    """Where the first repeated key is, or ``None`` if the body turns out not to be JSON at all."""
    try:
        # The first duplicate stopped the strict parse before the rest was checked.
        marked = json.loads(text, object_pairs_hook=_mark_duplicates)
        return _find(marked, "$", _Duplicate) or "$"
    except (ValueError, RecursionError):
        return None


def _finite(token: str) -> float:
    # Called only for numbers with a fraction or an exponent (rare in audit events).
    number = float(token)
    if number in _INFINITIES:  # 1e400: JSON.parse gives Infinity, JSON.stringify null
        raise _OutOfRange
    return number


# Built once: json.loads with keyword arguments builds a decoder on every call.
_SIGNED = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite).decode
_STRICT = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_reject_constant, parse_float=_finite
).decode


def parse_json(body: bytes, *, allow_duplicate_keys: bool = False) -> Any:
    """Decode ``body`` as strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, no lone surrogates.

    ``allow_duplicate_keys=True`` skips the duplicate-key check (the costliest one, see
    docs/performance.md): the verifier passes it only when the signature covers the
    bytes being parsed, so that they are exactly what the signer wrote.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not valid UTF-8", code="invalid_encoding") from None
    try:
        value = (_SIGNED if allow_duplicate_keys else _STRICT)(text)
    except _DuplicateKey:
        where = _duplicate_path(text)
        if where is None:
            raise PayloadError("not valid JSON", code="invalid_json") from None
        raise PayloadError("duplicate object key", path=where) from None
    except _BadConstant:
        raise PayloadError("NaN and Infinity are not JSON", code="invalid_json") from None
    except _OutOfRange:
        raise PayloadError("number out of range", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not valid JSON (line {exc.lineno} column {exc.colno})", code="invalid_json") from None
    except (ValueError, RecursionError):
        # Integers beyond Python's digit limit, nesting beyond the recursion limit.
        raise PayloadError("JSON too deeply nested or number too long", code="invalid_json") from None
    # A lone surrogate can only come from a \\uD800-\\uDFFF escape. "\\" alone is a memchr;
    # the escape search runs only when there is a backslash, the full check only when
    # the escape is there (Go writes \\u0026 for "&", which must not cost a json.dumps).
    if "\\" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise PayloadError("string holds an unpaired UTF-16 surrogate", code="invalid_encoding")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        # json.dumps runs a few frames deeper than json.loads did: nesting at the limit.
        raise PayloadError("JSON too deeply nested or number too long", code="invalid_json") from None
    return False


# --- events -------------------------------------------------------------------------


def _fail(message: str, path: str) -> NoReturn:
    raise PayloadError(message, path=path)


def _opt_str(value: Any, path: str, key: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    _fail("expected a string or null", f"{path}.{key}")


def _str_tuple(value: Any, path: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        _fail("expected an array of strings or null", f"{path}.{key}")
    for index, item in enumerate(value):
        if type(item) is not str:
            _fail("expected a string", f"{path}.{key}[{index}]")
    return tuple(value)


def _occurred(value: Any, path: str) -> datetime:
    where = f"{path}.occurred"
    try:
        if type(value) is int:
            return occurred_from_ms(value)
        if type(value) is str:
            if value.isascii() and value.isdigit():
                return occurred_from_ms(int(value))
            return _iso(value, where)
        if type(value) is float and value.is_integer():
            return occurred_from_ms(int(value))
    except (OverflowError, ValueError):
        _fail("occurred is out of range", where)
    if value is None:
        _fail("missing occurred", where)
    _fail("occurred must be epoch milliseconds or an ISO-8601 string", where)


def _iso(value: str, where: str) -> datetime:
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes only 3 or 6 fractional digits; Go writes up to 9
    # (RFC3339Nano) and trims zeros (".44"). Use exactly 6, as 3.11 does (it truncates).
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "00000")[:6], text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _fail("occurred is not a valid ISO-8601 timestamp", where)
    if parsed.tzinfo is None:
        # Descope's timestamps are UTC; a naive one is read as UTC rather than local time.
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _severity(value: Any, path: str) -> Severity | None:
    if value is None or value == "":
        return None
    if type(value) is not str:
        _fail("expected a string or null", f"{path}.type")
    # An unknown severity word is kept in ``raw`` but is not an error: Descope may add one.
    return SEVERITY_WORDS.get(value.lower())


def _event(obj: Any, path: str) -> AuditEvent:
    if type(obj) is not dict:
        _fail("expected an audit event object", path)
    get = obj.get
    action = get("action")
    if type(action) is not str or not action:
        _fail("missing or non-string action", f"{path}.action")
    data = get("data")
    if data is None:
        data_view = EMPTY_MAPPING
    elif type(data) is dict:
        data_view = MappingProxyType(data)
    else:
        _fail("expected an object or null", f"{path}.data")
    login_key = "loginIds" if "loginIds" in obj else "externalIds"
    # Built without __init__ (every field is checked above and below), as build_usual does.
    event: Any = object.__new__(EventBuilder)
    event.action = action
    event.occurred = _occurred(get("occurred"), path)
    event.severity = _severity(get("type"), path)
    event.actor_id = _opt_str(get("actorId"), path, "actorId")
    event.user_id = _opt_str(get("userId"), path, "userId")
    event.project_id = _opt_str(get("projectId"), path, "projectId")
    event.tenants = _str_tuple(get("tenants"), path, "tenants")
    event.login_ids = _str_tuple(get(login_key), path, login_key)
    event.device = _opt_str(get("device"), path, "device")
    event.method = _opt_str(get("method"), path, "method")
    event.geo = _opt_str(get("geo"), path, "geo")
    event.remote_address = _opt_str(get("remoteAddress"), path, "remoteAddress")
    event.data = data_view
    event.raw = MappingProxyType(obj)
    event.__class__ = AuditEvent
    return event  # type: ignore[no-any-return]


def _items(value: Any) -> tuple[list[Any], str] | AuditEvent:
    """The list of events and its JSON path, or the one event of a single-object body."""
    path = "$"
    if type(value) is dict:
        keys = [key for key in ("audits", "events") if key in value]
        if len(keys) == 2:
            _fail("both audits and events given", path)
        if keys:
            path = f"$.{keys[0]}"
            value = value[keys[0]]
            if type(value) is not list:
                _fail("expected an array of audit events", path)
        else:
            return _event(value, path)
    elif type(value) is not list:
        _fail("expected an array of audit events or an event object", path)
    return value, path


def parse_events(value: Any) -> tuple[AuditEvent, ...]:
    """Accept what Descope sends (an array), a single event object, or ``{"audits"|"events": [...]}``."""
    found = _items(value)
    if isinstance(found, AuditEvent):
        return (found,)
    items, path = found
    if len(items) > _FEW:
        columns = usual_columns(items)
        if columns is not None:
            return build_usual(columns)
    # Every event through the checked path, in order, so the first bad one is reported.
    return tuple([_event(item, f"{path}[{index}]") for index, item in enumerate(items)])


def parse_batch(
    value: Any, signed_form: SignedForm | None, body: bytes, claims: Mapping[str, Any] | None = None
) -> AuditBatch:
    """:func:`parse_events` as an :class:`AuditBatch` of the given signed form, signed bytes and claims.

    ``claims``: what the token validator returned.
    """
    return AuditBatch(parse_events(value), signed_form, body, claims=claims)
