"""The registry of error codes (``_error_codes``) against the source, the classes and the docs.

Every code the package's source raises or answers is in the registry; every code in the
registry is raised somewhere (or is a class's default); each one's status is its class's;
docs/api.md holds the table generated from the registry, and no other page copies it.

``python -m tests.core.test_error_codes --write`` rewrites the table in docs/api.md.
"""

from __future__ import annotations

import re
import sys

import pytest

import descope_audit_hook
from descope_audit_hook import _errors
from descope_audit_hook._error_codes import BY_CODE, CLASS_DEFAULT, ERROR_CODES, VERIFIER
from descope_audit_hook.receiver import _http
from tests.support.paths import DOCS, PACKAGE, REPO

API = DOCS / "api.md"
START = (
    "<!-- error codes: generated from descope_audit_hook/_error_codes.py "
    "(python -m tests.core.test_error_codes --write) -->"
)
END = "<!-- end of error codes -->"

#: How the source names a code: a keyword, a class default, a helper's first argument, or an
#: answer written without an exception (``{"error": "not_found", ...}``).
CODE_PATTERNS = (
    r'\bcode="([a-z_]+)"',
    r'\bdefault_code(?:: str)? = "([a-z_]+)"',
    r'_challenge\("([a-z_]+)"',
    r'failure = failure or "([a-z_]+)"',
    r'"error": "([a-z_]+)"',
    r'error_body\("([a-z_]+)"',
    r'_plain_answer\("\d{3} [^"]*", "([a-z_]+)"',
)
#: Answers written without an exception: (status, code).
STATUS_PATTERNS = (
    r'json_response\((\d{3}), \{"error": "([a-z_]+)"',
    r'Response\((\d{3}), \w+, error_body\("([a-z_]+)"',
    r'_plain_answer\("(\d{3}) [^"]*", "([a-z_]+)"',
)


#: Files whose codes are not ours: the demo's OAuth token endpoint answers RFC 6749's.
NOT_OURS = {"descope_audit_hook/cli/_authority.py"}


def _sources() -> dict[str, str]:
    paths = sorted(PACKAGE.rglob("*.py"))
    return {name: path.read_text("utf-8") for path in paths if (name := str(path.relative_to(REPO))) not in NOT_OURS}


def _codes_in_source() -> dict[str, set[str]]:
    """``{code: {files}}`` for every code the package's source names."""
    found: dict[str, set[str]] = {}
    for name, source in _sources().items():
        for pattern in CODE_PATTERNS:
            for code in re.findall(pattern, source):
                found.setdefault(code, set()).add(name)
    return found


def render_table() -> str:
    """The Markdown table of docs/api.md, from the registry."""
    lines = ["| code | status | raised as | answered by | when |", "|---|---|---|---|---|"]
    for entry in ERROR_CODES:
        classes = ", ".join(f"`{name}`" for name in entry.raised_as.split(", ")) if entry.raised_as else "—"
        by = f"`{entry.by}`" if entry.by == VERIFIER else entry.by
        lines.append(f"| `{entry.code}` | {entry.status} | {classes} | {by} | {entry.meaning} |")
    return "\n".join(lines)


def _documented() -> str:
    text = API.read_text("utf-8")
    assert START in text, "docs/api.md lost the start marker of its error-code table"
    assert END in text, "docs/api.md lost the end marker of its error-code table"
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_every_code_in_the_source_is_registered() -> None:
    found = _codes_in_source()
    assert {"missing_signature", "invalid_credentials", "missing_header", "invalid_query", "not_found"} <= set(found)
    unregistered = {code: sorted(files) for code, files in found.items() if code not in BY_CODE}
    assert unregistered == {}, "add these codes to descope_audit_hook/_error_codes.py (then --write the docs table)"


def test_every_registered_code_is_raised_somewhere() -> None:
    # A class's default counts: it is named in the source by ``default_code``.
    found = _codes_in_source()
    assert [entry.code for entry in ERROR_CODES if entry.code not in found] == []
    defaults = {entry.code for entry in ERROR_CODES if entry.by == CLASS_DEFAULT}
    assert defaults == {"bad_request", "authentication_failed", "forbidden"}


def test_codes_are_unique_and_well_formed() -> None:
    codes = [entry.code for entry in ERROR_CODES]
    assert len(codes) == len(set(codes))
    for entry in ERROR_CODES:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", entry.code)
        assert 400 <= entry.status <= 599
        assert entry.meaning
        assert "|" not in entry.meaning
        assert "\n" not in entry.meaning


def _error_class(name: str) -> type[descope_audit_hook.VerificationError]:
    cls = getattr(_errors, name, None) or getattr(_http, name)
    assert issubclass(cls, descope_audit_hook.VerificationError), name
    return cls  # type: ignore[no-any-return]


def test_each_status_is_its_class_status() -> None:
    for entry in ERROR_CODES:
        for name in filter(None, entry.raised_as.split(", ")):
            assert _error_class(name).status_code == entry.status, (entry.code, name)
    for name, source in _sources().items():
        for pattern in STATUS_PATTERNS:
            for status, code in re.findall(pattern, source):
                assert BY_CODE[code].status == int(status), (name, code)


def test_class_defaults_are_registered_with_their_class() -> None:
    classes = [getattr(module, name) for module in (_errors, _http) for name in module.__all__]
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, descope_audit_hook.VerificationError):
            entry = BY_CODE[cls.default_code]
            assert entry.status == cls.status_code, cls
            assert cls.__name__ in entry.raised_as.split(", "), cls


def test_docs_api_holds_the_generated_table() -> None:
    assert _documented() == render_table(), "run: python -m tests.core.test_error_codes --write"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md") if p.name != "api.md"))
def test_no_other_page_copies_the_table(page: str) -> None:
    # A row whose first cell is a code, or a status followed by codes, is a copy of the table:
    # the other pages link to docs/api.md#error-codes instead.
    text = (DOCS / page).read_text("utf-8")
    copied = re.findall(r"^\| (?:\d{3} \| )?`([a-z_]+)`", text, flags=re.MULTILINE)
    assert [code for code in copied if code in BY_CODE] == []


def _write() -> None:
    text = API.read_text("utf-8")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    API.write_text(f"{head}{START}\n\n{render_table()}\n\n{END}{tail}", "utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
