"""``fuzz/fuzz_verify.py`` under atheris (libFuzzer) for a bounded time, from the committed seeds.

A failure prints the crashing input (base64) and the fuzzer's report; reproduce it with
``python fuzz/fuzz_verify.py <crash file>`` and add it to the regression tests below.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

TARGET = REPO / "fuzz" / "fuzz_verify.py"
SECONDS = 20


@pytest.mark.fuzz
def test_fuzz_verify_for_a_bounded_time(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris has wheels for Linux x86_64 only")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            f"-max_total_time={SECONDS}",
            "-max_len=8192",
            "-timeout=10",
            "-rss_limit_mb=2048",
            f"-dict={REPO / 'fuzz' / 'json.dict'}",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
            str(REPO / "fuzz" / "seeds"),
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        check=False,
    )
    crashes = [path for path in tmp_path.iterdir() if path.is_file()]
    found = "\n".join(f"{path.name}: {base64.b64encode(path.read_bytes()).decode()}" for path in crashes)
    assert result.returncode == 0, f"{found}\n{result.stderr[-4000:]}"
    assert "Done " in result.stderr, result.stderr[-4000:]
    assert not crashes, found
