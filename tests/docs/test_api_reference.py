"""The docs stay true to the code: every public name is documented; every module, name and file they name exists.

The error codes are checked against their registry in tests/core/test_error_codes.py.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.support.paths import DOCS, EXAMPLES, REPO

API = (DOCS / "api.md").read_text("utf-8")
#: The pages a user reads: README.md, docs/, and the READMEs beside the code they describe.
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md")), EXAMPLES / "README.md", REPO / "benchmarks" / "README.md"]
#: ``descope_audit_hook.x.y`` or ``descope_audit_hook.x:y`` (an entry point).
_DOTTED = re.compile(r"descope_audit_hook(?:[.:][A-Za-z_][A-Za-z0-9_]*)+")
#: A file of the repository: ``descope_audit_hook/_verifier.py``, ``tests/core/test_compact.py``...
_PATH = re.compile(
    r"\b(?:descope_audit_hook|tests|benchmarks|examples|fuzz|scripts)(?:/[A-Za-z0-9_.-]+)+\.(?:py|json|js|txt)\b"
)
#: A private module in backquotes, as the pages name them: `_compiled.made_events`, `_signature.py`.
_PRIVATE = re.compile(r"`(_[a-z][a-z_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)`")


@pytest.mark.parametrize(
    "module", ["descope_audit_hook", "descope_audit_hook.testing", "flask", "django", "starlette", "receiver"]
)
def test_every_public_name_is_documented(module: str) -> None:
    """Every name of the package's ``__all__``, ``testing``'s, each adapter's and the receiver's is in docs/api.md."""
    imported = importlib.import_module(
        module if module.startswith("descope_audit_hook") else f"descope_audit_hook.{module}"
    )
    for name in imported.__all__:
        assert f"`{name}" in API, f"{module}.{name}"


def _resolves(reference: str) -> bool:
    """Whether ``descope_audit_hook.a.b`` (or ``a:b``) is a module, or a name in the longest module prefix."""
    parts = reference.replace(":", ".").split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def _references(page: Path) -> list[str]:
    text = page.read_text("utf-8")
    found = _DOTTED.findall(text)
    found += [f"descope_audit_hook.{module}{rest}" for module, rest in _PRIVATE.findall(text) if module != "_"]
    return sorted(set(found))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_module_and_name_a_page_names_exists(page: Path) -> None:
    missing = [ref for ref in _references(page) if not ref.endswith(".py") and not _resolves(ref)]
    missing += [path for path in _PATH.findall(page.read_text("utf-8")) if not (REPO / path).is_file()]
    missing += [
        f"descope_audit_hook/{module}.py"
        for module, rest in _PRIVATE.findall(page.read_text("utf-8"))
        if rest == ".py" and not (REPO / "descope_audit_hook" / f"{module}.py").is_file()
    ]
    assert missing == [], f"{page.name} names what does not exist: {missing}"
