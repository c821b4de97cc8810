"""Benchmarks of descope-audit-hook, printed as ratios measured side by side in one run.

    python benchmarks/run.py                 # everything (a few minutes)
    python benchmarks/run.py --quick         # seconds: small repeats and bodies, no servers
    python benchmarks/run.py --only headline worst peers
    python benchmarks/run.py --only servers --duration 3

Sections: ``headline`` (verify() then reading every event, raw form, 100 events and one,
against HMAC + compare_digest + json.loads), ``forms`` (the same per signed form),
``worst`` (forged and valid requests over a corpus of bodies built to be costly, in every
``signed_forms`` configuration), ``breakdown`` (each stage of verify() alone), ``peers``
(webhook verifiers, and typed events from hmac or standardwebhooks plus pydantic or
msgspec), ``scaling`` (batch and event size), ``memory`` (tracemalloc peak at the body-size
limit), ``servers`` (each adapter under uvicorn or gunicorn against the same route
without verification). See docs/performance.md for the results and what they mean.
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
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The repository, for tests.support (the servers, the secrets); last, so that the library
# measured is the one first on the path (PYTHONPATH=/other/checkout compares another copy).
sys.path.append(str(Path(__file__).resolve().parent.parent))

import bench_common as common
import bench_corpus

import descope_audit_hook
from descope_audit_hook import (
    DEFAULT_MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    AuditBatch,
    SignatureError,
    SignedForm,
    Verifier,
    sign,
)
from descope_audit_hook._compact import compact_form
from descope_audit_hook._signature import FORMS, _escaped_within, compact_escaped

SECTIONS = ("headline", "forms", "worst", "breakdown", "peers", "scaling", "memory", "servers")
HEADLINE_TARGETS = {100: 1.6, 1: 2.5}
#: No body, accepted or rejected, may cost more than this multiple of the floor (issue 9).
BOUND = 3.0
#: The ``signed_forms`` configurations of the worst-case section, and the form a valid request
#: is signed over in each: the last one the configuration tries (the costliest to reach).
CONFIGS: dict[str, tuple[tuple[SignedForm, ...], SignedForm]] = {
    "all four": (FORMS, "compact-escaped"),
    "raw,trimmed": (("raw", "trimmed"), "trimmed"),
    "compact": (("compact",), "compact"),
    "compact-escaped": (("compact-escaped",), "compact-escaped"),
}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us"


def _verdict(ratio: float, target: float, *, higher_is_better: bool = False, word: str = "target") -> str:
    met = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    return f"{word} {sign} {target:.1f}x  {'met' if met else 'MISSED'}"


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


def read(batch: AuditBatch) -> int:
    """What a handler does with a batch: read the fields of every event."""
    count = 0
    for event in batch:
        event.action, event.occurred, event.severity, event.user_id, event.data  # noqa: B018
        count += 1
    return count


def verify_and_read(verifier: Verifier, body: bytes, headers: dict[str, str]) -> int:
    return read(verifier.verify(body, headers))


# --- the headline and the signed forms ---------------------------------------------------


def section_headline(timer: common.Timer) -> None:
    print("\n== headline: verify() then reading every event, raw form, vs HMAC-SHA256 + compare_digest + json.loads ==")
    print("   verifier: BearerToken + a required header + 1 HMAC secret; each event's action, occurred, severity,")
    print("   user_id and data read as a handler would")
    verifier = common.make_verifier()
    for count, target in HEADLINE_TARGETS.items():
        body, headers = common.make_body(common.events(count), "raw")
        assert verify_and_read(verifier, body, headers) == count
        digest = common.signature_of(headers)
        times = timer.measure(
            {
                "verify": partial(verify_and_read, verifier, body, headers),
                "floor": partial(common.floor_verify, body, digest),
            }
        )
        ratio = times["verify"] / times["floor"]
        label = f"{count} event" + ("s" if count > 1 else "")
        print(
            f"  {label:<10} {len(body) / 1024:5.1f} KB  verify+read {_us(times['verify'])}  floor {_us(times['floor'])}"
            f"  ratio {ratio:5.2f}x  {_verdict(ratio, target)}"
        )


def section_forms(timer: common.Timer, count: int) -> None:
    print(f"\n== forms: verify() then reading every event, per signed form, {count} events, vs the floor ==")
    verifier = common.make_verifier()
    payload = common.events(count)
    rows: list[tuple[str, bytes, dict[str, str]]] = []
    form: str
    for form in FORMS:
        body, headers = common.make_body(payload, form)
        assert verifier.verify(body, headers).signed_form == form
        rows.append((form, body, headers))
    # What Descope's Go backend really sends: "&" as \u0026 (Go's HTML escaping), signed as is.
    body, headers = common.make_body(payload, "raw")
    body = compact_escaped(body)
    rows.append(("raw, Go-escaped", body, {**headers, SIGNATURE_HEADER: sign(body, common.HMAC_SECRET)}))
    for form, body, headers in rows:
        assert verify_and_read(verifier, body, headers) == count
        own_digest = hmac.digest(common.HMAC_SECRET.encode(), body, hashlib.sha256)
        times = timer.measure(
            {
                "verify": partial(verify_and_read, verifier, body, headers),
                "floor": partial(common.floor_verify, body, own_digest),
            }
        )
        ratio = times["verify"] / times["floor"]
        print(
            f"  {form:<16} {len(body) / 1024:5.1f} KB  verify+read {_us(times['verify'])}"
            f"  floor {_us(times['floor'])}  ratio {ratio:5.2f}x  {_verdict(ratio, BOUND, word='bound')}"
        )


# --- the worst case ------------------------------------------------------------------------


def _forged(verifier: Verifier, body: bytes, headers: dict[str, str]) -> None:
    try:
        verifier.verify(body, headers)
    except SignatureError:
        return
    raise AssertionError("a forged request was accepted")


def section_worst(timer: common.Timer, size: int) -> None:
    print(f"\n== worst: the adversarial corpus, bodies up to {size // 1024} KiB, verify() as multiples of the floor ==")
    print("   each body pretty-printed, with a trailing newline and an & in every event: every candidate differs.")
    print("   forged: a wrong signature (every candidate built and hashed); valid: signed over the last form the")
    print("   configuration tries, then every event read. n/a: the body has no compact form (always refused).")
    print(f"   {'signed_forms:':<36} {'':>7}  " + "".join(f"{name:<18}" for name in CONFIGS))
    print(f"   {'kind':<36} {'size':>7}  " + "forged   valid     " * len(CONFIGS))
    secret = common.HMAC_SECRET
    verifiers = {name: Verifier(secret, signed_forms=forms) for name, (forms, _) in CONFIGS.items()}
    forged_headers = {SIGNATURE_HEADER: sign(b"another body", secret)}
    worst: dict[str, tuple[float, str]] = {"forged": (0.0, ""), "valid": (0.0, "")}
    for kind in bench_corpus.KINDS:
        body = bench_corpus.body_of(kind, size)
        digest = hmac.digest(secret.encode(), body, hashlib.sha256)
        functions: dict[str, Callable[[], object]] = {
            "floor": partial(common.floor_verify, body, digest, secret.encode())
        }
        for name, verifier in verifiers.items():
            functions[f"forged {name}"] = partial(_forged, verifier, body, forged_headers)
            signed = _signed(body, CONFIGS[name][1])
            if signed is not None:
                headers = {SIGNATURE_HEADER: sign(signed, secret)}
                assert verifier.verify(body, headers).signed_form == CONFIGS[name][1]
                functions[f"valid {name}"] = partial(verify_and_read, verifier, body, headers)
        times = timer.measure(functions)
        cells = []
        for name in CONFIGS:
            for what in ("forged", "valid"):
                key = f"{what} {name}"
                if key not in times:
                    cells.append(f"{'n/a':<9}")
                    continue
                ratio = times[key] / times["floor"]
                cells.append(f"{ratio:5.2f}x   ")
                if ratio > worst[what][0]:
                    worst[what] = (ratio, f"{kind}; signed_forms {name}")
        print(f"   {kind:<36} {len(body) // 1024:>4} KB  " + "".join(cells).rstrip())
    ratio, where = worst["forged"]
    print(f"  worst forged: ratio {ratio:5.2f}x  ({where})  {_verdict(ratio, BOUND, word='bound')}")
    ratio, where = worst["valid"]
    print(f"  worst valid:  ratio {ratio:5.2f}x  ({where})  {_verdict(ratio, BOUND)}")


def _signed(body: bytes, form: SignedForm) -> bytes | None:
    if form == "raw":
        return body
    if form == "trimmed":
        return body.rstrip()
    compact = compact_form(body)
    if compact is None:
        return None
    if form == "compact":
        return compact.text
    return _escaped_within(compact.text)


def _row_by_loop(obj: Any, path: str) -> list[Any]:
    """What ``_compiled.checked_row`` does, as a loop over the table of fields (not compiled)."""
    from descope_audit_hook._events import FIELDS

    if type(obj) is not dict:
        raise TypeError(path)
    row: list[Any] = []
    for field in FIELDS:
        if field.key is None:
            row.append(obj)
            continue
        key = field.key
        if field.aliases and key not in obj:
            key = next((alias for alias in field.aliases if alias in obj), key)
        row.append(field.kind.read(obj.get(key), path, key))
    return row


def section_breakdown(timer: common.Timer, count: int) -> None:
    """Where verify() spends its time on the raw form: each stage alone, as a share of the floor.

    Also each speed trick of the parser against what it replaces, on the same events: the
    column check against checking one event at a time, the compiled per-event code against
    a loop over the table, and ``made_events`` against ``AuditEvent(...)``.
    """
    from descope_audit_hook import AuditEvent
    from descope_audit_hook._compiled import checked_row, made_events
    from descope_audit_hook._json import parse_json
    from descope_audit_hook._parsing import checked_columns

    print(f"\n== breakdown: the stages of verify() on the raw form, {count} events, as multiples of the floor ==")
    verifier = common.make_verifier()
    body, headers = common.make_body(common.events(count), "raw")
    pretty, _ = common.make_body(common.events(count), "compact")
    digest = common.signature_of(headers)
    secret = common.HMAC_SECRET.encode()
    text = body.decode()
    value = json.loads(body)
    columns = checked_columns(value)
    assert columns is not None
    rows = [checked_row(item, "$") for item in value]
    made = made_events(rows)
    by_hand = [{name: getattr(event, name) for name in AuditEvent.__slots__} for event in made]
    column_path = f"checked_columns + made_events ({count} AuditEvents)"
    stages: dict[str, Callable[[], object]] = {
        "floor": partial(common.floor_verify, body, digest),
        "hmac-sha256 + compare_digest": lambda: hmac.compare_digest(hmac.digest(secret, body, "sha256"), digest),
        "json.loads": partial(json.loads, text),
        "parse_json, signed (NaN, surrogates)": partial(parse_json, body, allow_duplicate_keys=True),
        "parse_json, strict (+ duplicate keys)": partial(parse_json, body),
        "checked_columns (every field of every event)": partial(checked_columns, value),
        column_path: lambda: made_events(zip(*checked_columns(value) or (), strict=True)),
        "  instead: checked_row, one event at a time, + made_events": lambda: made_events(
            [checked_row(item, "$") for item in value]
        ),
        "  checked_row alone (compiled from the table)": lambda: [checked_row(item, "$") for item in value],
        "  instead: the same as a loop over the table": lambda: [_row_by_loop(item, "$") for item in value],
        f"  made_events alone ({count} rows of checked values)": partial(made_events, rows),
        "  instead: AuditEvent(**fields) (the dataclass's checks)": lambda: [AuditEvent(**kw) for kw in by_hand],
        "compact_form of the pretty-printed body": partial(compact_form, pretty),
        "verify": partial(verifier.verify, body, headers),
        "verify + reading every event": partial(verify_and_read, verifier, body, headers),
    }
    times = timer.measure(stages)
    floor = times["floor"]
    for name, seconds in times.items():
        print(f"  {name:<60} {_us(seconds)}  ratio {seconds / floor:5.2f}x of floor")
    parse = times["parse_json, signed (NaN, surrogates)"]
    rest = times["verify"] - parse - times[column_path] - times["hmac-sha256 + compare_digest"]
    over = _us(parse - times["json.loads"])
    print(f"  parse_json over json.loads: {over}; headers, auth, signature, batch: {_us(rest)}")


# --- (b) peers ---------------------------------------------------------------------------


def section_peers(timer: common.Timer, count: int) -> None:
    print(f"\n== peers: the same {count}-event raw body, each verifier with its own header scheme, every event read ==")
    try:
        # Imported by name: they are the optional ``bench`` extra, not needed to type-check the rest.
        standardwebhooks = importlib.import_module("standardwebhooks")
        svix = importlib.import_module("svix")
        import bench_typed
    except ImportError:
        print("   skipped: the bench extra is not installed (pip install -e '.[bench]')")
        return
    print(
        "   untyped peers return dicts and check nothing in them; typed ones validate into pydantic or msgspec models"
    )
    payload = common.events(count)
    body, headers = common.make_body(payload, "raw")
    verifier: Verifier = common.make_verifier()
    secret = common.HMAC_SECRET.encode()
    digest = common.signature_of(headers)

    whsec = "whsec_" + base64.b64encode(secret).decode()
    std = standardwebhooks.Webhook(whsec)
    sv = svix.Webhook(whsec)
    msg_id, now = "msg_2aWbDk0dQzBYbWNEmGk1KXTJwBq", int(time.time())
    stamp = datetime.fromtimestamp(now, tz=common.UTC)
    std_headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": std.sign(msg_id, stamp, body.decode()),
    }
    svix_headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(now),
        "svix-signature": sv.sign(msg_id, stamp, body.decode()),
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

    def std_pydantic() -> int:
        std.verify(body, std_headers)  # returns the parsed dicts; the typed events come from the body
        return bench_typed.read_models(bench_typed.pydantic_events(body))

    def hmac_then(decode: Callable[[bytes], Any]) -> Callable[[], int]:
        def run() -> int:
            if not hmac.compare_digest(hmac.digest(secret, body, hashlib.sha256), digest):
                raise ValueError("bad signature")
            return bench_typed.read_models(decode(body))

        return run

    expected = json.loads(body)
    assert handwritten(body, headers) == expected
    assert std.verify(body, std_headers) == expected
    assert svix_and_parse(body, svix_headers) == expected
    functions: dict[str, Callable[[], object]] = {
        "floor": partial(common.floor_verify, body, digest),
        "descope-audit-hook": partial(verify_and_read, verifier, body, headers),
        "hand-written hmac+json": lambda: bench_typed.read_dicts(handwritten(body, headers)),
        "standardwebhooks": lambda: bench_typed.read_dicts(std.verify(body, std_headers)),
        "svix (+ json.loads)": lambda: bench_typed.read_dicts(svix_and_parse(body, svix_headers)),
        "standardwebhooks + pydantic": std_pydantic,
        "hmac + pydantic": hmac_then(bench_typed.pydantic_events),
        "hmac + msgspec": hmac_then(bench_typed.msgspec_events),
    }
    for name, run in functions.items():
        if name != "floor":
            assert run() == count, name
    times = timer.measure(functions)
    floor = times["floor"]
    for name, seconds in times.items():
        print(f"  {name:<28} {_us(seconds)}  ratio {seconds / floor:5.2f}x of floor")
    ours = times["descope-audit-hook"]
    typed = times["hmac + pydantic"]
    verdict = _verdict(ours / typed, 1.0, word="stretch")
    print(f"  descope-audit-hook vs hmac + pydantic: ratio {ours / typed:5.2f}x  {verdict}")
    untyped = min(times[name] for name in ("hand-written hmac+json", "standardwebhooks", "svix (+ json.loads)"))
    print(f"  descope-audit-hook vs the fastest untyped peer: ratio {ours / untyped:5.2f}x")


# --- (c) scaling -----------------------------------------------------------------------


def section_scaling(timer: common.Timer, sizes: Sequence[int], pads: Sequence[int]) -> None:
    print("\n== scaling: batch size (raw form, verify() then reading every event) ==")
    verifier = common.make_verifier()
    per_event: dict[int, float] = {}
    for count in sizes:
        body, headers = common.make_body(common.events(count), "raw")
        digest = common.signature_of(headers)
        times = timer.measure(
            {
                "verify": partial(verify_and_read, verifier, body, headers),
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
    print("\n== scaling: event size (100 events, raw form, every event read) ==")
    per_byte: dict[int, float] = {}
    for pad in pads:
        body, headers = common.make_body(common.events(100, pad=pad), "raw")
        digest = common.signature_of(headers)
        times = timer.measure(
            {
                "verify": partial(verify_and_read, verifier, body, headers),
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
        verify_and_read(verifier, body, headers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny repeats, skip servers unless --only names them")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--rounds", type=int, help="timing rounds per measurement (default 7, quick 2)")
    parser.add_argument("--events", type=int, default=100, help="events per batch for forms and peers (default 100)")
    parser.add_argument(
        "--worst-size",
        type=int,
        help=f"body size of the worst-case corpus (default {DEFAULT_MAX_BODY_BYTES}, quick 64 KiB)",
    )
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
    if "headline" in sections:
        section_headline(timer)
    if "forms" in sections:
        section_forms(timer, args.events)
    if "worst" in sections:
        section_worst(timer, args.worst_size or (65536 if quick else DEFAULT_MAX_BODY_BYTES))
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
