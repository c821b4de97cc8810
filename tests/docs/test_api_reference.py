"""The reference docs stay true to the code: every public name is documented.

The error codes are checked against their registry in tests/core/test_error_codes.py.
"""

from __future__ import annotations

import descope_audit_hook
from descope_audit_hook import testing
from tests.support.paths import DOCS

API = (DOCS / "api.md").read_text("utf-8")


def test_every_public_name_is_documented() -> None:
    for name in [*descope_audit_hook.__all__, *testing.__all__]:
        assert f"`{name}" in API, name
