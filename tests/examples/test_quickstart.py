"""examples/quickstart.py runs as its docstring says and shows what it claims."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "quickstart.py"


def test_quickstart_example_runs() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "accepted 3 events (signature matched the 'compact' form)"
    assert [line.split()[3] for line in lines[1:4]] == ["LoginSucceed", "LoginFailed", "UserModified"]
    assert lines[4] == "tampered body rejected: 401 invalid_signature"
    assert "descope-test-hmac-secret" not in result.stdout + result.stderr
