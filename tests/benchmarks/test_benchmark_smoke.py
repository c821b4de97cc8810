"""The benchmark suite still runs: ``benchmarks/run.py`` in quick mode, output shape only.

No number is asserted (a loaded CI machine says nothing about speed); the test checks
that every section ran and printed its ratio lines, so the suite cannot rot unseen.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from tests.support.paths import REPO

RUN = REPO / "benchmarks" / "run.py"
RATIO = r"ratio +\d+\.\d\dx"


def _run(*args: str, timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _corpus_kinds() -> list[str]:
    spec = importlib.util.spec_from_file_location("bench_corpus", RUN.parent / "bench_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.KINDS)


def _lines(output: str, pattern: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(pattern, line)]


def test_quick_run_prints_every_in_process_ratio() -> None:
    out = _run(timeout=180)
    assert out.startswith("descope-audit-hook ")
    assert re.search(r"^machine: .+, \d+ CPUs .*Python 3\.", out, re.M)
    # headline: verify() then reading every event, 100 events and one
    for label, target in (("100 events", "1.6"), ("1 event", "2.5")):
        line = rf"^  {label} +\d+\.\d KB +verify\+read .* floor .* {RATIO} +target <= {target}x +(met|MISSED)$"
        assert _lines(out, line), label
    for form in ("raw", "trimmed", "compact", "compact-escaped", "raw, Go-escaped"):
        line = rf"^  {re.escape(form)} +\d+\.\d KB +verify\+read .* floor .* {RATIO} +bound <= 3\.0x +(met|MISSED)$"
        assert _lines(out, line), form
    # worst: every kind of the corpus, forged and valid in four configurations, and the worst of each
    cell = r"(\d+\.\d\dx|n/a) +"
    for kind in _corpus_kinds():
        assert _lines(out, rf"^   {re.escape(kind)} +\d+ KB +({cell}){{7}}(\d+\.\d\dx|n/a)$"), kind
    assert _lines(out, rf"^  worst forged: {RATIO} +\(.+; signed_forms .+\) +bound <= 3\.0x +(met|MISSED)$")
    assert _lines(out, rf"^  worst valid: +{RATIO} +\(.+; signed_forms .+\) +target <= 3\.0x +(met|MISSED)$")
    stages = (
        "floor",
        "json.loads",
        "parse_json, signed",
        "parse_json, strict",
        "checked_columns \\(every",
        "checked_columns \\+ made_events",
    )
    for stage in stages:
        assert _lines(out, rf"^  {stage}\b.* us +{RATIO} of floor$"), stage
    for trick in ("checked_row alone", "made_events alone"):  # each speed trick and what it replaces
        assert _lines(out, rf"^    {trick}\b.* us +{RATIO} of floor$"), trick
    assert len(_lines(out, rf"^    instead: .* us +{RATIO} of floor$")) == 3
    for stage in ("compact_form", "verify", "verify \\+ reading every event"):
        assert _lines(out, rf"^  {stage}\b.* us +{RATIO} of floor$"), stage
    assert _lines(out, r"^  parse_json over json.loads: +-?\d+\.\d us; headers, auth, signature, batch: +-?\d+\.\d us")
    peers = ("standardwebhooks", "svix", "pydantic", "msgspec")
    if all(importlib.util.find_spec(name) for name in peers):
        for peer in (
            "descope-audit-hook",
            "hand-written hmac\\+json",
            "standardwebhooks",
            "svix \\(\\+ json.loads\\)",
            "standardwebhooks \\+ pydantic",
            "hmac \\+ pydantic",
            "hmac \\+ msgspec",
        ):
            assert _lines(out, rf"^  {peer} .* us +{RATIO} of floor$"), peer
        assert _lines(out, rf"descope-audit-hook vs hmac \+ pydantic: {RATIO} +stretch <= 1\.0x +(met|MISSED)$")
    else:  # the optional bench extra is not installed
        assert "skipped: the bench extra is not installed" in out
    for count in (1, 10, 100, 1000):
        assert _lines(out, rf"^ +{count} events .* per event +\d+\.\d\d us .* {RATIO} of floor$")
    assert _lines(out, rf"linearity: per-event cost at 1000 vs 100 events: {RATIO}")
    assert _lines(out, rf"linearity: per-byte cost at .*: {RATIO}")
    for form in ("raw", "compact"):
        assert _lines(out, rf"^  {form} +\d+ B body .* verify peak +\d+\.\dx body .* {RATIO} of floor$")
    assert "== servers: not run" in out
    assert out.rstrip().splitlines()[-1].startswith("done in ")


@pytest.mark.server
def test_quick_server_run_prints_a_ratio_per_adapter() -> None:
    out = _run("--only", "servers", "--duration", "0.2", timeout=180)
    for framework in ("fastapi", "starlette", "flask", "django"):
        line = rf"^  {framework} .* plain +\d+\.\d req/s +verified +\d+\.\d req/s +{RATIO} +target >= 0\.9x"
        assert _lines(out, line)
