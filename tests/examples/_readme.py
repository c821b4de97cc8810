"""What examples/README.md says: its text, and the server command it gives for each example."""

from __future__ import annotations

import re
import shlex
import sys

from tests.support.paths import EXAMPLES

__all__ = ["README", "readme_command", "readme_text"]

README = EXAMPLES / "README.md"


def readme_text() -> str:
    return README.read_text("utf-8")


def readme_command(marker: str) -> list[str]:
    """The server command examples/README.md gives for an example, moved from port 8000 to a free one."""
    for command in re.findall(r"`((?:gunicorn|uvicorn|python) [^`]+)`", readme_text()):
        if marker in command:
            words = [w.replace("127.0.0.1:8000", "{host}:{port}") for w in shlex.split(command)]
            words = ["{port}" if w == "8000" else w for w in words]
            # This interpreter's environment, whatever is first on PATH.
            return [sys.executable, *words[1:]] if words[0] == "python" else [sys.executable, "-m", *words]
    raise AssertionError(f"examples/README.md gives no command containing {marker!r}")
