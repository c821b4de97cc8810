"""The package's layers: core -> adapters -> receiver -> CLI, and no import goes back up.

Every import of every module is read with ``ast`` (those inside functions too: a lazy
import is an arrow all the same). The core imports no adapter, receiver or CLI module;
an adapter no receiver or CLI module; the receiver no CLI module. Nothing in the package
imports ``testing``, the public helpers for users' tests (the CLI builds its deliveries
with ``_samples``, as ``testing`` does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "descope_audit_hook"
LAYERS = ("core", "adapters", "receiver", "cli")
#: The framework adapters (Django is a package: its private modules are adapter modules too).
ADAPTERS = frozenset({"flask", "django", "starlette"})


def _name(path: Path) -> str:
    """``descope_audit_hook/cli/_send.py`` -> ``cli._send``; the package's ``__init__`` -> ``""``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    top = module.split(".")[0]
    if top in ("cli", "__main__"):
        return "cli"
    if top == "receiver":
        return "receiver"
    return "adapters" if top in ADAPTERS else "core"


def imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports, by name (``""`` is the package itself)."""
    path = MODULES[module]
    parts = module.split(".") if module else []
    package = parts if path.name == "__init__.py" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(["descope_audit_hook", *base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            # ``from . import testing`` imports a module, ``from ._auth import Auth`` a name of one.
            targets = [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            name = target.removeprefix("descope_audit_hook")
            if name != target and (name == "" or name.startswith(".")) and name.lstrip(".") in MODULES:
                found.add(name.lstrip("."))
    return found


def test_every_module_is_read() -> None:
    assert {"", "_settings", "_verifier", "flask", "cli", "cli._send", "receiver._app", "testing"} <= set(MODULES)
    assert imports("cli._demo") >= {"cli._send", "_samples", "receiver"}
    assert imports("_verifier") >= {"_settings_loader", "_auth"}  # the lazy import in from_env counts


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_goes_back_up_a_layer(module: str) -> None:
    here = LAYERS.index(layer(module))
    upward = sorted(target for target in imports(module) if LAYERS.index(layer(target)) > here)
    assert upward == [], f"{module} ({layer(module)}) imports {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_in_the_package_imports_testing(module: str) -> None:
    assert "testing" not in imports(module)
