"""Every ```python block of docs/ and README.md is real code that runs.

A block right after ``<!-- snippet: examples/<file> -->`` must be a verbatim excerpt of that
file (which tests/examples/ runs under a real server, and
tests/examples/test_oauth_validators.py imports). A block after ``<!-- run: pytest -->`` is a test module a user would
write: all of them are run by pytest in a subprocess. A block after ``<!-- run: django -->``
is a Django test module, run by ``python -m django test`` against the example project. A
block after ``<!-- not run: <reason> -->`` is not run (a signature, say), and says why.
docs/oauth.md's blocks (``<!-- run: python -->`` ones are scripts) run with examples/ on
the path and its validator's variables pointing at the loopback authorization server of
tests/support/oauth_issuer.py.

Every other block is run: the blocks of one page in order, in one namespace (a page is a
walk-through: a later block may use what an earlier one defined), in a fresh interpreter
whose environment holds a test value for each ``DESCOPE_AUDIT_*`` variable and each
``os.environ["NAME"]`` the page reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.env import clean_env
from tests.support.oauth_issuer import Issuer
from tests.support.paths import REPO

FRAMEWORK_PAGES = ["flask.md", "django.md", "fastapi.md", "starlette.md"]
OAUTH_PAGE = "oauth.md"
PAGES = [*FRAMEWORK_PAGES, OAUTH_PAGE]
_BLOCK = re.compile(r"<!-- (snippet|run): ([^>]+?) -->\n```python\n(.*?)```", re.DOTALL)
#: Every ```python block, with the marker comment on the line before it, if any (indented blocks included).
_ANY_BLOCK = re.compile(r"(?:<!-- ([a-z ]+):? ?([^>]*?) -->\n)?( *)```python\n(.*?)^ *```", re.DOTALL | re.MULTILINE)
ALL_PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]


def blocks(kind: str) -> list[tuple[str, str, str]]:
    """``(page, argument, code)`` for every marked block of ``kind`` in the framework pages and oauth.md."""
    found = []
    for page in PAGES:
        text = (REPO / "docs" / page).read_text("utf-8")
        found += [(page, arg, code) for k, arg, code in _BLOCK.findall(text) if k == kind]
    return found


def _environment() -> dict[str, str]:
    # The snippets configure themselves; nothing of the caller's DESCOPE_AUDIT_* (nor Django's
    # or the OAuth recipe's variables) may help them.
    return clean_env(drop=("DJANGO_", "OAUTH_"))


def _run_pytest(modules: Mapping[str, str], directory: Path, env: Mapping[str, str]) -> int:
    """Run the test modules (file name -> code) with pytest in a subprocess; how many tests passed."""
    for name, code in modules.items():
        (directory / name).write_text(code, "utf-8")
    # Strict like the project's own configuration: warnings are errors, except Starlette 1.x's
    # note at import that its TestClient prefers the httpx2 fork (httpx works; the docs say so).
    (directory / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider\n"
        "filterwarnings =\n    error\n    ignore:Using `httpx` with `starlette.testclient`\n"
    )

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(directory)],
        cwd=directory,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, done.stdout[-2000:]
    return int(passed.group(1))


def test_every_page_has_its_snippets() -> None:
    for page in PAGES:
        text = (REPO / "docs" / page).read_text("utf-8")
        assert "<!-- snippet: examples/" in text, page
        assert "<!-- run: " in text, page


@pytest.mark.parametrize(("page", "source", "code"), blocks("snippet"), ids=lambda v: str(v)[:40])
def test_snippet_is_an_excerpt_of_its_example(page: str, source: str, code: str) -> None:
    assert code in (REPO / source).read_text("utf-8"), f"{page}: the block is not verbatim in {source}"


def test_pytest_snippets_pass(tmp_path: Path) -> None:
    snippets = {
        f"test_{Path(page).stem}_snippet.py": code
        for page, arg, code in blocks("run")
        if arg == "pytest" and page in FRAMEWORK_PAGES
    }
    assert len(snippets) == 3  # flask, fastapi, starlette
    assert _run_pytest(snippets, tmp_path, _environment()) >= 2 * len(snippets)


# --- docs/oauth.md ------------------------------------------------------------------------


def _oauth_blocks(kind: str, arg: str) -> list[str]:
    return [code for page, a, code in blocks(kind) if page == OAUTH_PAGE and a == arg]


def _oauth_environment(issuer: Issuer) -> dict[str, str]:
    return {
        **_environment(),
        **issuer.env(),
        "DESCOPE_AUDIT_HMAC_SECRET": "docs-hmac-secret",
        "DESCOPE_AUDIT_BEARER_VALIDATOR": "oauth_validator:validate",
        "PYTHONPATH": str(REPO / "examples"),
    }


def test_every_python_block_of_the_oauth_page_is_an_excerpt_or_runs() -> None:
    text = (REPO / "docs" / OAUTH_PAGE).read_text("utf-8")
    assert text.count("```python") == len(_BLOCK.findall(text))
    # The whole validator is on the page, as the example file has it below its docstring: copy it as it is.
    source = (REPO / "examples" / "oauth_validator.py").read_text("utf-8")
    below_docstring = source.split("from __future__ import annotations\n\n", 1)[1]
    assert below_docstring in _oauth_blocks("snippet", "examples/oauth_validator.py")


def test_the_oauth_pages_scripts_run(oauth_issuer: Issuer, tmp_path: Path) -> None:
    scripts = _oauth_blocks("run", "python")
    assert scripts
    for number, code in enumerate(scripts):
        path = tmp_path / f"block_{number}.py"
        path.write_text(code, "utf-8")
        done = subprocess.run(
            [sys.executable, "-W", "error", str(path)],
            cwd=tmp_path,
            env=_oauth_environment(oauth_issuer),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]


def test_the_oauth_pages_tests_pass(oauth_issuer: Issuer, tmp_path: Path) -> None:
    modules = {f"test_oauth_block_{n}.py": code for n, code in enumerate(_oauth_blocks("run", "pytest"))}
    assert modules
    assert _run_pytest(modules, tmp_path, _oauth_environment(oauth_issuer)) >= 4


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
            str(REPO / "examples" / "django_app"),
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


def runnable(page: Path) -> list[tuple[int, str]]:
    """``(block number, code)`` of the page's blocks to run; checks that every other block is accounted for."""
    found = []
    for number, match in enumerate(_ANY_BLOCK.finditer(page.read_text("utf-8")), 1):
        marker, argument, indent, code = match.groups()
        if marker in ("snippet", "run"):
            continue
        if marker == "not run":
            assert argument.strip(), f"{page.name} block {number}: say why it is not run"
            continue
        assert marker is None, f"{page.name} block {number}: unknown marker {marker!r}"
        found.append((number, textwrap.dedent("\n".join(line.removeprefix(indent) for line in code.splitlines()))))
    return found


RUN_PAGES = [page for page in ALL_PAGES if runnable(page)]

_DRIVER = """
import json, sys
namespace = {"__name__": "__main__"}
for number, code in json.load(sys.stdin):
    exec(compile(code, f"{sys.argv[1]} block {number}", "exec"), namespace)
print("ran", len(namespace) > 0)
"""


def test_every_page_with_python_has_its_blocks_run() -> None:
    # Pages whose blocks are all excerpts or test modules are checked by the tests above.
    assert {page.name for page in RUN_PAGES} >= {"quickstart.md", "api.md", "flask.md", "django.md", "README.md"}


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: p.name)
def test_every_python_block_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    blocks = runnable(page)
    text = page.read_text("utf-8")
    wanted = {"DESCOPE_AUDIT_HMAC_SECRET", "DESCOPE_AUDIT_BEARER_TOKEN"}
    wanted |= set(re.findall(r'os\.environ\["(\w+)"\]', text))
    env = {**_environment(), **{name: f"doc-test-{name.lower()}" for name in sorted(wanted)}}
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, page.name],
        input=json.dumps(blocks),
        cwd=tmp_path,
        env={**env, "PYTHONWARNINGS": "error"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.rstrip().endswith("ran True")
