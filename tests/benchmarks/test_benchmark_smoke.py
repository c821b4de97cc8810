"""The benchmark suite still runs: ``benchmarks/run.py`` in quick mode, output shape only.

No number is asserted (a loaded CI machine says nothing about speed); the test checks
that every section ran and printed its ratio lines, so the suite cannot rot unseen.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"
RATIO = r"ratio +\d+\.\d\dx"


def _run(*args: str, timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _lines(output: str, pattern: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(pattern, line)]


def test_quick_run_prints_every_in_process_ratio() -> None:
    out = _run(timeout=120)
    assert out.startswith("descope-audit-hook ")
    assert re.search(r"^machine: .+, \d+ CPUs .*Python 3\.", out, re.M)
    for form in ("raw", "trimmed", "compact", "compact-escaped"):
        line = rf"^  {re.escape(form)} +\d+\.\d KB +verify .* floor .* {RATIO} +target <= \d\.\dx +(met|MISSED)$"
        assert _lines(out, line)
    assert _lines(out, rf"^  raw, Go-escaped +\d+\.\d KB +verify .* floor .* {RATIO} +target <= 1\.3x +(met|MISSED)$")
    built = r"^    \+ build events +verify +\d+\.\d us +\(verify\(\), then batch.events: +\d+\.\d\dx the floor"
    assert _lines(out, built)
    for stage in ("floor", "json.loads", "parse_json, raw", "parse_json, strict", "all_usual", "building", "verify"):
        assert _lines(out, rf"^  {stage}\b.* us +{RATIO} of floor$")
    assert _lines(out, r"^  parse_json over json.loads: +-?\d+\.\d us; headers, auth, signature, batch: +-?\d+\.\d us")
    if importlib.util.find_spec("standardwebhooks") and importlib.util.find_spec("svix"):
        for peer in ("descope-audit-hook", "hand-written hmac\\+json", "standardwebhooks", "svix \\(\\+ json.loads\\)"):
            assert _lines(out, rf"^  {peer} .* us +{RATIO} of the fastest peer")
        assert _lines(out, rf"descope-audit-hook vs fastest peer: {RATIO}")
    else:  # the optional bench extra is not installed
        assert "skipped: standardwebhooks and svix are not installed" in out
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
