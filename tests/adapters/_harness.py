"""One small app per adapter, each driven through its framework's own test client.

Every harness mounts a webhook at ``/hook`` that accepts any method (so that the
adapter itself, not the router, has to answer 405), records each batch its handler
receives, and answers ``{"received": n}``. ``send()`` takes the body, the headers and
how the length is declared, and returns a :class:`Reply` the shared suite can check
the same way for every framework.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint's annotations at
# runtime, and ``Depends(hook)`` names a local variable.
import functools
import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from descope_audit_hook import AuditBatch, DedupeStore, Verifier
from tests.support.frameworks import ensure_django, starlette_test_client

PATH = "/hook"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

#: ``declared``: the real length (the default); ``None``: no Content-Length (chunked); an int: that value.
Declared = int | None | Literal["actual"]
ACTUAL: Final = "actual"

KINDS = ("flask", "django-decorator", "django-middleware", "starlette", "fastapi")
#: The adapters that verify on an event loop (a token validator is awaited or run in a worker thread).
ASYNC_KINDS = ("starlette", "fastapi", "django-async")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Harness:
    """A running app under test; ``received`` holds every batch its handler got."""

    kind: str
    send_raw: Callable[[str, bytes, Mapping[str, str], Declared], Reply]
    received: list[AuditBatch] = field(default_factory=list)
    #: What the handler does on its next calls: "raise" (an exception) or a status it answers ("500", "429"...).
    script: list[str] = field(default_factory=list)
    #: The thread of each handler call (an async handler's is its event loop's).
    threads: list[int] = field(default_factory=list)

    def send(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        method: str = "POST",
        declared: Declared = ACTUAL,
    ) -> Reply:
        return self.send_raw(method, body, headers, declared)


class HandlerBoom(RuntimeError):
    """What a scripted handler raises."""


@dataclass
class Recording:
    """The handler's body, the same for every framework: record the batch, follow the script."""

    received: list[AuditBatch] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)

    def __call__(self, batch: AuditBatch) -> int:
        self.received.append(batch)
        self.threads.append(threading.get_ident())
        step = self.script.pop(0) if self.script else "200"
        if step == "raise":
            raise HandlerBoom("scripted failure")
        return int(step)

    def harness(self, kind: str, send: Callable[[str, bytes, Mapping[str, str], Declared], Reply]) -> Harness:
        return Harness(kind, send, self.received, self.script, self.threads)


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


# --- Flask --------------------------------------------------------------------------------------------


@contextmanager
def flask_harness(verifier: Verifier | None, dedupe: DedupeStore | None = None, **config: Any) -> Iterator[Harness]:
    from flask import Flask

    from descope_audit_hook.flask import audit_webhook

    app = Flask("adapter_tests")
    app.config.update(config)
    record = Recording()

    @app.route(PATH, methods=METHODS)
    @audit_webhook(verifier, dedupe=dedupe)
    def hook(batch: AuditBatch) -> tuple[dict[str, int], int]:
        return {"received": len(batch)}, record(batch)

    client = app.test_client()

    def send(method: str, body: bytes, headers: Mapping[str, str], declared: Declared) -> Reply:
        overrides: dict[str, Any] = {}
        if declared is None:
            # What gunicorn does for a chunked request: no length, the stream ends itself.
            overrides = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
        elif declared != ACTUAL:
            overrides = {"CONTENT_LENGTH": str(declared)}
        response = client.open(
            PATH, method=method, input_stream=io.BytesIO(body), headers=dict(headers), environ_overrides=overrides
        )
        return Reply(response.status_code, _lower(response.headers.items()), response.get_data())

    yield record.harness("flask", send)


# --- Django -------------------------------------------------------------------------------------------

SECURE_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]
MIDDLEWARE_PATH = "descope_audit_hook.django.AuditWebhookMiddleware"


@contextmanager
def django_settings(**overrides: Any) -> Iterator[None]:
    """Settings for a project with sessions, CSRF, auth and LoginRequiredMiddleware, plus ``overrides``."""
    ensure_django()
    from django.test import override_settings

    base: dict[str, Any] = {
        "INSTALLED_APPS": ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
        "ALLOWED_HOSTS": ["testserver"],
        "DEBUG": False,
        "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
        "LOGIN_URL": "/login/",
        "MIDDLEWARE": SECURE_MIDDLEWARE,
        "APPEND_SLASH": False,
    }
    with override_settings(**{**base, **overrides}):
        yield


class _Urls:
    def __init__(self, patterns: list[Any]) -> None:
        self.urlpatterns = patterns


def _django_send(kind: str, record: Recording) -> Harness:
    from django.test import Client

    # enforce_csrf_checks: the default test client switches CSRF off, which would hide the seam.
    # raise_request_exception=False: a view's exception is answered 500, as on a server.
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)

    def send(method: str, body: bytes, headers: Mapping[str, str], declared: Declared) -> Reply:
        extra: dict[str, Any] = {}
        if declared is None:
            # What gunicorn does for a chunked request: no length, the stream ends itself.
            # Django's FakePayload refuses over-reads, a real de-chunking reader does not.
            extra["CONTENT_LENGTH"] = ""
            extra["wsgi.input_terminated"] = True
            extra["wsgi.input"] = io.BytesIO(body)
        elif declared != ACTUAL:
            extra["CONTENT_LENGTH"] = str(declared)
        plain = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/octet-stream")
        response = client.generic(method, PATH, body, content_type=content_type, headers=plain, **extra)
        return Reply(response.status_code, _lower(response.items()), response.content)

    return record.harness(kind, send)


@contextmanager
def django_decorator_harness(
    verifier: Verifier | None, dedupe: DedupeStore | None = None, *, asynchronous: bool = False, **settings: Any
) -> Iterator[Harness]:
    """A view with the decorator; ``asynchronous``: an ``async def`` one (the test client runs it on an event loop)."""
    ensure_django()
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    from descope_audit_hook.django import audit_webhook

    record = Recording()

    def answer(batch: AuditBatch) -> JsonResponse:
        return JsonResponse({"received": len(batch)}, status=record(batch))

    async def async_view(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
        return answer(batch)

    def view(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
        return answer(batch)

    decorate = audit_webhook(verifier, dedupe=dedupe)
    hook = decorate(async_view) if asynchronous else decorate(view)
    with django_settings(ROOT_URLCONF=_Urls([path(PATH.lstrip("/"), hook)]), **settings):
        yield _django_send("django-async" if asynchronous else "django-decorator", record)


@contextmanager
def django_async_harness(
    verifier: Verifier | None, dedupe: DedupeStore | None = None, **settings: Any
) -> Iterator[Harness]:
    """An ``async def`` view with the decorator (the Django test client runs it on an event loop)."""
    ensure_django()
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    from descope_audit_hook.django import audit_webhook

    record = Recording()

    @audit_webhook(verifier, dedupe=dedupe)
    async def hook(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
        return JsonResponse({"received": len(batch)}, status=record(batch))

    with django_settings(ROOT_URLCONF=_Urls([path(PATH.lstrip("/"), hook)]), **settings):
        yield _django_send("django-async", record)


@contextmanager
def django_middleware_harness(
    verifier: Verifier | None, dedupe: DedupeStore | None = None, *, middleware_first: bool = False, **settings: Any
) -> Iterator[Harness]:
    ensure_django()
    from django.contrib.auth.decorators import login_not_required
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    record = Recording()

    @login_not_required
    def hook(request: HttpRequest) -> JsonResponse:
        batch: AuditBatch = request.descope_audit  # type: ignore[attr-defined]
        return JsonResponse({"received": len(batch)}, status=record(batch))

    conf: dict[str, Any] = {"PATHS": [PATH]}
    if verifier is not None:
        conf["VERIFIER"] = verifier
    if dedupe is not None:
        conf["DEDUPE"] = dedupe
    # Last by default: CsrfViewMiddleware and LoginRequiredMiddleware come before it, the harder order.
    middleware = [MIDDLEWARE_PATH, *SECURE_MIDDLEWARE] if middleware_first else [*SECURE_MIDDLEWARE, MIDDLEWARE_PATH]
    overrides: dict[str, Any] = {"DESCOPE_AUDIT_WEBHOOK": conf, "MIDDLEWARE": middleware, **settings}
    with django_settings(ROOT_URLCONF=_Urls([path(PATH.lstrip("/"), hook)]), **overrides):
        yield _django_send("django-middleware", record)


# --- Starlette and FastAPI ----------------------------------------------------------------------------


def _asgi_send(kind: str, app: Any, record: Recording) -> Harness:
    TestClient = starlette_test_client()

    client = TestClient(app, raise_server_exceptions=False)

    def send(method: str, body: bytes, headers: Mapping[str, str], declared: Declared) -> Reply:
        # Bytes, so that httpx sends latin-1 octets as a server would receive them (str must be ASCII).
        sent: dict[str, bytes] = {k: v.encode("latin-1") for k, v in headers.items()}
        content: bytes | Iterator[bytes] = body
        if declared is None:
            # An iterator makes httpx send Transfer-Encoding: chunked, with no Content-Length.
            content = iter([body[i : i + 4096] for i in range(0, len(body), 4096)])
        elif declared != ACTUAL:
            sent["Content-Length"] = str(declared).encode()
        response = client.request(method, PATH, content=content, headers=sent)
        return Reply(response.status_code, _lower(response.headers.items()), response.content)

    return record.harness(kind, send)


@contextmanager
def starlette_harness(
    verifier: Verifier | None, dedupe: DedupeStore | None = None, *, error_handler: bool = True
) -> Iterator[Harness]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from descope_audit_hook.starlette import AuditWebhook, install_error_handler

    hook = AuditWebhook(verifier, dedupe=dedupe)
    record = Recording()

    async def handler(batch: AuditBatch) -> JSONResponse:
        return JSONResponse({"received": len(batch)}, status_code=record(batch))

    async def endpoint(request: Request) -> JSONResponse:
        return await hook.handle(request, handler)

    app = Starlette(routes=[Route(PATH, endpoint, methods=METHODS)])
    if error_handler:
        install_error_handler(app)
    yield _asgi_send("starlette", app, record)


@contextmanager
def fastapi_harness(
    verifier: Verifier | None, dedupe: DedupeStore | None = None, *, error_handler: bool = True
) -> Iterator[Harness]:
    from typing import Annotated

    from fastapi import Depends, FastAPI, HTTPException

    from descope_audit_hook.starlette import AuditWebhook, install_error_handler

    hook = AuditWebhook(verifier, dedupe=dedupe)
    record = Recording()
    app = FastAPI()

    @app.api_route(PATH, methods=METHODS)
    async def endpoint(batch: Annotated[AuditBatch, Depends(hook)]) -> dict[str, int]:
        async with hook.exactly_once(batch) as fresh:
            status = record(fresh)
            if not 200 <= status < 300:
                # Inside exactly_once a failure is raised, so that the claims are released.
                raise HTTPException(status)
            return {"received": len(fresh)}

    if error_handler:
        install_error_handler(app)
    yield _asgi_send("fastapi", app, record)


@contextmanager
def harness_for(kind: str, verifier: Verifier | None, dedupe: DedupeStore | None = None) -> Iterator[Harness]:
    factories: dict[str, Callable[[Verifier | None, DedupeStore | None], Any]] = {
        "flask": flask_harness,
        "django-decorator": django_decorator_harness,
        "django-middleware": django_middleware_harness,
        "django-async": functools.partial(django_decorator_harness, asynchronous=True),
        "starlette": starlette_harness,
        "fastapi": fastapi_harness,
    }
    with factories[kind](verifier, dedupe) as harness:
        yield harness
