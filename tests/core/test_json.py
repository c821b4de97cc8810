"""Strict JSON decoding: what parse_json refuses, and errors that name a path, never a value."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone

import pytest

from descope_audit_hook import PayloadError, Verifier
from descope_audit_hook._json import parse_json
from tests.support.deliveries import event, refused, verify_open

OPEN = Verifier(allow_unauthenticated=True)
MS = 1780949905843
WHEN = datetime(2026, 6, 8, 20, 18, 25, 843000, tzinfo=timezone.utc)


parse = verify_open
bad = refused


# --- strict JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff[]", "invalid_encoding"),
        (b'["\xc3"]', "invalid_encoding"),
        (b"", "invalid_json"),
        (b"[", "invalid_json"),
        (b"[1,]", "invalid_json"),
        (b"{'a': 1}", "invalid_json"),
        (b"[NaN]", "invalid_json"),
        (b"[Infinity]", "invalid_json"),
        (b"[-Infinity]", "invalid_json"),
        (b"[1e400]", "invalid_json"),
        (b"[-1e400]", "invalid_json"),
        (b"[1" + b"0" * 5000 + b"]", "invalid_json"),
        (b'["\\ud800"]', "invalid_encoding"),
        (b'["\\udc00x"]', "invalid_encoding"),
        (b'{"\\ud800": 1}', "invalid_encoding"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'[{"a":1,"a":2}, !!!]', "invalid_json"),
        (b"\xef\xbb\xbf[]", "invalid_json"),  # a UTF-8 BOM is not JSON
    ],
)
def test_strict_json(body: bytes, code: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_json(body)
    assert info.value.code == code


def test_surrogate_pair_escape_is_fine() -> None:
    assert parse_json(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"a":1,"a":2}', "$"),
        (b'[{"action":"A","action":"B"}]', "$[0]"),
        (b'[{"action":"A","occurred":1,"data":{"k":1,"k":2}}]', "$[0].data"),
        (b'[{"action":"A"},{"data":{"x":[{"k":1,"k":1}]}}]', "$[1].data.x[0]"),
        (b'{"audits":[{"a":{"b":1,"b":1}}]}', "$.audits[0].a"),
    ],
)
def test_duplicate_keys_name_the_path(body: bytes, path: str) -> None:
    error = bad(body)
    assert error.path == path
    assert error.message.endswith(f"at {path}")


def test_path_quotes_keys_that_are_not_plain_names() -> None:
    body = b'[{"action":"A","occurred":1,"data":{"evil\\n\\"key\\"":{"k":1,"k":2}}}]'
    error = bad(body)
    assert error.path == '$[0].data["evil\\n\\"key\\""]'
    assert "\n" not in error.message
    long_key = "k" * 10_000
    error = bad(json.dumps([{long_key: {"k": 1}}]).replace('{"k": 1}', '{"k":1,"k":2}').encode())
    assert error.path is not None
    assert len(error.path) < 100


def test_errors_never_echo_values() -> None:
    secret_value = "PERSONAL-DATA-42"
    for payload in (
        [event(occurred=secret_value)],
        [event(actorId=[secret_value])],
        [event(tenants=[1, secret_value])],
        [{"action": 7, "note": secret_value}],
    ):
        error = bad(payload)
        assert secret_value not in str(error)
        assert secret_value not in json.dumps(error.to_dict())


def test_deep_nesting_near_the_limit_never_escapes() -> None:
    # Find where json.loads gives up here, then probe around it with the constructs that
    # re-walk the value (duplicate-key search, surrogate check, compact re-serialization).
    depth = 50
    while depth < 100_000:
        try:
            json.loads("[" * depth + "]" * depth)
        except RecursionError:
            break
        depth *= 2
    low, high = depth // 2, depth
    while high - low > 1:
        mid = (low + high) // 2
        try:
            json.loads("[" * mid + "]" * mid)
            low = mid
        except RecursionError:
            high = mid
    for d in range(max(1, low - 40), low + 5):
        for inner in (b'{"a":1,"a":2}', b'"\\u0041"', b"1.5", b'{"action":"A"}'):
            body = b"[" * d + inner + b"]" * d
            with contextlib.suppress(PayloadError):  # anything else fails the test
                OPEN.verify(body, {})


def test_the_path_of_a_deep_problem_is_cut_short() -> None:
    # A repeated key 400 objects deep: the path would be as long as the body, in the
    # answer and the log line; its two ends are kept.
    body = ('{"k":' * 400 + '{"a":1,"a":2}' + "}" * 400).encode()
    with pytest.raises(PayloadError) as info:
        parse_json(body)
    assert info.value.path is not None
    assert len(info.value.path) <= 201
    assert info.value.path.startswith("$.k.k")
    assert info.value.path.endswith(".k.k")
    assert len(str(info.value)) < 300
