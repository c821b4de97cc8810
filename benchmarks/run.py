"""Benchmarks of descope-audit-hook, printed as ratios measured side by side in one run.

    python benchmarks/run.py                 # everything (a few minutes)
    python benchmarks/run.py --quick         # seconds: small repeats, no servers
    python benchmarks/run.py --only floor peers
    python benchmarks/run.py --only servers --duration 3

Sections: ``floor`` (verify() against HMAC + compare + json.loads, per signed form), ``breakdown``
(each stage of verify() alone),
``peers`` (standardwebhooks, svix, a hand-written handler), ``scaling`` (batch and event
size), ``memory`` (tracemalloc peak at the body-size limit), ``servers`` (each adapter
under uvicorn or gunicorn against the same route without verification). See
docs/performance.md for the results and what they mean.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib
import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as common

import descope_audit_hook
from descope_audit_hook import DEFAULT_MAX_BODY_BYTES, SIGNATURE_HEADER, Verifier, sign
from descope_audit_hook._forms import compact_escaped

SECTIONS = ("floor", "breakdown", "peers", "scaling", "memory", "servers")
FORMS = ("raw", "trimmed", "compact", "compact-escaped")
TARGETS = {"raw": 1.3, "trimmed": 1.3, "compact": 2.0, "compact-escaped": 2.0}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us"


def _verdict(ratio: float, target: float, *, higher_is_better: bool = False) -> str:
    met = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    return f"target {sign} {target:.1f}x  {'met' if met else 'MISSED'}"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    python = f"Python {platform.python_version()} ({platform.python_implementation()})"
    return f"{model}, {os.cpu_count()} CPUs (nproc {usable}), {python}, {platform.system()} {platform.release()}"


# --- (a) the floor ---------------------------------------------------------------------


def section_floor(timer: common.Timer, count: int) -> None:
    print(f"\n== floor: verify() vs HMAC-SHA256 + compare_digest + json.loads, {count} events ==")
    print("   verifier: BearerToken + a required header + 1 HMAC secret; typed AuditEvents")
    verifier = common.make_verifier()
    payload = common.events(count)
    for form in FORMS:
        body, headers = common.make_body(payload, form)
        batch = verifier.verify(body, headers)
        assert len(batch) == count, len(batch)
        assert batch.signed_form == form, batch.signed_form
        own_digest = hmac.digest(common.HMAC_SECRET.encode(), body, hashlib.sha256)
        times = timer.measure(
            {
                "verify": partial(verifier.verify, body, headers),
                "floor": partial(common.floor_verify, body, own_digest),
            }
        )
        ratio = times["verify"] / times["floor"]
        print(
            f"  {form:<16} {len(body) / 1024:5.1f} KB  verify {_us(times['verify'])}  floor {_us(times['floor'])}"
            f"  ratio {ratio:5.2f}x  {_verdict(ratio, TARGETS[form])}"
        )
    # What Descope's Go backend really sends: "&" as \u0026 (Go's HTML escaping), signed as is.
    body, headers = common.make_body(payload, "raw")
    body = compact_escaped(body)
    headers = {**headers, SIGNATURE_HEADER: sign(body, common.HMAC_SECRET)}
    own_digest = hmac.digest(common.HMAC_SECRET.encode(), body, hashlib.sha256)
    assert verifier.verify(body, headers).signed_form == "raw"
    times = timer.measure(
        {
            "verify": partial(verifier.verify, body, headers),
            "verify + events": lambda: verifier.verify(body, headers).events,
            "floor": partial(common.floor_verify, body, own_digest),
        }
    )
    ratio = times["verify"] / times["floor"]
    print(
        f"  {'raw, Go-escaped':<16} {len(body) / 1024:5.1f} KB  verify {_us(times['verify'])}"
        f"  floor {_us(times['floor'])}  ratio {ratio:5.2f}x  {_verdict(ratio, TARGETS['raw'])}"
    )
    built = times["verify + events"] / times["floor"]
    print(
        f"  {'  + build events':<16} {'':8}  verify {_us(times['verify + events'])}  (verify(), then batch.events:"
        f" {built:4.2f}x the floor; the events are built on first use)"
    )


def section_breakdown(timer: common.Timer, count: int) -> None:
    """Where verify() spends its time on the raw form: each stage alone, as a share of the floor."""
    from descope_audit_hook._fast import all_usual, build_usual, usual_columns
    from descope_audit_hook._payload import parse_json

    print(f"\n== breakdown: the stages of verify() on the raw form, {count} events, as multiples of the floor ==")
    verifier = common.make_verifier()
    body, headers = common.make_body(common.events(count), "raw")
    digest = common.signature_of(headers)
    secret = common.HMAC_SECRET.encode()
    text = body.decode()
    value = json.loads(body)
    columns = usual_columns(value)
    assert columns is not None
    stages: dict[str, Callable[[], object]] = {
        "floor": partial(common.floor_verify, body, digest),
        "hmac-sha256 + compare_digest": lambda: hmac.compare_digest(hmac.digest(secret, body, "sha256"), digest),
        "json.loads": partial(json.loads, text),
        "parse_json, raw form (NaN, surrogates)": partial(parse_json, body, allow_duplicate_keys=True),
        "parse_json, strict (+ duplicate keys)": partial(parse_json, body),
        "all_usual (every field of every event)": partial(all_usual, value),
        f"building {count} AuditEvents (on first use)": partial(build_usual, columns),
        "verify": partial(verifier.verify, body, headers),
        "verify + batch.events": lambda: verifier.verify(body, headers).events,
    }
    times = timer.measure(stages)
    floor = times["floor"]
    for name, seconds in times.items():
        print(f"  {name:<54} {_us(seconds)}  ratio {seconds / floor:5.2f}x of floor")
    parse = times["parse_json, raw form (NaN, surrogates)"]
    rest = times["verify"] - parse - times["all_usual (every field of every event)"]
    rest -= times["hmac-sha256 + compare_digest"]
    over = _us(parse - times["json.loads"])
    print(f"  parse_json over json.loads: {over}; headers, auth, signature, batch: {_us(rest)}")


# --- (b) peers ---------------------------------------------------------------------------


def section_peers(timer: common.Timer, count: int) -> None:
    print(f"\n== peers: the same {count}-event raw body, each verifier with its own header scheme ==")
    try:
        # Imported by name: they are the optional ``bench`` extra, not needed to type-check the rest.
        standardwebhooks = importlib.import_module("standardwebhooks")
        svix = importlib.import_module("svix")
    except ImportError:
        print("   skipped: standardwebhooks and svix are not installed (pip install -e '.[bench]')")
        return
    print("   peers return an untyped dict and check nothing in it; svix.verify returns None, so json.loads is added")
    payload = common.events(count)
    body, headers = common.make_body(payload, "raw")
    verifier: Verifier = common.make_verifier()
    secret = common.HMAC_SECRET.encode()

    whsec = "whsec_" + base64.b64encode(secret).decode()
    std = standardwebhooks.Webhook(whsec)
    sv = svix.Webhook(whsec)
    msg_id, now = "msg_2aWbDk0dQzBYbWNEmGk1KXTJwBq", int(time.time())
    std_headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": std.sign(msg_id, common_datetime(now), body.decode()),
    }
    svix_headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(now),
        "svix-signature": sv.sign(msg_id, common_datetime(now), body.decode()),
    }

    def handwritten(body: bytes, headers: dict[str, str]) -> Any:
        received = headers.get("x-descope-webhook-s256", "")
        expected = base64.b64encode(hmac.digest(secret, body, hashlib.sha256)).decode()
        if not hmac.compare_digest(expected.encode(), received.encode()):
            raise ValueError("bad signature")
        return json.loads(body)

    def svix_and_parse(body: bytes, headers: dict[str, str]) -> Any:
        sv.verify(body, headers)
        return json.loads(body)

    expected = json.loads(body)
    assert handwritten(body, headers) == expected
    assert std.verify(body, std_headers) == expected
    assert svix_and_parse(body, svix_headers) == expected
    assert len(verifier.verify(body, headers)) == count

    times = timer.measure(
        {
            "descope-audit-hook": lambda: verifier.verify(body, headers),
            "hand-written hmac+json": lambda: handwritten(body, headers),
            "standardwebhooks": lambda: std.verify(body, std_headers),
            "svix (+ json.loads)": lambda: svix_and_parse(body, svix_headers),
        }
    )
    peers = {name: t for name, t in times.items() if name != "descope-audit-hook"}
    fastest_name = min(peers, key=peers.__getitem__)
    fastest = peers[fastest_name]
    for name, seconds in times.items():
        print(f"  {name:<24} {_us(seconds)}  ratio {seconds / fastest:5.2f}x of the fastest peer ({fastest_name})")
    ours = times["descope-audit-hook"] / fastest
    print(f"  descope-audit-hook vs fastest peer: ratio {ours:5.2f}x  {_verdict(ours, 1.3)}")


def common_datetime(epoch: int) -> Any:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc)


# --- (c) scaling -----------------------------------------------------------------------


def section_scaling(timer: common.Timer, sizes: Sequence[int], pads: Sequence[int]) -> None:
    print("\n== scaling: batch size (raw form) ==")
    verifier = common.make_verifier()
    per_event: dict[int, float] = {}
    for count in sizes:
        body, headers = common.make_body(common.events(count), "raw")
        digest = common.signature_of(headers)
        times = timer.measure(
            {
                "verify": partial(verifier.verify, body, headers),
                "floor": partial(common.floor_verify, body, digest),
            }
        )
        per_event[count] = times["verify"] / count
        print(
            f"  {count:5d} events {len(body) / 1024:7.1f} KB  verify {_us(times['verify'])}"
            f"  per event {per_event[count] * 1e6:6.2f} us  per KB {times['verify'] / len(body) * 1024 * 1e6:6.2f} us"
            f"  ratio {times['verify'] / times['floor']:5.2f}x of floor"
        )
    if 100 in per_event and max(per_event) > 100:
        big = max(per_event)
        linear = per_event[big] / per_event[100]
        print(f"  linearity: per-event cost at {big} vs 100 events: ratio {linear:5.2f}x  (1.0 = linear)")
    print("\n== scaling: event size (100 events, raw form) ==")
    per_byte: dict[int, float] = {}
    for pad in pads:
        body, headers = common.make_body(common.events(100, pad=pad), "raw")
        digest = common.signature_of(headers)
        times = timer.measure(
            {
                "verify": partial(verifier.verify, body, headers),
                "floor": partial(common.floor_verify, body, digest),
            }
        )
        per_byte[len(body)] = times["verify"] / len(body)
        print(
            f"  {len(body) / 100:7.0f} B/event {len(body) / 1024:7.1f} KB  verify {_us(times['verify'])}"
            f"  per KB {per_byte[len(body)] * 1024 * 1e6:6.2f} us"
            f"  ratio {times['verify'] / times['floor']:5.2f}x of floor"
        )
    if len(per_byte) > 1:
        small, large = min(per_byte), max(per_byte)
        print(
            f"  linearity: per-byte cost at {large / 1024:.0f} KB vs {small / 1024:.0f} KB:"
            f" ratio {per_byte[large] / per_byte[small]:5.2f}x  (<= 1.0: fixed per-event costs amortised)"
        )


# --- (e) memory ------------------------------------------------------------------------


def _peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak - base


def section_memory(limit: int) -> None:
    print(f"\n== memory: tracemalloc peak while verifying a body at the size limit ({limit} bytes) ==")
    verifier = Verifier(
        common.HMAC_SECRET,
        auth=common.make_verifier().auth,
        required_headers=common.REQUIRED_HEADERS,
        max_body_bytes=limit,
    )
    for form in ("raw", "compact"):
        count = max(1, limit // 600)
        body, headers = common.make_body(common.events(count), form)
        while len(body) < limit * 0.97:
            count = int(count * limit * 0.985 / len(body))
            body, headers = common.make_body(common.events(count), form)
        while len(body) > limit:
            count -= max(1, count // 100)
            body, headers = common.make_body(common.events(count), form)
        digest = hmac.digest(common.HMAC_SECRET.encode(), body, hashlib.sha256)
        ours = _peak(partial(verifier.verify, body, headers))
        floor = _peak(partial(common.floor_verify, body, digest))
        print(
            f"  {form:<8} {len(body):8d} B body ({count} events)  verify peak {ours / len(body):5.1f}x body"
            f"  floor (json.loads) peak {floor / len(body):5.1f}x body  ratio {ours / floor:5.2f}x of floor"
        )


# --- main ------------------------------------------------------------------------------


def _warm_up(seconds: float = 1.0) -> None:
    """Run the work for a second first: the first timings of a cold process came out ~1.5x slow."""
    verifier = common.make_verifier()
    body, headers = common.make_body(common.events(100), "raw")
    digest = common.signature_of(headers)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        common.floor_verify(body, digest)
        len(verifier.verify(body, headers).events)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny repeats, skip servers unless --only names them")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--rounds", type=int, help="timing rounds per measurement (default 7, quick 2)")
    parser.add_argument("--events", type=int, default=100, help="events per batch for floor and peers (default 100)")
    parser.add_argument("--duration", type=float, help="seconds of load per server measurement (default 3, quick 0.3)")
    parser.add_argument("--server-rounds", type=int, help="alternations per server pair (default 3, quick 1)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent keep-alive clients (default 4)")
    parser.add_argument(
        "--frameworks", nargs="+", default=["fastapi", "starlette", "flask", "django"], help="servers to measure"
    )
    args = parser.parse_args(argv)

    quick = args.quick
    sections = args.only or [s for s in SECTIONS if not (quick and s == "servers")]
    timer = common.Timer(target_seconds=0.002 if quick else 0.02, rounds=args.rounds or (2 if quick else 7))

    print(f"descope-audit-hook {descope_audit_hook.__version__} from {Path(descope_audit_hook.__file__).parent}")
    print(f"machine: {machine()}")
    print(f"mode: {'quick (numbers are rough)' if quick else 'full'}; min of {timer.rounds} interleaved rounds, gc off")
    started = time.perf_counter()
    if not quick:
        _warm_up()
    if "floor" in sections:
        section_floor(timer, args.events)
    if "breakdown" in sections:
        section_breakdown(timer, args.events)
    if "peers" in sections:
        section_peers(timer, args.events)
    if "scaling" in sections:
        section_scaling(timer, [1, 10, 100, 1000], [0, 1500] if quick else [0, 1500, 6000])
    if "memory" in sections:
        section_memory(DEFAULT_MAX_BODY_BYTES // 8 if quick else DEFAULT_MAX_BODY_BYTES)
    if "servers" in sections:
        import bench_servers

        bench_servers.section_servers(
            args.frameworks,
            duration=args.duration or (0.3 if quick else 3.0),
            rounds=args.server_rounds or (1 if quick else 3),
            connections=args.connections,
        )
    if "servers" not in sections:
        print("\n== servers: not run (they run without --quick, or with --only servers) ==")
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
