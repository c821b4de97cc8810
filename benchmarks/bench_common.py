"""What every part of the benchmark shares: the bodies, the credentials, the timer.

Imported by ``run.py`` and by the server apps in ``apps/`` (which put this directory, and
the repository for ``tests.support``, on ``sys.path``). The secrets are the test suite's
(``tests/support/secrets.py``): they protect nothing.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import timezone
from typing import Any

from descope_audit_hook import BearerToken, Verifier
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET

__all__ = [
    "BEARER_TOKEN",
    "HMAC_SECRET",
    "REQUIRED_HEADERS",
    "UTC",
    "Timer",
    "events",
    "floor_verify",
    "make_body",
    "make_verifier",
]

REQUIRED_HEADERS = {"x-descope-env": "benchmark"}
UTC = timezone.utc

_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "descope-go-sdk/1.6.2",
)


def events(count: int, *, pad: int = 0, seed: int = 1) -> list[dict[str, Any]]:
    """``count`` realistic events of about 450 bytes each (``pad`` more bytes of ``data`` each).

    ``testing.sample_events`` gives ~330 bytes; Descope's events also carry
    ``occurred_formatted`` and request details in ``data``, which bring them to ~450.
    """
    out = sample_events(count, seed=seed)
    for index, event in enumerate(out):
        ms = event["occurred"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
        event["occurred_formatted"] = f"{stamp}.{ms % 1000:03d}Z"
        data = dict(event["data"])
        data["userAgent"] = _AGENTS[index % len(_AGENTS)]
        if index % 10 == 0:
            # An "&" (and Go's escaping of it) so that the compact-escaped form differs from compact.
            data["redirectUrl"] = "https://app.example.com/login?next=/home&tenant=acme"
        if pad:
            data["details"] = ("x" * 61 + " ") * (pad // 62) + "y" * (pad % 62)
        event["data"] = data
    return out


def make_verifier() -> Verifier:
    """Every check on: a bearer token, a required header and an HMAC signature."""
    return Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), required_headers=REQUIRED_HEADERS)


def make_body(payload: list[dict[str, Any]], form: str = "raw") -> tuple[bytes, dict[str, str]]:
    """A delivery of ``payload`` signed over ``form`` (see docs/security.md), as Descope sends it."""
    return make_delivery(
        payload,
        hmac_secret=HMAC_SECRET,
        auth=BearerToken(BEARER_TOKEN),
        required_headers=REQUIRED_HEADERS,
        signed_form=form,  # type: ignore[arg-type]
    )


def floor_verify(body: bytes, signature: bytes, secret: bytes = HMAC_SECRET.encode()) -> Any:
    """The floor: what no verifier can skip. HMAC-SHA256 of the body, a constant-time compare, ``json.loads``."""
    if not hmac.compare_digest(hmac.digest(secret, body, hashlib.sha256), signature):
        raise ValueError("bad signature")
    return json.loads(body)


def signature_of(headers: Mapping[str, str]) -> bytes:
    return base64.b64decode(headers["x-descope-webhook-s256"])


class Timer:
    """timeit-style: min of repeats, each a loop of ``number`` calls, the functions interleaved.

    Each round times every function once, in a rotated order, so a slow moment of the
    machine hits all of them; the minimum over rounds is the least disturbed figure.
    The garbage collector is off while timing, as in ``timeit``.
    """

    def __init__(self, *, target_seconds: float = 0.02, rounds: int = 7) -> None:
        self.target_seconds = target_seconds
        self.rounds = rounds

    def _number(self, fn: Callable[[], object]) -> int:
        number = 1
        while True:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
            if elapsed >= self.target_seconds / 5 or number >= 1 << 20:
                return max(1, int(number * self.target_seconds / max(elapsed, 1e-9)))
            number *= 4

    def measure(self, functions: Mapping[str, Callable[[], object]]) -> dict[str, float]:
        """Seconds per call of each function (min over rounds)."""
        numbers = {name: self._number(fn) for name, fn in functions.items()}
        best = dict.fromkeys(functions, float("inf"))
        names = list(functions)
        enabled = gc.isenabled()
        try:
            for round_ in range(self.rounds):
                shift = round_ % len(names)
                for name in names[shift:] + names[:shift]:
                    fn, number = functions[name], numbers[name]
                    gc.collect()
                    gc.disable()
                    start = time.perf_counter()
                    for _ in range(number):
                        fn()
                    elapsed = time.perf_counter() - start
                    if enabled:
                        gc.enable()
                    best[name] = min(best[name], elapsed / number)
        finally:
            if enabled:
                gc.enable()
        return best
