"""The reference docs stay true to the code: every public name and every error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import descope_audit_hook
from descope_audit_hook import testing

ROOT = Path(__file__).parent.parent.parent
API = (ROOT / "docs" / "api.md").read_text("utf-8")
CORE = [
    "_auth.py",
    "_headers.py",
    "_errors.py",
    "_payload.py",
    "_verifier.py",
    "_forms.py",
    "_freshness.py",
    "_request.py",
    "_claim.py",
]


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    for name in CORE:
        source = (ROOT / "descope_audit_hook" / name).read_text("utf-8")
        codes |= set(re.findall(r'code="([a-z_]+)"', source))
        codes |= set(re.findall(r'_challenge\("([a-z_]+)"', source))
        codes |= set(re.findall(r'failure = failure or "([a-z_]+)"', source))
    return codes


def _codes_in_table() -> set[str]:
    section = API.split("### Error codes", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


def test_every_public_name_is_documented() -> None:
    for name in [*descope_audit_hook.__all__, *testing.__all__]:
        assert f"`{name}" in API, name


def test_error_code_table_matches_the_code() -> None:
    in_source = _codes_in_source()
    assert {"missing_signature", "invalid_credentials", "invalid_json", "missing_header"} <= in_source
    in_table = _codes_in_table()
    # Every code raised is documented, and the table documents no code that cannot happen
    # (these three are class defaults, raised without code=).
    assert in_source <= in_table
    assert in_table - in_source <= {"method_not_allowed", "payload_too_large", "invalid_payload"}


def test_documented_statuses_match_the_classes() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| `(\w+)` \| (\d{3}) \|", API, flags=re.MULTILINE)
    assert rows
    for _code, cls, status in rows:
        assert getattr(descope_audit_hook, cls).status_code == int(status)
