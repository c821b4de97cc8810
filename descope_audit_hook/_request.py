"""One request path for every adapter and the reference receiver, without I/O.

An adapter only speaks its framework: it makes a :class:`WebhookRequest` from the
method and the declared ``Content-Length`` (405, 400 and 413 before a byte is read),
feeds it the body as the framework delivers it (413 the moment the limit is passed),
and finishes it with the headers (the verified batch, or our error). Every error is a
:class:`~descope_audit_hook.VerificationError`, logged once (the verifier logs its own),
and answered with :func:`error_response`: the one JSON error answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from ._auth import BearerToken
from ._batch import AuditBatch
from ._errors import ConfigurationError, MethodNotAllowed, PayloadTooLarge, VerificationError
from ._headers import HeadersLike
from ._token_validator import RunSync
from ._verifier import Verifier, log_rejection

__all__ = [
    "CHUNK_SIZE",
    "ErrorResponse",
    "WebhookRequest",
    "error_body",
    "error_response",
    "incomplete_body",
    "reading_body",
    "require_sync",
]

#: Bytes asked of a stream per read; the body is assembled from chunks of at most this size.
CHUNK_SIZE = 65_536


class ErrorResponse(NamedTuple):
    """A rejected request's answer: status, JSON body and headers (``Content-Type`` included)."""

    status: int
    body: bytes
    headers: dict[str, str]


def error_body(code: str, message: str) -> bytes:
    """``{"error": code, "message": message}``, compact ASCII JSON: the body of every error answer."""
    return json.dumps({"error": code, "message": message}, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(exc: VerificationError) -> ErrorResponse:
    """The answer to ``exc``: its status, :func:`error_body` and its headers (``WWW-Authenticate``, ``Allow``).

    The message is the error's own short, safe text: never a secret, a signature or
    any part of the body.
    """
    return ErrorResponse(
        exc.status_code, error_body(exc.code, exc.message), {"Content-Type": "application/json", **exc.headers}
    )


def incomplete_body() -> VerificationError:
    """The error, logged, for a body that could not be read: the client went away mid-body,
    or sent less than it declared (400).
    """
    return log_rejection(VerificationError("request body could not be read", code="incomplete_body"))


@contextmanager
def reading_body(*, keep: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Around a synchronous read of the body: any failure to read it is :func:`incomplete_body` (400).

    The client went away, sent less than it declared or a broken chunked encoding (gunicorn's
    ``InvalidChunkSize`` is no ``OSError``), the framework gave up: whatever the server raises,
    a stranger's request is never a 500. Our own errors (the 413) pass, as do the exception
    types in ``keep``, which the caller answers itself (a read timeout as a 408).
    """
    try:
        yield
    except Exception as exc:
        if isinstance(exc, (VerificationError, *keep)):
            raise
        raise incomplete_body() from None


def require_sync(verifier: Verifier, where: str) -> Verifier:
    """``verifier``, unless its token validator is ``async def``, which a synchronous path cannot await.

    Called when the app is set up, so that the mistake stops it there, not on the first delivery.
    """
    auth = verifier.auth
    if isinstance(auth, BearerToken) and auth.asynchronous:
        raise ConfigurationError(
            f"{where} verifies synchronously and cannot await an async def token validator: "
            "make the validator a plain function (it is called once per delivery), or use an async path"
        )
    return verifier


class WebhookRequest:
    """One delivery on its way in: method and declared length first, then the body, then the headers.

    ``WebhookRequest(verifier, method, content_length)`` refuses anything but ``POST``
    (405) and a declared length that is invalid (400) or over ``max_body_bytes`` (413).
    The body is then given with :meth:`feed` (chunks pushed by an async server) or
    :meth:`read` (a blocking ``read(n)``, never asked for more than :attr:`wanted`);
    more than the limit is a 413 at once, whatever the length said (it can lie, or be
    absent for a chunked request). :meth:`finish` (or :meth:`finish_async`) checks that
    the declared length arrived and verifies the delivery with the headers.
    """

    __slots__ = ("_chunks", "_declared", "_size", "verifier")

    def __init__(self, verifier: Verifier, method: str, content_length: str | int | None) -> None:
        if method != "POST":
            raise log_rejection(MethodNotAllowed())
        self._declared = verifier.check_content_length(content_length)  # 400 or 413, logged
        self.verifier = verifier
        self._chunks: list[bytes] = []
        self._size = 0

    @property
    def wanted(self) -> int:
        """How many bytes a blocking read may ask for next; 0 once the declared length arrived.

        Never past the declared length (a raw WSGI stream would block there), and one past
        the limit without one, so that an overflow is seen.
        """
        left = self.verifier.max_body_bytes + 1 - self._size
        if self._declared is not None:
            left = min(left, self._declared - self._size)
        return max(0, min(CHUNK_SIZE, left))

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the body; raise :class:`PayloadTooLarge` once past the limit."""
        self._size += len(chunk)
        if self._size > self.verifier.max_body_bytes:
            self._chunks.clear()
            raise log_rejection(PayloadTooLarge(f"body larger than {self.verifier.max_body_bytes} bytes"))
        self._chunks.append(bytes(chunk))

    def read(self, read: Callable[[int], bytes]) -> None:
        """Feed the body from ``read(n)`` until it returns ``b""`` or the declared length arrived.

        Exceptions of ``read`` propagate: the adapter knows which of its framework's mean a
        broken stream (answer :func:`incomplete_body`) and which are its own limits.
        """
        while (wanted := self.wanted) > 0:
            chunk = read(wanted)
            if not chunk:
                return
            self.feed(chunk)

    @property
    def body(self) -> bytes:
        """The body received so far (the whole body once :meth:`finish` ran)."""
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def _complete(self) -> bytes:
        if self._declared is not None and self._size < self._declared:
            raise incomplete_body()  # the client sent less than it declared
        return self.body

    def finish(self, headers: HeadersLike) -> AuditBatch:
        """Verify the delivery: the batch, or a :class:`VerificationError` (logged by the verifier).

        A Bearer token validator is called here: it must be a plain function (see :func:`require_sync`).
        """
        return self.verifier.verify(self._complete(), headers)

    async def finish_async(self, headers: HeadersLike, *, run_sync: RunSync | None = None) -> AuditBatch:
        """:meth:`finish` on an event loop: an ``async def`` validator is awaited, a plain one run by ``run_sync``."""
        return await self.verifier.verify_async(self._complete(), headers, run_sync=run_sync)
