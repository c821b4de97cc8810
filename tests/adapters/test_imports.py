"""The core imports no framework; an adapter whose framework is missing names the extra to install.

Each check runs in a fresh interpreter with the frameworks hidden by a ``sys.meta_path``
finder, as on a machine where only ``pip install descope-audit-hook`` ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

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
