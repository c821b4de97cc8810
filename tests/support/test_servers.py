"""The server harness itself: it must report a server that cannot start, and leave nothing running."""

from __future__ import annotations

import os
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import HOST, ServerStartError, free_port, run_server, serve

pytestmark = pytest.mark.server

# A loopback HTTP server that also starts a child process (as gunicorn's workers are) and
# writes the child's pid to a file, so that the test can check teardown reaches it too.
_SERVER_WITH_CHILD = textwrap.dedent(
    """
    import http.server, subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(sys.argv[2], "w").write(str(child.pid))
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_run_server_yields_a_base_url_that_answers(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hello")
    argv = [sys.executable, "-m", "http.server", "--bind", "{host}", "{port}"]

    with run_server(argv, cwd=tmp_path, ready_path="/") as base_url:
        assert base_url.startswith(f"http://{HOST}:")
        with urllib.request.urlopen(base_url + "/index.html", timeout=10) as response:
            assert response.read() == b"hello"


def test_teardown_stops_the_server_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"

    with serve([sys.executable, "-c", _SERVER_WITH_CHILD, "{port}", str(pid_file)]) as server:
        child = int(pid_file.read_text())
        assert _alive(server.process.pid)
        assert _alive(child)

    assert server.process.returncode is not None
    assert not _alive(child)


def test_a_server_that_exits_is_reported_with_its_output() -> None:
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('cannot import app: boom\\n'); sys.exit(3)"]

    with pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*cannot import app: boom"), serve(argv):
        pytest.fail("the block must not run")


def test_a_server_that_never_answers_is_reported_after_the_bounded_wait() -> None:
    argv = [sys.executable, "-c", "import sys, time; print('still booting', flush=True); time.sleep(600)"]

    with pytest.raises(ServerStartError, match=r"(?s)did not answer.*still booting"), serve(argv, start_timeout=1):
        pytest.fail("the block must not run")


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind((HOST, port))
