"""docs/oauth.md shows real code: excerpts of the examples (run by the other tests) and blocks run here.

Every ```python block carries a marker: ``<!-- snippet: examples/<file> -->`` (a verbatim
excerpt of that file, which test_recipe.py imports and tests/e2e runs under uvicorn),
``<!-- run: python -->`` (run as a script) or ``<!-- run: pytest -->`` (a test module a
user would write, run by pytest). Both kinds run in a subprocess with examples/ on the
path and the example validator's variables pointing at the loopback authorization server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .issuer import Issuer

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "oauth.md"
_MARKED = re.compile(r"<!-- (snippet|run): ([^>]+?) -->\n```python\n(.*?)```", re.DOTALL)


def blocks() -> list[tuple[str, str, str]]:
    return _MARKED.findall(PAGE.read_text("utf-8"))


def _environment(issuer: Issuer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESCOPE_AUDIT_", "OAUTH_"))}
    return {
        **env,
        **issuer.env(),
        "DESCOPE_AUDIT_HMAC_SECRET": "docs-hmac-secret",
        "DESCOPE_AUDIT_BEARER_VALIDATOR": "oauth_validator:validate",
        "PYTHONPATH": str(ROOT / "examples"),
    }


def test_every_python_block_is_an_excerpt_or_runs() -> None:
    text = PAGE.read_text("utf-8")
    assert text.count("```python") == len(blocks())
    kinds = {(kind, arg) for kind, arg, _ in blocks()}
    assert {("run", "python"), ("run", "pytest"), ("snippet", "examples/oauth_validator.py")} <= kinds


@pytest.mark.parametrize(("source", "code"), [(a, c) for k, a, c in blocks() if k == "snippet"], ids=lambda v: v[:30])
def test_snippet_is_an_excerpt_of_its_example(source: str, code: str) -> None:
    assert code in (ROOT / source).read_text("utf-8"), f"the block is not verbatim in {source}"


def test_the_whole_validator_is_on_the_page() -> None:
    # Copy it as it is: the page shows everything below the example's docstring.
    source = (ROOT / "examples" / "oauth_validator.py").read_text("utf-8")
    body = source.split("from __future__ import annotations\n\n", 1)[1]
    assert any(code == body for kind, _, code in blocks() if kind == "snippet")


def test_python_blocks_run(oauth_issuer: Issuer, tmp_path: Path) -> None:
    scripts = [code for kind, arg, code in blocks() if (kind, arg) == ("run", "python")]
    assert scripts
    for number, code in enumerate(scripts):
        path = tmp_path / f"block_{number}.py"
        path.write_text(code, "utf-8")
        done = subprocess.run(
            [sys.executable, "-W", "error", str(path)],
            cwd=tmp_path,
            env=_environment(oauth_issuer),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]


def test_pytest_blocks_pass(oauth_issuer: Issuer, tmp_path: Path) -> None:
    modules = [code for kind, arg, code in blocks() if (kind, arg) == ("run", "pytest")]
    assert modules
    for number, code in enumerate(modules):
        (tmp_path / f"test_oauth_block_{number}.py").write_text(code, "utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings =\n    error\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=_environment(oauth_issuer),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None
    assert int(passed.group(1)) >= 4
