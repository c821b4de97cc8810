"""``serve``'s server against real sockets: a deadline on the whole request, a bound on connections.

The deadlines are small (a second) so that the tests are quick; the bounds in the tests
(``GIVE_UP``) are only how long a test waits before calling the server stuck, never a
measurement: each test asserts what happened (a 408, a 503, a closed connection).
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from descope_audit_hook import Verifier
from descope_audit_hook.receiver import make_app, make_server
from tests.support.secrets import HMAC_SECRET
from tests.support.servers import serving

pytestmark = pytest.mark.server

GIVE_UP = 20.0  # seconds a test waits before calling the server stuck


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    app = make_app(Verifier(HMAC_SECRET), tmp_path / "events.db")
    with serving(make_server("127.0.0.1", 0, app, request_timeout=1.0, max_connections=3)) as bound:
        yield bound


def dribble(sock: socket.socket, head: bytes, trickle: bytes) -> bytes:
    """Send ``head``, then ``trickle`` one byte every 0.2 s until the server answers or closes."""
    sock.sendall(head)
    sock.settimeout(0.2)
    given_up = time.monotonic() + GIVE_UP
    for byte in trickle * 1000:
        assert time.monotonic() < given_up, "the server still waits for the slow client"
        try:
            answer = sock.recv(65_536)
        except TimeoutError:
            try:
                sock.send(bytes([byte]))
            except OSError:  # reset: the server closed without a word
                return b""
            continue
        return answer + read_rest(sock)
    raise AssertionError("the server still waits for the slow client")


def read_rest(sock: socket.socket) -> bytes:
    sock.settimeout(GIVE_UP)
    chunks = []
    while data := sock.recv(65_536):
        chunks.append(data)
    return b"".join(chunks)


def status_and_json(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_body_sent_one_byte_at_a_time_gets_408(port: int) -> None:
    head = b"POST /descope/audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer = dribble(sock, head, b"[")
    status, payload = status_and_json(answer)
    assert (status, payload["error"]) == (408, "request_timeout")


def test_headers_sent_one_byte_at_a_time_get_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer = dribble(sock, b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a")
    assert status_and_json(answer)[0] == 408


def test_a_client_that_sends_nothing_is_answered_and_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(GIVE_UP)
        answer = read_rest(sock)
    assert status_and_json(answer)[0] == 408


def test_past_the_connection_limit_a_client_gets_503_at_once(port: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", port)) as extra:
            extra.settimeout(GIVE_UP)
            answer = read_rest(extra)
        status, payload = status_and_json(answer)
        assert (status, payload["error"]) == (503, "busy")
        assert b"Retry-After: 5" in answer
    finally:
        for sock in idle:
            sock.close()
    # The slots come back when those connections end.
    given_up = time.monotonic() + GIVE_UP
    while True:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(GIVE_UP)
            status = int(read_rest(sock).split()[1])
        if status == 200 or time.monotonic() > given_up:
            break
        time.sleep(0.1)
    assert status == 200


def test_a_prompt_client_is_served(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(GIVE_UP)
        answer = read_rest(sock)
    assert status_and_json(answer)[0] == 200


def test_a_rebinding_host_gets_400_from_the_real_server(port: int) -> None:
    # curl -H 'Host: attacker.example:8811' http://127.0.0.1:PORT/api/events
    for host, status in ((b"attacker.example:8811", 400), (b"127.0.0.1", 200), (b"localhost:8811", 200)):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            sock.settimeout(GIVE_UP)
            answer = read_rest(sock)
        assert status_and_json(answer)[0] == status, host
        if status == 400:
            assert status_and_json(answer)[1]["error"] == "invalid_host"


def _logged(caplog: pytest.LogCaptureFixture, needle: str) -> str:
    """The receiver's log line holding ``needle``, once the server's thread wrote it."""
    given_up = time.monotonic() + GIVE_UP
    while time.monotonic() < given_up:
        for record in list(caplog.records):
            if needle in record.getMessage():
                return record.getMessage()
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r}: {caplog.text}")


def test_a_request_wsgiref_refuses_is_one_log_line_without_its_query(
    port: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="descope_audit_hook.receiver")
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as sock:
        sock.sendall(b"GET /api/events?token=query-secret HTTP/1.1 extra\x1b[2J\r\n\r\n")
        assert b"Error code: 400" in read_rest(sock)  # wsgiref's own page, before the application
    line = _logged(caplog, "code 400")
    assert line == '127.0.0.1 "-" code 400, message Bad request version'
    assert "query-secret" not in caplog.text
    assert capfd.readouterr().err == ""


def test_a_client_reset_while_its_headers_are_read_is_one_log_line(
    port: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="descope_audit_hook.receiver")
    sock = socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP)
    sock.sendall(b"GET /api/events?token=query-secret HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, the headers unfinished
    line = _logged(caplog, "connection failed")
    assert line == '127.0.0.1 "-" connection failed (ConnectionResetError: Connection reset by peer)'
    assert "query-secret" not in caplog.text
    assert "Traceback" not in capfd.readouterr().err
