"""Where the repository's parts are."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DOCS", "EXAMPLES", "FIXTURES", "PACKAGE", "REPO"]

#: The repository's root (the checkout the tests run from).
REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "descope_audit_hook"
DOCS = REPO / "docs"
EXAMPLES = REPO / "examples"
#: The recorded, signed sample deliveries (docs/wire-format.md).
FIXTURES = REPO / "tests" / "fixtures"
