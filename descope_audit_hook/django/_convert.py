"""Django's request in, our answer out: what the decorator and the middleware share."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from descope_audit_hook._errors import RetryLater, VerificationError
from descope_audit_hook._request import WebhookRequest, error_response, reading_body
from descope_audit_hook._verifier import Verifier

__all__ = ["answer", "error", "in_worker_thread", "received", "status"]


def _read(request: HttpRequest, incoming: WebhookRequest) -> None:
    """Feed ``incoming`` the request's raw body; afterwards ``request.body`` still works in the view."""
    read = request.read
    stream = request.META.get("wsgi.input")
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated") and stream is not None:
        # A chunked request (no Content-Length). Django wraps wsgi.input in a stream of
        # length 0 and would hand us nothing; a server that sets wsgi.input_terminated
        # (gunicorn) has de-chunked the body and ends the stream itself, so read it there.
        read = stream.read
    # UnreadablePostError (the client went away), the server's own error for a body
    # shorter than its Content-Length: the body could not be read, a 400, not a 500.
    with reading_body():
        incoming.read(read)
    # HttpRequest.body is the cached ``_body`` once it was read; we read the stream
    # ourselves (bounded, which ``.body`` is not under ASGI), so hand the view the same
    # bytes instead of RawPostDataException.
    request._body = incoming.body
    request._stream = io.BytesIO(incoming.body)


def received(request: HttpRequest, verifier: Verifier) -> WebhookRequest:
    """The request on the one request path, its body read: ready to :meth:`~WebhookRequest.finish`."""
    incoming = WebhookRequest(verifier, request.method or "", request.META.get("CONTENT_LENGTH"))
    _read(request, incoming)
    return incoming


async def in_worker_thread(func: Callable[..., Any], *args: Any) -> Any:
    """A synchronous token validator or dedupe store, off the event loop (it may block)."""
    return await sync_to_async(func, thread_sensitive=False)(*args)


def error(exc: VerificationError) -> HttpResponse:
    """The JSON answer of a rejected delivery, with the error's status and headers."""
    status_code, body, headers = error_response(exc)
    content_type = headers.pop("Content-Type")
    return HttpResponse(body, status=status_code, content_type=content_type, headers=headers)


def status(response: HttpResponseBase) -> int:
    return response.status_code


def answer(outcome: HttpResponseBase | RetryLater) -> HttpResponseBase:
    """The view's response, or the 503 the claim answers instead."""
    return error(outcome) if isinstance(outcome, RetryLater) else outcome
