"""Repeated object keys: where they are refused, and the colon count that proves their absence.

Under a compact-form signature, a repeated key vanishes from the string that was signed,
so the received bytes could carry a key the signer never wrote. ``no_duplicate_keys``
decides it from three counts; it must never say "none" when there is one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import BearerToken, PayloadError, Verifier, sign
from descope_audit_hook._forms import compact, no_duplicate_keys
from descope_audit_hook._payload import parse_json

# Strings heavy in colons, backslashes and the letters of the escape itself.
_text = st.text(alphabet=st.sampled_from(list(':\\"u003aA{}[], é\u2028')), max_size=6)
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=10,
)


@st.composite
def _written(draw: st.DrawFn, value: Any, dup: list[bool]) -> str:
    """``value`` as JSON text with random spacing, escaped colons, and perhaps one repeated key."""
    space = draw(st.sampled_from(["", " ", "\n  "]))
    if isinstance(value, str):
        out = json.dumps(value, ensure_ascii=draw(st.booleans()))
        return "".join(draw(st.sampled_from([":", "\\u003a", "\\u003A"])) if ch == ":" else ch for ch in out)
    if isinstance(value, list):
        return "[" + ("," + space).join([draw(_written(item, dup)) for item in value]) + "]"
    if isinstance(value, dict):
        pairs = [(draw(_written(key, dup)), draw(_written(item, dup))) for key, item in value.items()]
        if pairs and not dup[0] and draw(st.integers(0, 3)) == 0:
            # An earlier pair with the same key: the parser keeps the last, this one vanishes.
            key, _ = pairs[draw(st.integers(0, len(pairs) - 1))]
            pairs.insert(0, (key, draw(_written(draw(_values), [True]))))
            dup[0] = True
        return "{" + ("," + space).join(f"{k}:{space}{v}" for k, v in pairs) + "}"
    return json.dumps(value)


@settings(max_examples=800)
@given(st.data())
def test_the_colon_count_never_misses_a_repeated_key(data: st.DataObject) -> None:
    dup = [False]
    text = data.draw(_written(data.draw(_values), dup))
    body = text.encode()
    parsed = parse_json(body, allow_duplicate_keys=True)
    verdict = no_duplicate_keys(body, compact(parsed))
    if dup[0]:
        assert not verdict
        with pytest.raises(PayloadError) as info:
            parse_json(body)
        assert info.value.path is not None
    elif "\\\\u003" not in text:
        # Without an escaped backslash before a "u003a", a body without repeats is proven so.
        assert verdict


def test_repeated_keys_by_signed_form() -> None:
    body = b'[{"action":"First","occurred":1,"action":"Last"}]'
    auth = BearerToken("t")
    verifier = Verifier("k", auth=auth)
    headers = {"Authorization": "Bearer t"}
    # Raw form: the signer wrote these bytes; the last key wins, as in Go and JavaScript.
    (event,) = verifier.verify(body, {**headers, "x-descope-webhook-s256": sign(body, "k")})
    assert event.action == "Last"
    # Compact form: what was signed has one "action"; the bytes have two. Refused.
    compact_signed = b'[{"action":"Last","occurred":1}]'
    headers_compact = {**headers, "x-descope-webhook-s256": sign(compact_signed, "k")}
    with pytest.raises(PayloadError) as info:
        verifier.verify(body, headers_compact)
    assert info.value.path == "$[0]"
    assert info.value.status_code == 400
    # The same compact signature over a body without the repeat is fine.
    pretty = b'[ { "action": "Last", "occurred": 1 } ]'
    assert verifier.verify(pretty, headers_compact).signed_form == "compact"
    # No signature at all: refused.
    with pytest.raises(PayloadError) as info:
        Verifier(auth=auth).verify(body, headers)
    assert info.value.path == "$[0]"
