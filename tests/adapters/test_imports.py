"""The core imports no framework; an adapter whose framework is missing names the extra to install.

Each check runs in a fresh interpreter with the frameworks hidden by a ``sys.meta_path``
finder, as on a machine where only ``pip install descope-audit-hook`` ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.paths import REPO

FRAMEWORKS = ("flask", "werkzeug", "django", "starlette", "fastapi", "asgiref", "anyio", "httpx")
# The database drivers: the stores take a client the user made and import none.
DRIVERS = ("redis", "psycopg", "psycopg_pool", "psycopg_binary")

PRELUDE = textwrap.dedent(
    """
    import importlib.abc, json, sys

    HIDDEN = set(json.loads(sys.argv[1]))

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    """
)


def run(code: str, hidden: tuple[str, ...] = FRAMEWORKS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), json.dumps(hidden)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_core_imports_no_framework_and_no_driver() -> None:
    result = run(
        """
        import descope_audit_hook, descope_audit_hook.testing
        from descope_audit_hook import Verifier, MemoryDedupeStore, exactly_once
        from descope_audit_hook import RedisDedupeStore, AsyncRedisDedupeStore
        from descope_audit_hook import PostgresDedupeStore, AsyncPostgresDedupeStore
        PostgresDedupeStore(lambda: None)
        loaded = sorted({m.split(".")[0] for m in sys.modules} & HIDDEN)
        print(json.dumps(loaded))
        """,
        hidden=FRAMEWORKS + DRIVERS,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_core_imports_no_framework_even_when_installed() -> None:
    # Nothing hidden this time: the frameworks are installed, and still not imported.
    result = run(
        f"""
        import descope_audit_hook, descope_audit_hook.testing
        print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {set(FRAMEWORKS + DRIVERS)!r})))
        """,
        hidden=(),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        ("flask", ("flask",), "flask"),
        ("flask", ("werkzeug",), "flask"),
        ("django", ("django",), "django"),
        ("django", ("asgiref",), "django"),  # Django's own dependency
        ("starlette", ("anyio",), "starlette"),
        ("starlette", ("starlette",), "starlette"),
    ],
)
def test_adapter_without_its_framework_names_the_extra(module: str, hidden: tuple[str, ...], extra: str) -> None:
    result = run(
        f"""
        try:
            import descope_audit_hook.{module}
        except ImportError as exc:
            print(str(exc))
        else:
            print("imported")
        """,
        hidden=hidden,
    )
    assert result.returncode == 0, result.stderr
    assert f'pip install "descope-audit-hook[{extra}]"' in result.stdout


@pytest.mark.parametrize("module", ["flask", "django", "starlette"])
def test_each_adapter_imports_only_its_own_framework(module: str) -> None:
    others = {"flask": ("django", "starlette", "fastapi"), "django": ("flask", "starlette", "fastapi")}
    hidden = others.get(module, ("flask", "werkzeug", "django"))
    result = run(f"import descope_audit_hook.{module}", hidden=hidden)
    assert result.returncode == 0, result.stderr


# --- in a bare virtual environment: the frameworks and their dependencies truly absent -------------

#: Each extra's framework and what it pulls in; none of them may be importable in the bare venv.
INSTALLED_BY_EXTRAS = (
    *FRAMEWORKS,
    "sqlparse",
    "jinja2",
    "itsdangerous",
    "click",
    "blinker",
    "markupsafe",
    "sniffio",
    "idna",
    "typing_extensions",
)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``python3 -m venv`` with nothing installed; the repository comes in by PYTHONPATH."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    probe = "import importlib.util as u, json, sys; print(json.dumps([m for m in sys.argv[1:] if u.find_spec(m)]))"
    found = _bare(python, probe, *INSTALLED_BY_EXTRAS)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == [], "the bare venv can import a framework or a dependency"
    return python


def _bare(python: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [str(python), "-c", code, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_core_and_its_cli_work_in_a_bare_venv(bare_python: Path) -> None:
    done = _bare(bare_python, "import descope_audit_hook.testing, descope_audit_hook.receiver; print('ok')")
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [("flask", "Flask", "flask"), ("django", "Django", "django"), ("starlette", "Starlette", "starlette")],
)
def test_in_a_bare_venv_each_adapter_names_its_extra(
    bare_python: Path, module: str, framework: str, extra: str
) -> None:
    done = _bare(bare_python, f"import descope_audit_hook.{module}")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: descope_audit_hook.{module} needs {framework}, which is not installed")
    assert last.endswith(f'pip install "descope-audit-hook[{extra}]"')
