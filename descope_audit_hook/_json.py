"""JSON: the strict decoding of a body, and the canonical text a fingerprint hashes.

Every decoding failure is a :class:`PayloadError` naming the JSON path of the problem,
never the offending value: the body may hold personal data and error responses travel
back to the sender.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from ._errors import PayloadError

__all__ = ["canonical_json", "parse_json"]


_INFINITIES = (float("inf"), float("-inf"))
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


# --- the canonical text of a value --------------------------------------------------------


class _Raw(str):
    """Already-encoded JSON text on the work stack of :func:`canonical_json`."""


def _key_text(key: object) -> str:
    # json.dumps turns str, int, float, bool and None keys into strings, and refuses others.
    if not isinstance(key, str):
        if not (key is None or isinstance(key, (int, float))):
            raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
        key = json.dumps(key)
    return json.dumps(key) + ":"


def canonical_json(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)``, without recursion."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Raw:
            out.append(item)
        elif item is None or isinstance(item, (str, int, float)):  # bool is an int
            out.append(json.dumps(item))
        elif isinstance(item, (list, tuple)):
            stack.append(_Raw("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        elif isinstance(item, dict):
            pairs = sorted(item.items(), key=lambda pair: pair[0])
            stack.append(_Raw("}"))
            for index in range(len(pairs) - 1, -1, -1):
                key, child = pairs[index]
                stack.append(child)
                stack.append(_Raw(_key_text(key)))
                if index:
                    stack.append(_Raw(","))
            stack.append(_Raw("{"))
        else:
            stack.append(repr(item))
    return "".join(out)
