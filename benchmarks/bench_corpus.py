"""The worst-case corpus: bodies built to make the signed-form check as costly as possible.

Each body is an audit payload (so that a correctly signed one is accepted and its events
built) whose ``data`` holds one kind of costly JSON. It is pretty-printed, ends with a
newline and has an ``&`` in every event, so that every candidate signed string
(``trimmed``, ``compact``, ``compact-escaped``) differs from the body and from the
others: a forged request makes ``verify()`` build and hash all of them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from descope_audit_hook._js_number import js_number as _js_number

__all__ = ["KINDS", "body_of"]

# Each kind writes the JSON text of ``n`` values (pretty-printed, one per line).
_Writer = Callable[[random.Random, int], str]


def _lines(items: list[str]) -> str:
    return "[\n   " + ",\n   ".join(items) + "\n  ]"


def _dumps(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=True).replace("\n", "\n  ")


def _floats(rng: random.Random, n: int) -> str:
    # Shortest round-trip digits at every exponent (the costliest doubles to format),
    # spelled as JavaScript and Go write them: each is kept as written.
    return _lines([_js_number(rng.random() * 10.0 ** rng.randint(-300, 300)) for _ in range(n)])


def _plain_floats(rng: random.Random, n: int) -> str:
    return _lines([_js_number(round(rng.uniform(-1000, 1000), rng.randint(1, 12))) for _ in range(n)])


def _floats_one_line(rng: random.Random, n: int) -> str:
    # On one line, no quote: the text builder cuts its chunks before commas. Half the events
    # end with a float JavaScript writes otherwise (3.0): some 50 rewrites, within the budget.
    items = [_js_number(round(rng.uniform(-1000, 1000), rng.randint(1, 12))) for _ in range(n)]
    return "[" + ",".join(items + (["3.0"] if rng.random() < 0.5 else [])) + "]"


def _tiny_js(rng: random.Random, n: int) -> str:
    # Below 1e-6, as JavaScript and Go write them (1.5e-7).
    return _lines([_js_number(rng.random() * 10.0 ** -rng.randint(7, 300)) for _ in range(n)])


def _tiny_python(rng: random.Random, n: int) -> str:
    # Below 1e-4, as Python writes them (1.5e-07): each must be rewritten, and past the
    # rewrite budget the body has no compact form (a signature over one cannot match).
    return _lines([repr(rng.uniform(1e-9, 1e-5)) for _ in range(n)])


def _integral_floats(rng: random.Random, n: int) -> str:
    return _lines([f"{rng.randint(0, 10**6)}.0" for _ in range(n)])  # JavaScript writes 3 for 3.0


def _big_ints(rng: random.Random, n: int) -> str:
    return _lines([str(rng.randint(2**53, 2**63)) for _ in range(n)])


def _huge_ints(rng: random.Random, n: int) -> str:
    return _lines([str(rng.randint(10**308, 10**320)) for _ in range(max(1, n // 20))])


def _digit_runs(rng: random.Random, n: int) -> str:
    return _dumps([f"P2{rng.randint(10**16, 10**17)}x{rng.randint(10**20, 10**21)}" for _ in range(n // 2)])


def _escapes(rng: random.Random, n: int) -> str:
    # Written escaped (ensure_ascii): \u2028, surrogate pairs, \/, and <>& for Go's escaping.
    words = ["a\u2028b", "😀 é", "<b>&amp;</b>", "\u2029", "日本"]
    return _dumps([rng.choice(words) for _ in range(n)]).replace("/", "\\/")


def _deep(rng: random.Random, n: int) -> str:
    value: object = [1]
    for depth in range(60):
        value = {"k": value} if depth % 2 else [value, depth]
    return _dumps([value for _ in range(max(1, n // 60))])


def _many_keys(rng: random.Random, n: int) -> str:
    return _dumps({f"key-{index}-{rng.randint(0, 10**6)}": index for index in range(n)})


def _strings(rng: random.Random, n: int) -> str:
    return _dumps(["".join(rng.choices("abcdefghij klmnop", k=8)) for _ in range(n)])


def _strings_one_line(rng: random.Random, n: int) -> str:
    # As json.dumps writes without indent: ", " between items, & in most of them.
    return json.dumps(["".join(rng.choices("abcdefgh &", k=8)) for _ in range(n)])


def _one_string(rng: random.Random, n: int) -> str:
    return _dumps("x" * (n * 10))


#: name -> writer of the values in each event's ``data``.
KINDS: dict[str, _Writer] = {
    "floats, any exponent": _floats,
    "floats, plain": _plain_floats,
    "floats, one line, some to rewrite": _floats_one_line,
    "floats < 1e-6, as JS writes": _tiny_js,
    "floats < 1e-4, as Python writes": _tiny_python,
    "integral floats (3.0)": _integral_floats,
    "integers beyond 2^53": _big_ints,
    "integers beyond a double": _huge_ints,
    "16+-digit runs in strings": _digit_runs,
    "escapes (\\u2028, pairs, \\/, <>&)": _escapes,
    "deep nesting": _deep,
    "many keys": _many_keys,
    "short strings": _strings,
    "short strings, one line": _strings_one_line,
    "one long string": _one_string,
}


def _event(index: int, values: str) -> str:
    head = f'{{\n "action": "UserModified",\n "occurred": {1780949905843 + index},\n "type": "info",\n'
    return head + f' "projectId": "P2x",\n "data": {{\n  "note": "a <b> & c",\n  "values": {values}\n }}\n}}'


def body_of(kind: str, size: int, seed: int = 7) -> bytes:
    """A pretty-printed audit payload of at most ``size`` bytes (and close to it) whose ``data`` holds ``kind``."""
    rng = random.Random(seed)
    write = KINDS[kind]
    events = max(1, min(100, size // 4096))
    per_event = size // events - 200
    probe = len(write(rng, 64))
    count = max(1, per_event * 64 // max(probe, 1))
    while True:
        body = ("[" + ",".join(_event(index, write(rng, count)) for index in range(events)) + "]\n").encode()
        if len(body) <= size or count == 1:
            return body
        count = max(1, count * 95 * size // (100 * len(body)))
