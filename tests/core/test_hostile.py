# ruff: noqa: E501  (one row per line reads best in this table)
"""One table of hostile requests: each gets exactly one of our errors, with its status and code.

Every row goes through ``Verifier.verify`` as an adapter would call it; nothing but a
:class:`VerificationError` may come out, and the class, HTTP status and code are pinned.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

import pytest

from descope_audit_hook import (
    ApiKey,
    AuthenticationError,
    BasicAuth,
    BearerToken,
    PayloadError,
    PayloadTooLarge,
    SignatureError,
    VerificationError,
    Verifier,
    sign,
)
from descope_audit_hook._compact import compact_form
from descope_audit_hook._error_codes import BY_CODE
from tests.support.deliveries import SIG, event
from tests.support.headers import MultiItems, ReadOnlyHeaders
from tests.support.secrets import HMAC_SECRET

TOKEN = "hostile-test-token"
MAX = 1_048_576  # the default; 100k nested brackets must fit under it

VERIFIERS = {
    "bearer": Verifier(HMAC_SECRET, auth=BearerToken(TOKEN), required_headers={"x-env": "prod"}, max_body_bytes=MAX),
    "apikey": Verifier(HMAC_SECRET, auth=ApiKey("x-api-key", TOKEN), max_body_bytes=MAX),
    "basic": Verifier(HMAC_SECRET, auth=BasicAuth("descope", TOKEN), max_body_bytes=MAX),
    "open": Verifier(allow_unauthenticated=True, max_body_bytes=MAX),
}
AUTH = {"Authorization": f"Bearer {TOKEN}", "x-env": "prod"}
GOOD_BODY = json.dumps([event(type="info", tenants=["t"], data={"k": "v"})]).encode()


def js(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def signed(body: bytes, **headers: str) -> dict[str, str]:
    """Valid bearer credentials, static header and signature for ``body``, plus ``headers``."""
    return {**AUTH, SIG: sign(body, HMAC_SECRET), **headers}


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode(), SIG: sign(GOOD_BODY, HMAC_SECRET)}


class Row(NamedTuple):
    id: str
    verifier: str
    body: bytes
    headers: Any
    error: type[VerificationError] | None  # None: accepted
    status: int = 0
    code: str = ""
    path: str | None = None


def bad_payload(id: str, body: bytes, code: str = "invalid_payload", path: str | None = None) -> Row:
    return Row(id, "bearer", body, signed(body), PayloadError, 400, code, path)


def compact_signed(id: str, body: bytes) -> Row:
    """A body with a repeated key, signed over its compact form (which keeps the repeat).

    Accepted: the events are read from the signed string, where the last one won.
    """
    form = compact_form(body)
    assert form is not None
    return Row(id, "bearer", body, {**AUTH, SIG: sign(form.text, HMAC_SECRET)}, None)


DUP = b'[{"action":"A","action":"B","occurred":1}]'


def bad_field(key: str, value: Any) -> Row:
    body = js([event(**{key: value})])
    return bad_payload(f"field-{key}-{type(value).__name__}", body, path=f"$[0].{key}")


BIG = b"[" + b" " * MAX + b"]"
NOT_JSON = b"<html>not json</html>"
SIG_OK = sign(GOOD_BODY, HMAC_SECRET)

ROWS: list[Row] = [
    # --- size ------------------------------------------------------------------------
    Row("oversize", "bearer", BIG, signed(BIG), PayloadTooLarge, 413, "payload_too_large"),
    Row("oversize-no-auth", "bearer", BIG, {}, PayloadTooLarge, 413, "payload_too_large"),
    Row("oversize-open", "open", BIG, {}, PayloadTooLarge, 413, "payload_too_large"),
    # --- Authorization (Bearer) ------------------------------------------------------------
    Row("auth-missing", "bearer", GOOD_BODY, {"x-env": "prod", SIG: SIG_OK}, AuthenticationError, 401, "missing_credentials"),
    Row(
        "auth-duplicate",
        "bearer",
        GOOD_BODY,
        [*signed(GOOD_BODY).items(), ("AUTHORIZATION", f"Bearer {TOKEN}")],
        AuthenticationError,
        401,
        "duplicate_header",
    ),
    Row("auth-no-token", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization="Bearer"), AuthenticationError, 401, "malformed_credentials"),
    Row("auth-other-scheme", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization=f"Token {TOKEN}"), AuthenticationError, 401, "malformed_credentials"),
    Row("auth-no-scheme", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization=TOKEN), AuthenticationError, 401, "malformed_credentials"),
    Row("auth-wrong", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization="Bearer nope"), AuthenticationError, 401, "invalid_credentials"),
    Row("auth-prefix", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization=f"Bearer {TOKEN[:-1]}"), AuthenticationError, 401, "invalid_credentials"),
    Row("auth-huge", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization="Bearer " + "A" * 100_000), AuthenticationError, 401, "invalid_credentials"),
    Row("auth-nul", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization=f"Bearer {TOKEN}\x00"), AuthenticationError, 401, "invalid_credentials"),
    Row("auth-scheme-lower", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization=f"bearer {TOKEN}"), None),
    Row("auth-scheme-upper", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization=f"BEARER {TOKEN}"), None),
    # --- Basic ------------------------------------------------------------------------
    Row("basic-ok", "basic", GOOD_BODY, basic(f"descope:{TOKEN}".encode()), None),
    Row("basic-bad-base64", "basic", GOOD_BODY, {"Authorization": "Basic ***", SIG: SIG_OK}, AuthenticationError, 401, "malformed_credentials"),
    Row("basic-non-ascii", "basic", GOOD_BODY, {"Authorization": "Basic ZGVzY29wZTrDqQ==é", SIG: SIG_OK}, AuthenticationError, 401, "malformed_credentials"),
    Row("basic-non-utf8", "basic", GOOD_BODY, basic(b"descope:\xff\xfe\xfd"), AuthenticationError, 401, "invalid_credentials"),
    Row("basic-no-colon", "basic", GOOD_BODY, basic(b"descope" + TOKEN.encode()), AuthenticationError, 401, "malformed_credentials"),
    Row("basic-wrong", "basic", GOOD_BODY, basic(b"descope:nope"), AuthenticationError, 401, "invalid_credentials"),
    Row("basic-missing", "basic", GOOD_BODY, {SIG: SIG_OK}, AuthenticationError, 401, "missing_credentials"),
    # --- API key ----------------------------------------------------------------------
    Row("apikey-ok", "apikey", GOOD_BODY, {"X-API-KEY": TOKEN, SIG: SIG_OK}, None),
    Row("apikey-missing", "apikey", GOOD_BODY, {SIG: SIG_OK}, AuthenticationError, 401, "missing_credentials"),
    Row("apikey-wrong", "apikey", GOOD_BODY, {"x-api-key": "nope", SIG: SIG_OK}, AuthenticationError, 401, "invalid_credentials"),
    Row(
        "apikey-duplicate",
        "apikey",
        GOOD_BODY,
        [("x-api-key", TOKEN), ("X-Api-Key", TOKEN), (SIG, SIG_OK)],
        AuthenticationError,
        401,
        "duplicate_header",
    ),
    Row("apikey-in-authorization", "apikey", GOOD_BODY, {"Authorization": f"Bearer {TOKEN}", SIG: SIG_OK}, AuthenticationError, 401, "missing_credentials"),
    # --- required headers -------------------------------------------------------------
    Row("required-missing", "bearer", GOOD_BODY, {"Authorization": f"Bearer {TOKEN}", SIG: SIG_OK}, AuthenticationError, 401, "missing_header"),
    Row("required-wrong", "bearer", GOOD_BODY, signed(GOOD_BODY, **{"x-env": "dev"}), AuthenticationError, 401, "invalid_header"),
    Row("required-case", "bearer", GOOD_BODY, signed(GOOD_BODY, **{"x-env": "Prod"}), AuthenticationError, 401, "invalid_header"),
    # --- signature --------------------------------------------------------------------
    Row("sig-missing", "bearer", GOOD_BODY, AUTH, SignatureError, 401, "missing_signature"),
    Row("sig-duplicate", "bearer", GOOD_BODY, [*signed(GOOD_BODY).items(), (SIG.upper(), SIG_OK)], SignatureError, 401, "duplicate_header"),
    Row("sig-not-base64", "bearer", GOOD_BODY, {**AUTH, SIG: "!" * 44}, SignatureError, 401, "malformed_signature"),
    Row("sig-hex", "bearer", GOOD_BODY, {**AUTH, SIG: base64.b64decode(SIG_OK).hex()}, SignatureError, 401, "malformed_signature"),
    Row("sig-short", "bearer", GOOD_BODY, {**AUTH, SIG: base64.b64encode(b"x" * 31).decode()}, SignatureError, 401, "malformed_signature"),
    Row("sig-long", "bearer", GOOD_BODY, {**AUTH, SIG: base64.b64encode(b"x" * 33).decode()}, SignatureError, 401, "malformed_signature"),
    Row("sig-sha1", "bearer", GOOD_BODY, {**AUTH, SIG: base64.b64encode(b"x" * 20).decode()}, SignatureError, 401, "malformed_signature"),
    Row("sig-wrong", "bearer", GOOD_BODY, {**AUTH, SIG: sign(GOOD_BODY, "other")}, SignatureError, 401, "invalid_signature"),
    Row("sig-non-ascii", "bearer", GOOD_BODY, {**AUTH, SIG: "é" * 43 + "="}, SignatureError, 401, "malformed_signature"),
    Row("sig-huge", "bearer", GOOD_BODY, {**AUTH, SIG: "A" * 1_000_000}, SignatureError, 401, "malformed_signature"),
    # --- auth or signature failing AND a malformed body: always the 401 ------------------
    Row("bad-auth-bad-body", "bearer", NOT_JSON, signed(NOT_JSON, Authorization="Bearer x"), AuthenticationError, 401, "invalid_credentials"),
    Row("no-auth-bad-body", "bearer", b"[NaN]", {}, AuthenticationError, 401, "missing_credentials"),
    Row("bad-sig-bad-body", "bearer", NOT_JSON, {**AUTH, SIG: SIG_OK}, SignatureError, 401, "invalid_signature"),
    Row("bad-sig-dup-keys", "bearer", b'[{"a":1,"a":2}, !]', {**AUTH, SIG: SIG_OK}, SignatureError, 401, "invalid_signature"),
    Row("bad-sig-deep", "bearer", b"[" * 50_000, {**AUTH, SIG: SIG_OK}, SignatureError, 401, "invalid_signature"),
    Row("bad-sig-not-utf8", "bearer", b"\xff\xfe[]", {**AUTH, SIG: SIG_OK}, SignatureError, 401, "invalid_signature"),
    # --- the body, once authenticated ------------------------------------------------------
    bad_payload("not-utf8", b'[{"action":"\xff"}]', "invalid_encoding"),
    bad_payload("utf16", "[]".encode("utf-16"), "invalid_encoding"),
    bad_payload("not-json", NOT_JSON, "invalid_json"),
    bad_payload("empty-body", b"", "invalid_json"),
    bad_payload("truncated", GOOD_BODY[:-3], "invalid_json"),
    bad_payload("nan", b'[{"action":"A","occurred":NaN}]', "invalid_json"),
    bad_payload("infinity", b'[{"action":"A","occurred":1,"data":{"x":-Infinity}}]', "invalid_json"),
    bad_payload("float-overflow", b'[{"action":"A","occurred":1,"data":{"x":1e999}}]', "invalid_json"),
    # A repeated key: refused without a signature; under a signature the events come from
    # the signed string, where the last one won (tests/core/test_duplicate_keys.py).
    compact_signed("dup-keys-event", b'[{"action": "A", "action": "B", "occurred": 1}]\n'),
    compact_signed("dup-keys-data", b'[ {"action":"A","occurred":1,"data":{"k":1, "k":2}} ]'),
    compact_signed("dup-keys-pretty", b'[ {"action": "A", "occurred": 1, "data": {"k": ":", "k": "::"}} ]'),
    Row("dup-keys-open", "open", b'[{"action":"A","action":"B","occurred":1}]', {}, PayloadError, 400, "invalid_payload", "$[0]"),
    Row("dup-keys-raw-signed", "bearer", DUP, signed(DUP), None),
    bad_payload("top-level-number", b"42", path="$"),
    bad_payload("top-level-string", b'"LoginSucceed"', path="$"),
    bad_payload("top-level-null", b"null", path="$"),
    bad_payload("missing-action", js([{"occurred": 1}]), path="$[0].action"),
    bad_payload("empty-action", js([event(action="")]), path="$[0].action"),
    bad_payload("missing-occurred", js([{"action": "A"}]), path="$[0].occurred"),
    bad_payload("occurred-text", js([event(occurred="last tuesday")]), path="$[0].occurred"),
    bad_payload("occurred-huge", js([event(occurred=10**40)]), path="$[0].occurred"),
    bad_payload("lone-surrogate", b'[{"action":"\\ud83d","occurred":1}]', "invalid_encoding"),
    bad_payload("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    bad_payload("deep-nesting-open", b"[" * 100_000, "invalid_json"),
    bad_payload("huge-integer", b'[{"action":"A","occurred":1,"data":{"n":' + b"9" * 10_000 + b"}}]", "invalid_json"),
    bad_payload("item-not-object", b'[{"action":"A","occurred":1},"x"]', path="$[1]"),
    bad_field("action", 7),
    bad_field("action", None),
    bad_field("occurred", True),
    bad_field("occurred", [1]),
    bad_field("type", 1),
    bad_field("actorId", 1),
    bad_field("userId", ["u"]),
    bad_field("projectId", {"id": "P"}),
    bad_field("device", False),
    bad_field("method", 1.5),
    bad_field("geo", ["US"]),
    bad_field("remoteAddress", 127001),
    bad_field("tenants", "acme"),
    bad_field("loginIds", "a@b.c"),
    bad_field("externalIds", {"a": 1}),
    bad_field("data", "text"),
    bad_field("data", [1, 2]),
    # --- header shapes and odd header content ---------------------------------------------
    Row("headers-dict", "bearer", GOOD_BODY, signed(GOOD_BODY), None),
    Row("headers-mapping", "bearer", GOOD_BODY, ReadOnlyHeaders(signed(GOOD_BODY)), None),
    Row("headers-str-pairs", "bearer", GOOD_BODY, list(signed(GOOD_BODY).items()), None),
    Row("headers-asgi-bytes", "bearer", GOOD_BODY, [(k.lower().encode(), v.encode()) for k, v in signed(GOOD_BODY).items()], None),
    Row("headers-multi-items", "bearer", GOOD_BODY, MultiItems(list(signed(GOOD_BODY).items())), None),
    Row("headers-extra-junk", "bearer", GOOD_BODY, [*signed(GOOD_BODY).items(), ("X-Ünïcode", "välue\u2028"), (b"x-bin\xff", b"\x00\xff")], None),
    Row("header-name-non-ascii", "bearer", GOOD_BODY, {"Authorizatİon": f"Bearer {TOKEN}", "x-env": "prod", SIG: SIG_OK}, AuthenticationError, 401, "missing_credentials"),
    Row("header-value-non-ascii", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization="Bearer töken\u2603"), AuthenticationError, 401, "invalid_credentials"),
    Row("header-value-surrogate", "bearer", GOOD_BODY, signed(GOOD_BODY, Authorization="Bearer \udcff"), AuthenticationError, 401, "invalid_credentials"),
    Row("header-value-bytes-invalid-utf8", "bearer", GOOD_BODY, [(b"authorization", b"Bearer \xff\xfe"), (b"x-env", b"prod"), (SIG.encode(), SIG_OK.encode())], AuthenticationError, 401, "invalid_credentials"),
    Row("header-sig-bytes-latin1", "bearer", GOOD_BODY, [*AUTH.items(), (SIG.encode(), b"\xe9" * 44)], SignatureError, 401, "malformed_signature"),
    Row("header-value-int", "bearer", GOOD_BODY, {**signed(GOOD_BODY), "x-env": 1}, AuthenticationError, 401, "malformed_headers"),
    Row("headers-none", "bearer", GOOD_BODY, None, AuthenticationError, 401, "malformed_headers"),
    Row("headers-str", "bearer", GOOD_BODY, "Authorization: Bearer x", AuthenticationError, 401, "malformed_headers"),
    Row("headers-triples", "bearer", GOOD_BODY, [("a", "b", "c")], AuthenticationError, 401, "malformed_headers"),
    # --- the open verifier still parses strictly ---------------------------------------------
    Row("open-ok", "open", GOOD_BODY, {}, None),
    Row("open-garbage", "open", b"\x00\x01\x02", {}, PayloadError, 400, "invalid_json"),
    Row("open-dup-then-garbage", "open", b'[{"a":1,"a":2},!!!]', {}, PayloadError, 400, "invalid_json"),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_hostile_request(row: Row) -> None:
    verifier = VERIFIERS[row.verifier]
    if row.error is None:
        batch = verifier.verify(row.body, row.headers)
        assert len(batch) >= 1
        return
    with pytest.raises(VerificationError) as info:
        verifier.verify(row.body, row.headers)
    error = info.value
    assert type(error) is row.error
    assert error.status_code == row.status
    assert error.code == row.code
    # Every code raised is in the registry (and so in docs/api.md), with this status.
    assert BY_CODE[error.code].status == error.status_code
    if row.path is not None:
        assert isinstance(error, PayloadError)
        assert error.path == row.path
    # What goes back to the caller is short and never echoes the request.
    response = json.dumps(error.to_dict())
    assert len(response) < 300
    assert TOKEN not in response
    assert SIG_OK not in response
    if row.error is AuthenticationError and row.code.endswith("_credentials") and row.verifier in ("bearer", "basic"):
        # A challenge tells a well-behaved client which scheme to use (RFC 9110 11.6.1).
        assert "WWW-Authenticate" in error.headers


def test_table_covers_every_error_class_and_status() -> None:
    seen = {(row.error, row.status) for row in ROWS if row.error}
    assert seen == {
        (PayloadTooLarge, 413),
        (AuthenticationError, 401),
        (SignatureError, 401),
        (PayloadError, 400),
    }
