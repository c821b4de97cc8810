"""Header lookup over every shape a framework hands over."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from descope_audit_hook import AuthenticationError, BearerToken, SignatureError, Verifier, sign
from descope_audit_hook._headers import collect, header_bytes
from tests.support.deliveries import SIG, body_of, event
from tests.support.headers import MultiItems, ReadOnlyHeaders
from tests.support.secrets import HMAC_SECRET

BODY = body_of([event()])
SIGNATURE = sign(BODY, HMAC_SECRET)
VERIFIER = Verifier(HMAC_SECRET, auth=BearerToken("tok"), required_headers={"x-env": "prod"})


PAIRS = [("Authorization", "Bearer tok"), ("X-Env", "prod"), ("X-Descope-Webhook-S256", SIGNATURE)]


@pytest.mark.parametrize(
    "headers",
    [
        dict(PAIRS),
        {k.upper(): v for k, v in PAIRS},
        ReadOnlyHeaders(dict(PAIRS)),
        PAIRS,
        [list(p) for p in PAIRS],
        tuple(PAIRS),
        [(k.lower().encode(), v.encode()) for k, v in PAIRS],  # ASGI scope["headers"]
        [(k.encode(), v) for k, v in PAIRS],
        MultiItems(PAIRS),
        Headers(PAIRS),
        iter(PAIRS),
    ],
    ids=["dict", "upper", "mapping", "pairs", "lists", "tuple", "asgi-bytes", "mixed", "multi", "werkzeug", "iter"],
)
def test_every_header_shape_is_accepted(headers: Any) -> None:
    batch = VERIFIER.verify(BODY, headers)
    assert batch.signed_form == "raw"


@pytest.mark.parametrize(
    ("headers", "error", "code"),
    [
        (MultiItems([*PAIRS, ("authorization", "Bearer tok")]), AuthenticationError, "duplicate_header"),
        (Headers([*PAIRS, ("X-ENV", "prod")]), AuthenticationError, "duplicate_header"),
        ([*PAIRS, (b"x-descope-webhook-s256", SIGNATURE.encode())], SignatureError, "duplicate_header"),
    ],
)
def test_duplicates_in_multi_valued_shapes(headers: Any, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as info:
        VERIFIER.verify(BODY, headers)
    assert getattr(info.value, "code", None) == code


@pytest.mark.parametrize(
    "headers",
    [
        None,
        42,
        "Authorization: Bearer tok",
        b"raw header bytes",
        [("only-one",)],
        [("a", "b", "c")],
        ["ab"],
        [(1, 2)],
        [("Authorization", None)],
        {"Authorization": 5},
        [(None, "x")],
    ],
)
def test_unreadable_headers_are_a_clean_401(headers: Any) -> None:
    with pytest.raises(AuthenticationError) as info:
        VERIFIER.verify(BODY, headers)
    assert info.value.code == "malformed_headers"


def test_broken_mapping_is_a_clean_401() -> None:
    class Broken(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            raise KeyError(key)

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("boom")

        def __len__(self) -> int:
            return 1

    with pytest.raises(AuthenticationError) as info:
        VERIFIER.verify(BODY, Broken())
    assert info.value.code == "malformed_headers"


def test_unwanted_headers_are_not_inspected() -> None:
    # Values of headers the verifier does not read may be anything at all.
    headers: list[tuple[Any, Any]] = [*PAIRS, ("X-Other", 12345), (b"x-bin", b"\xff\x00")]
    assert len(VERIFIER.verify(BODY, headers)) == 1


def test_non_ascii_name_does_not_pose_as_a_wanted_header() -> None:
    # "\u212a" (Kelvin sign) lower-cases to "k": it must not count as the signature header.
    kelvin = "x-descope-webhoo\u212a-s256"
    assert collect({kelvin: "x"}, frozenset({SIG})) == {}
    assert len(VERIFIER.verify(BODY, [*PAIRS, (kelvin, "bogus")])) == 1


def test_collect_strips_only_optional_whitespace() -> None:
    found = collect([("A", " \tv a l\t "), ("b", "x")], frozenset({"a"}))
    assert found == {"a": ["v a l"]}


def test_header_bytes() -> None:
    assert header_bytes("abc") == (b"abc",)
    assert header_bytes("é") == (b"\xe9", b"\xc3\xa9")
    assert header_bytes("€") == ("€".encode(),)
    assert header_bytes("\udc80") == (b"\xed\xb2\x80",)
