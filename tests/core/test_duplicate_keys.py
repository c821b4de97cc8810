"""Repeated object keys: refused where nothing proves the bytes, harmless wherever a signature does.

Under a ``raw``/``trimmed`` signature the signer wrote the repeat itself. Under a compact
form the events are read from the signed string, not from the body: a key the signer
never wrote cannot reach the handler, nor ``batch.body``. Only without a signature is a
repeat refused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import BearerToken, PayloadError, SignatureError, Verifier, sign
from descope_audit_hook._compact import compact_form
from descope_audit_hook._json import parse_json
from tests.support.properties import examples

# Strings heavy in colons, backslashes and the letters of an escape.
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


@settings(max_examples=examples(400))
@given(st.data())
def test_a_repeated_key_never_reaches_the_handler_under_a_compact_signature(data: st.DataObject) -> None:
    dup = [False]
    text = data.draw(_written(data.draw(_values), dup))
    body = ('[{"action":"A","occurred":1,"data":{"v":' + text + "}}]").encode()
    form = compact_form(body)
    assert form is not None
    # The signed string means what the body means: the last value of a repeated key.
    assert json.loads(form.text) == json.loads(body)
    verifier = Verifier("k")
    batch = verifier.verify(body, {"x-descope-webhook-s256": sign(form.text, "k")})
    assert batch.body == form.text
    assert dict(batch[0].raw) == json.loads(form.text)[0]
    if dup[0]:
        with pytest.raises(PayloadError) as info:
            parse_json(body)
        assert info.value.path is not None


def test_repeated_keys_by_signed_form() -> None:
    body = b'[{"action":"First","occurred":1,"action":"Last"}]'
    auth = BearerToken("t")
    verifier = Verifier("k", auth=auth)
    headers = {"Authorization": "Bearer t"}
    # Raw form: the signer wrote these bytes; the last key wins, as in Go and JavaScript.
    (event,) = verifier.verify(body, {**headers, "x-descope-webhook-s256": sign(body, "k")})
    assert event.action == "Last"
    # Compact form of a pretty-printed body: the candidate keeps the repeat, as the body
    # has it; the events and batch.body are that signed string's, where "Last" won.
    pretty = b'[ {"action": "First", "occurred": 1, "action": "Last"} ]\n'
    headers_compact = {**headers, "x-descope-webhook-s256": sign(body, "k")}
    batch = verifier.verify(pretty, headers_compact)
    assert (batch.signed_form, batch.body, batch[0].action) == ("compact", body, "Last")
    assert dict(batch[0].raw) == {"action": "Last", "occurred": 1}
    # A signature over JSON.stringify's string (the repeat dropped) is another signed
    # string: refused, never read as "First".
    deduplicated = {**headers, "x-descope-webhook-s256": sign(b'[{"action":"Last","occurred":1}]', "k")}
    with pytest.raises(SignatureError):
        verifier.verify(pretty, deduplicated)
    # The signer's "First" cannot be smuggled in either: that is another signed string.
    with pytest.raises(SignatureError):
        verifier.verify(b'[ {"action": "Last", "occurred": 1, "action": "First"} ]', headers_compact)
    # No signature at all: refused.
    with pytest.raises(PayloadError) as info:
        Verifier(auth=auth).verify(body, headers)
    assert info.value.path == "$[0]"
