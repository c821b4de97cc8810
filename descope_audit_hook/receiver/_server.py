"""``serve``'s HTTP server: wsgiref, one thread per connection, with two limits a stranger meets.

- **A deadline on the whole request.** The request line, the headers and the body must
  all arrive within ``request_timeout`` seconds of the connection; every read waits at
  most for what is left. A client that sends one byte every few seconds no longer holds
  a thread forever: a late body is answered 408 by the application, late headers 408 here.
- **A bound on concurrent connections.** Past ``max_connections`` a new connection is
  answered 503 at once and closed, instead of getting one more thread.

Writing the response has its own per-write timeout (``request_timeout`` again).
"""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from descope_audit_hook._errors import ConfigurationError
from descope_audit_hook._request import error_body

from ._app import AuditReceiver
from ._http import log_text

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_REQUEST_TIMEOUT", "make_server"]

DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 64

logger = logging.getLogger("descope_audit_hook.receiver")

_CHUNK = 65_536


def _plain_answer(status: str, code: str, message: str, extra: str = "") -> bytes:
    body = error_body(code, message)
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_TIMEOUT_ANSWER = _plain_answer("408 Request Timeout", "request_timeout", "the request was not received in time")
_BUSY_ANSWER = _plain_answer("503 Service Unavailable", "busy", "too many connections", "Retry-After: 5\r\n")


class _DeadlineReader(io.RawIOBase):
    """Reads a socket; no read may end later than ``deadline`` (a ``TimeoutError`` then)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _TimedWriter(io.RawIOBase):
    """Writes a socket, each write bounded by ``timeout`` (the reader may have left a tiny one)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.settimeout(self._timeout)
        self._sock.sendall(data)
        self.written += len(data)
        return len(data)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], request_timeout: float, max_connections: int) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.request_timeout = request_timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            # Answered from the accepting thread: a small answer fits the socket buffer at once.
            try:
                request.settimeout(0.5)
                request.sendall(_BUSY_ANSWER)
            except OSError:
                pass
            self.shutdown_request(request)
            logger.info('%s "-" 503 busy (more than the connection limit)', client_address[0])
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed outside the application (the client reset it while its
        headers were read): one line in the receiver's log, not socketserver's traceback on stderr."""
        failure = sys.exc_info()[1]
        reason = type(failure).__name__
        if isinstance(failure, OSError) and failure.strerror:
            reason += f": {failure.strerror}"
        logger.info('%s "-" connection failed (%s)', log_text(str(client_address[0])), log_text(reason))


class _RequestHandler(WSGIRequestHandler):
    server: _ThreadingWSGIServer

    def setup(self) -> None:
        super().setup()
        limit = self.server.request_timeout
        self.rfile.close()  # the plain file made by setup(); ours bounds the whole request
        self.writer = _TimedWriter(self.connection, limit)
        self.wfile = self.writer  # type: ignore[assignment]
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, time.monotonic() + limit))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The application logs one line per request itself."""

    def log_message(self, format: str, *args: Any) -> None:
        """wsgiref's own lines (``code 400, message Bad request syntax (...)`` for a request it
        refused before the application saw it) go to the receiver's log as one escaped line,
        without what they quote of the request line: its query string may carry a token."""
        text = (format % args).split(" (", 1)[0]
        logger.info('%s "-" %s', log_text(str(self.client_address[0])), log_text(text))

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            # The request line or the headers did not arrive in time (a late body is the
            # application's 408; wsgiref's handler catches a timeout while the application's
            # answer is written), or the client stopped reading the error wsgiref answers to a
            # malformed request. Answer if nothing was sent yet, and let the lingering close
            # below end it.
            if self.writer.written:
                return
            try:
                self.connection.settimeout(0.5)
                self.connection.sendall(_TIMEOUT_ANSWER)
            except OSError:
                pass
            logger.info('%s "-" 408 request_timeout (headers not received in time)', self.client_address[0])
        self._linger()

    def _linger(self) -> None:
        # Lingering close: when the application answered without reading the whole body
        # (a 413 on Content-Length), closing at once would make the kernel send a reset
        # that can destroy the response in flight. Signal the end of the response, then
        # discard what the client still sends, for a bounded time and amount.
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            deadline = time.monotonic() + 2.0
            discarded = 0
            while discarded < 16 * 1_048_576 and time.monotonic() < deadline:
                data = self.connection.recv(_CHUNK)
                if not data:
                    break
                discarded += len(data)
        except OSError:
            pass


def make_server(
    host: str,
    port: int,
    app: AuditReceiver,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> WSGIServer:
    """A threading wsgiref server for ``app``; call ``serve_forever()`` on it.

    ``request_timeout``: seconds for a whole request (line, headers, body) to arrive;
    ``max_connections``: connections handled at once (more are answered 503).
    """
    if not request_timeout > 0 or max_connections < 1:
        raise ConfigurationError("request_timeout must be positive and max_connections at least 1")
    server = _ThreadingWSGIServer((host, port), request_timeout, max_connections)
    server.set_app(app)
    return server
