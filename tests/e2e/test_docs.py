"""The framework pages of docs/ show real code: excerpts of the examples, and tests that pass.

A ```python block right after ``<!-- snippet: examples/<file> -->`` must be a verbatim
excerpt of that file (which test_examples.py runs under a real server). A block after
``<!-- run: pytest -->`` is a test module a user would write: all of them are run by
pytest in a subprocess. A block after ``<!-- run: django -->`` is a Django test module,
run by ``python -m django test`` against the example project.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["flask.md", "django.md", "fastapi.md", "starlette.md"]
_BLOCK = re.compile(r"<!-- (snippet|run): ([^>]+?) -->\n```python\n(.*?)```", re.DOTALL)


def blocks(kind: str) -> list[tuple[str, str, str]]:
    """``(page, argument, code)`` for every marked block of ``kind`` in the framework pages."""
    found = []
    for page in PAGES:
        text = (ROOT / "docs" / page).read_text("utf-8")
        found += [(page, arg, code) for k, arg, code in _BLOCK.findall(text) if k == kind]
    return found


def _environment() -> dict[str, str]:
    # The snippets configure themselves; nothing of the caller's DESCOPE_AUDIT_* may help them.
    return {k: v for k, v in os.environ.items() if not k.startswith(("DESCOPE_AUDIT_", "DJANGO_"))}


def test_every_page_has_its_snippets() -> None:
    for page in PAGES:
        text = (ROOT / "docs" / page).read_text("utf-8")
        assert "<!-- snippet: examples/" in text, page
        assert "<!-- run: " in text, page


@pytest.mark.parametrize(("page", "source", "code"), blocks("snippet"), ids=lambda v: str(v)[:40])
def test_snippet_is_an_excerpt_of_its_example(page: str, source: str, code: str) -> None:
    assert code in (ROOT / source).read_text("utf-8"), f"{page}: the block is not verbatim in {source}"


def test_pytest_snippets_pass(tmp_path: Path) -> None:
    snippets = [(page, code) for page, arg, code in blocks("run") if arg == "pytest"]
    assert len(snippets) == 3  # flask, fastapi, starlette
    for page, code in snippets:
        (tmp_path / f"test_{Path(page).stem}_snippet.py").write_text(code, "utf-8")
    # Strict like the project's own configuration: warnings are errors, except Starlette 1.x's
    # note at import that its TestClient prefers the httpx2 fork (httpx works; the docs say so).
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider\n"
        "filterwarnings =\n    error\n    ignore:Using `httpx` with `starlette.testclient`\n"
    )

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, done.stdout[-2000:]
    assert int(passed.group(1)) >= 2 * len(snippets)


def test_django_snippet_passes(tmp_path: Path) -> None:
    snippets = [code for _, arg, code in blocks("run") if arg == "django"]
    assert len(snippets) == 1
    (tmp_path / "test_django_snippet.py").write_text(snippets[0], "utf-8")

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "test",
            "test_django_snippet",
            "--settings",
            "audit_site.settings",
            "--pythonpath",
            str(ROOT / "examples" / "django_app"),
        ],
        cwd=tmp_path,
        env={**_environment(), "AUDIT_EVENTS_DB": str(tmp_path / "events.sqlite3"), "PYTHONWARNINGS": "error"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    ran = re.search(r"Ran (\d+) tests", done.stderr)
    assert ran is not None, done.stderr[-2000:]
    assert int(ran.group(1)) >= 2
