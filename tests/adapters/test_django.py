"""Django specifics: the CSRF and login-required seams, settings and environment, middleware configuration."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from tests.support.deliveries import BEARER, signed
from tests.support.frameworks import ensure_django
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.stores import RecordingStore

from ._harness import MIDDLEWARE_PATH, SECURE_MIDDLEWARE, django_settings

ensure_django()

from django.contrib.auth.decorators import login_not_required  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from descope_audit_hook import (  # noqa: E402
    AsyncPostgresDedupeStore,
    AuditBatch,
    BearerToken,
    ClaimState,
    ConfigurationError,
    DedupeStore,
    MemoryDedupeStore,
    Verifier,
)
from descope_audit_hook.django import CacheDedupeStore, audit_webhook  # noqa: E402

VERIFIER = Verifier(HMAC_SECRET, auth=BEARER)
STORE = MemoryDedupeStore()  # DEDUPE as an import path names this
ASYNC_POSTGRES = AsyncPostgresDedupeStore(lambda: None)  # refused: the middleware is sync
received: list[tuple[AuditBatch, bytes, dict[str, Any]]] = []


def _webhook_view(request: HttpRequest, **kwargs: Any) -> JsonResponse:
    batch: AuditBatch = request.descope_audit  # type: ignore[attr-defined]
    received.append((batch, request.body, kwargs))
    return JsonResponse({"received": len(batch)})


def _unmarked_view(request: HttpRequest) -> JsonResponse:
    # Its own function: login_not_required marks the function object it is given.
    return _webhook_view(request)


@audit_webhook(VERIFIER)
def decorated(request: HttpRequest, batch: AuditBatch, tenant: str) -> JsonResponse:
    received.append((batch, request.body, {"tenant": tenant}))
    return JsonResponse({"received": len(batch)})


@audit_webhook()
def from_settings(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
    received.append((batch, request.body, {}))
    return JsonResponse({"received": len(batch)})


@audit_webhook(VERIFIER)
async def decorated_async(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
    received.append((batch, request.body, {}))
    return JsonResponse({"received": len(batch)})


ASYNC_STORE = RecordingStore()
async_script: list[str] = []
loop_threads: list[int] = []


@audit_webhook(VERIFIER, dedupe=ASYNC_STORE)
async def decorated_async_once(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
    loop_threads.append(threading.get_ident())
    action = async_script.pop(0) if async_script else "ok"
    if action == "raise":
        raise RuntimeError("the handler failed")
    received.append((batch, request.body, {}))
    return JsonResponse({"received": len(batch)}, status=500 if action == "500" else 200)


def form_post(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a form that CSRF protects")


def private(request: HttpRequest) -> HttpResponse:
    return HttpResponse("behind the login")


class urls:  # a ROOT_URLCONF stand-in
    urlpatterns: ClassVar[list[Any]] = [
        path("mw/hook", login_not_required(_webhook_view)),
        path("mw/slash/", login_not_required(lambda request: _webhook_view(request))),
        path("mw/unmarked", _unmarked_view),
        path("hook/<str:tenant>", decorated),
        path("settings-hook", from_settings),
        path("async-hook", decorated_async),
        path("async-once", decorated_async_once),
        path("form", login_not_required(form_post)),
        path("private", private),
    ]


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    received.clear()
    yield
    received.clear()


def project(*, paths: list[str] | None = None, first: bool = False, **settings: Any) -> Any:
    conf: dict[str, Any] = {"PATHS": paths or ["/mw/hook"], "VERIFIER": VERIFIER}
    conf.update(settings.pop("WEBHOOK", {}))
    middleware = [MIDDLEWARE_PATH, *SECURE_MIDDLEWARE] if first else [*SECURE_MIDDLEWARE, MIDDLEWARE_PATH]
    settings.setdefault("MIDDLEWARE", middleware)
    return django_settings(ROOT_URLCONF=urls, DESCOPE_AUDIT_WEBHOOK=conf, **settings)


def client(**kwargs: Any) -> Client:
    return Client(enforce_csrf_checks=True, **kwargs)


def post(c: Client, url: str, body: bytes, headers: dict[str, str]) -> Any:
    return c.post(url, body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("first", [False, True], ids=["middleware-last", "middleware-first"])
def test_middleware_passes_csrf_and_login_required_and_the_rest_stays_protected(first: bool) -> None:
    body, headers = signed()
    with project(first=first):
        c = client()
        assert post(c, "/mw/hook", body, headers).status_code == 200
        # The same stack still guards everything else: proof that the seams are really there.
        assert c.post("/form", {"a": "b"}).status_code == 403  # CSRF
        assert c.get("/private").status_code == 302  # login required
        assert c.get("/form").status_code == 200  # other paths pass through the middleware untouched
    [(batch, raw, _)] = received
    assert len(batch) == 2
    assert raw == body == batch.body  # request.body still works in the view


def test_decorator_passes_csrf_and_login_required_with_route_parameters() -> None:
    body, headers = signed(3)
    with project():
        c = client()
        assert post(c, "/hook/acme", body, headers).json() == {"received": 3}
        assert c.post("/form", {"a": "b"}).status_code == 403
    [(_, raw, kwargs)] = received
    assert kwargs == {"tenant": "acme"}
    assert raw == body


def test_async_view_with_the_decorator() -> None:
    body, headers = signed(3)
    with project():
        assert post(client(), "/async-hook", body, headers).json() == {"received": 3}
        assert post(client(), "/async-hook", body, {**headers, "Authorization": "Bearer x"}).status_code == 401
        assert client().get("/async-hook").status_code == 405
    assert len(received) == 1


def test_middleware_refuses_an_unmarked_view_under_login_required() -> None:
    body, headers = signed()
    with project(paths=["/mw/unmarked"]):
        with pytest.raises(ImproperlyConfigured, match="login_not_required"):
            post(client(), "/mw/unmarked", body, headers)
        assert post(client(raise_request_exception=False), "/mw/unmarked", body, headers).status_code == 500
        # A forged delivery is still a 401 first.
        assert post(client(), "/mw/unmarked", body, {**headers, "Authorization": "Bearer x"}).status_code == 401
    assert received == []


def test_unmarked_view_is_fine_without_login_required() -> None:
    body, headers = signed()
    without = [m for m in SECURE_MIDDLEWARE if not m.endswith("LoginRequiredMiddleware")]
    with project(paths=["/mw/unmarked"], first=False):
        from django.test import override_settings

        with override_settings(MIDDLEWARE=[*without, MIDDLEWARE_PATH]):
            assert post(client(), "/mw/unmarked", body, headers).status_code == 200


@pytest.mark.parametrize(
    ("webhook", "match"),
    [
        ({"PATHS": []}, "PATHS"),
        ({"PATHS": "/mw/hook"}, "PATHS"),
        ({"PATHS": ["mw/hook"]}, "PATHS"),
        ({"PATHS": ["/mw/hook"], "PATH": "/typo"}, "unknown keys: PATH"),
        ({"PATHS": ["/mw/hook"], "DEDUPE": 3}, "DEDUPE"),
        ({"PATHS": ["/mw/hook"], "DEDUPE": f"{__name__}.ASYNC_POSTGRES"}, "sync DedupeStore"),
    ],
)
def test_middleware_configuration_errors(webhook: dict[str, Any], match: str) -> None:
    with project(WEBHOOK=webhook), pytest.raises(ImproperlyConfigured, match=match):
        client().get("/form")


def test_middleware_with_dedupe_from_an_import_path(monkeypatch: pytest.MonkeyPatch) -> None:
    body, headers = signed(3)
    monkeypatch.setattr(sys.modules[__name__], "STORE", MemoryDedupeStore())  # fresh: no event seen yet
    with project(WEBHOOK={"DEDUPE": f"{__name__}.STORE"}):
        assert post(client(), "/mw/hook", body, headers).json() == {"received": 3}
        assert post(client(), "/mw/hook", body, headers).json() == {"received": 0}
    assert [b.duplicates for b, _, _ in received] == [0, 3]


def test_verifier_from_settings_with_environment_fallback(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DESCOPE_AUDIT_BEARER_TOKEN", BEARER_TOKEN)
    body, headers = signed()
    unsigned = {k: v for k, v in headers.items() if k != "x-descope-webhook-s256"}
    with project(DESCOPE_AUDIT_HMAC_SECRET=HMAC_SECRET, WEBHOOK={"VERIFIER": None}):
        assert post(client(), "/settings-hook", body, headers).status_code == 200
        assert post(client(), "/settings-hook", body, unsigned).status_code == 401
    # Keys inside DESCOPE_AUDIT_WEBHOOK, unprefixed; the settings change rebuilds the verifier.
    with project(WEBHOOK={"VERIFIER": None, "HMAC_SECRET": "another-secret", "MAX_BODY_BYTES": 100}):
        assert post(client(), "/settings-hook", body, headers).status_code == 413
    assert len(received) == 1


def test_settings_values_are_typed_and_messages_name_where_they_were_found(clean_env: pytest.MonkeyPatch) -> None:
    from descope_audit_hook.testing import make_delivery, sample_events

    body, headers = make_delivery(sample_events(2), hmac_secret="new,with-comma", auth=BEARER)
    typed = {"HMAC_SECRET": ["new,with-comma", HMAC_SECRET], "BEARER_TOKEN": (BEARER_TOKEN,), "MAX_BODY_BYTES": 100_000}
    with project(WEBHOOK={"VERIFIER": None, **typed}):
        assert post(client(), "/settings-hook", body, headers).status_code == 200
    bad_limit = pytest.raises(ConfigurationError, match=r'^settings\.DESCOPE_AUDIT_WEBHOOK\["MAX_BODY_BYTES"\] must be')
    with project(WEBHOOK={"VERIFIER": None, "HMAC_SECRET": HMAC_SECRET, "MAX_BODY_BYTES": "100 KB"}), bad_limit:
        post(client(), "/settings-hook", body, headers)
    bad_secret = pytest.raises(ConfigurationError, match=r"^settings\.DESCOPE_AUDIT_HMAC_SECRET must be a str or")
    with project(WEBHOOK={"VERIFIER": None}, DESCOPE_AUDIT_HMAC_SECRET=b"bytes"), bad_secret:
        post(client(), "/settings-hook", body, headers)


def test_middleware_reads_the_verifier_keys_from_settings(clean_env: pytest.MonkeyPatch) -> None:
    body, headers = signed()
    webhook = {"VERIFIER": None, "HMAC_SECRET": HMAC_SECRET, "BEARER_TOKEN": [BEARER_TOKEN]}
    with project(WEBHOOK=webhook):
        assert post(client(), "/mw/hook", body, headers).status_code == 200
        assert post(client(), "/mw/hook", body, {**headers, "Authorization": "Bearer x"}).status_code == 401


def test_a_token_validator_named_in_settings(clean_env: pytest.MonkeyPatch) -> None:
    body, headers = signed(auth=BearerToken("good.token.value"))
    other = {**headers, "Authorization": "Bearer other.token"}
    webhook = {"VERIFIER": None, "HMAC_SECRET": HMAC_SECRET, "BEARER_VALIDATOR": "tests.support.validators:accept"}
    with project(WEBHOOK=webhook):
        assert post(client(), "/mw/hook", body, headers).status_code == 200
        assert post(client(), "/mw/hook", body, other).status_code == 401
        assert post(client(), "/settings-hook", body, headers).status_code == 200
    assert [b.claims for b, _, _ in received] == [{"sub": "descope-connector", "scope": "audit:write"}] * 2
    # A top-level setting works too; an async def validator stops the middleware from loading.
    refused = pytest.raises(ConfigurationError, match="async def token validator")
    top_level = override_settings(DESCOPE_AUDIT_BEARER_VALIDATOR="tests.support.validators:accept_async")
    with project(WEBHOOK={"VERIFIER": None}, DESCOPE_AUDIT_HMAC_SECRET=HMAC_SECRET), top_level, refused:
        client().get("/form")


def test_missing_configuration_is_a_500_not_a_4xx(clean_env: pytest.MonkeyPatch) -> None:
    body, headers = signed()
    # The decorator builds its verifier on first use: a broken configuration is a 500 then.
    with project(MIDDLEWARE=SECURE_MIDDLEWARE, WEBHOOK={"VERIFIER": None}):
        with pytest.raises(ConfigurationError):
            post(client(), "/settings-hook", body, headers)
        assert post(client(raise_request_exception=False), "/settings-hook", body, headers).status_code == 500
    # The middleware builds it when Django loads the middleware: the app does not start.
    with project(WEBHOOK={"VERIFIER": None}), pytest.raises(ConfigurationError):
        client(raise_request_exception=False).get("/form")
    assert received == []


def test_body_shorter_than_declared_is_a_400() -> None:
    body, headers = signed()
    with project():
        c = client()
        reply = c.post("/mw/hook", body, content_type="application/json", headers=headers, CONTENT_LENGTH=len(body) + 5)
        assert reply.status_code == 400
        assert reply.json() == {"error": "incomplete_body", "message": "request body could not be read"}
    assert received == []


def test_cache_dedupe_store_is_re_exported() -> None:
    store: DedupeStore = CacheDedupeStore("default")
    assert isinstance(store, DedupeStore)


def test_decorator_refuses_a_non_verifier_or_a_non_store() -> None:
    with pytest.raises(ConfigurationError):
        audit_webhook("secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="dedupe"):
        audit_webhook(VERIFIER, dedupe=set())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="AsyncPostgresDedupeStore is async"):
        audit_webhook(VERIFIER, dedupe=AsyncPostgresDedupeStore(lambda: None))  # type: ignore[arg-type]


def test_under_asgi_with_the_async_client() -> None:
    import asyncio

    from django.test import AsyncClient

    body, headers = signed(3)

    async def deliver() -> list[int]:
        c = AsyncClient(enforce_csrf_checks=True, raise_request_exception=False)
        statuses = []
        for url in ("/mw/hook", "/async-hook", "/hook/acme"):
            reply = await c.post(url, body, content_type="application/json", headers=headers)
            statuses.append(reply.status_code)
        forged = await c.post("/mw/hook", body + b" x", content_type="application/json", headers=headers)
        statuses.append(forged.status_code)
        return statuses

    with project():
        assert asyncio.run(deliver()) == [200, 200, 200, 401]
    assert [len(batch) for batch, _, _ in received] == [3, 3, 3]
    assert all(raw == body for _, raw, _ in received)


def test_async_view_dedupe_runs_the_store_off_the_event_loop_and_releases_on_failure() -> None:
    from django.test import AsyncClient

    body, headers = signed(3)
    headers = {k.lower(): v for k, v in headers.items()}

    async def deliver() -> list[int]:
        c = AsyncClient(enforce_csrf_checks=True, raise_request_exception=False)
        statuses = []
        for _ in range(4):
            response = await c.post("/async-once", body, content_type="application/json", headers=headers)
            statuses.append(response.status_code)
        return statuses

    async_script[:] = ["raise", "500"]
    ASYNC_STORE.calls.clear()
    ASYNC_STORE.threads.clear()
    loop_threads.clear()
    with project():
        statuses = asyncio.run(deliver())
    # raise -> 500 and released; 500 -> released; then processed once; then a duplicate.
    assert statuses == [500, 500, 200, 200]
    assert [len(batch) for batch, _, _ in received] == [3, 3, 0]
    assert received[-1][0].duplicates == 3
    # Two claims and releases, then a claim and a complete, then a claim of nothing new.
    assert ASYNC_STORE.calls == ["claim", "release", "claim", "release", "claim", "complete", "claim"]
    assert not set(ASYNC_STORE.threads) & set(loop_threads), "the store ran on the event loop's thread"


# --- AuditWebhookBodyLimit: the size limit before Django's ASGIHandler reads the body ------------


class AsgiExchange:
    """One request through an ASGI application: the body offered in chunks, what was read, what came back."""

    def __init__(self, chunks: Sequence[bytes], *, headers: dict[str, str], declared: int | None = None) -> None:
        self.chunks = list(chunks)
        self.declared = declared
        self.headers = headers
        self.read = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if not self.chunks:
            # A client that sent its body waits for the answer before it hangs up: Django (5.x)
            # listens for the disconnect while the view runs and drops the response on it, so
            # hanging up sooner would race the view. One that sent nothing leaves at once.
            for _ in range(3000 if self.read else 1):
                if any(m["type"] == "http.response.body" and not m.get("more_body") for m in self.sent):
                    break
                await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}
        chunk = self.chunks.pop(0)
        self.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def run(self, app: Any, path: str = "/mw/hook", method: str = "POST") -> tuple[int, bytes]:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        if self.declared is not None:
            raw.append((b"content-length", str(self.declared).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), *raw],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        asyncio.run(app(scope, self.receive, self.send))
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return int(start["status"]), body


def _asgi_app(**kwargs: Any) -> Any:
    from django.core.handlers.asgi import ASGIHandler

    from descope_audit_hook.django import AuditWebhookBodyLimit

    return AuditWebhookBodyLimit(ASGIHandler(), **kwargs)


LIMIT = 2048


def test_asgi_body_limit_passes_a_delivery_to_django() -> None:
    body, headers = signed(3)
    with project():
        app = _asgi_app()
        exchange = AsgiExchange([body[:100], body[100:]], headers=headers, declared=len(body))
        assert exchange.run(app) == (200, b'{"received": 3}')
    assert received[0][1] == body


def test_asgi_body_limit_refuses_a_declared_oversize_body_before_reading() -> None:
    _, headers = signed(3)
    with project(WEBHOOK={"VERIFIER": Verifier(HMAC_SECRET, auth=BEARER, max_body_bytes=LIMIT)}):
        exchange = AsgiExchange([b"[" * 1000] * 10, headers=headers, declared=10_000)
        status, answer = exchange.run(_asgi_app())
    assert (status, json.loads(answer)["error"]) == (413, "payload_too_large")
    start = next(m for m in exchange.sent if m["type"] == "http.response.start")
    assert (b"connection", b"close") in start["headers"]
    assert received == []


def test_asgi_body_limit_refuses_another_method_before_reading() -> None:
    _, headers = signed()
    with project():
        exchange = AsgiExchange([b"[" * 1000] * 10, headers=headers, declared=10_000)
        status, answer = exchange.run(_asgi_app(), method="PUT")
    assert (status, json.loads(answer)["error"]) == (405, "method_not_allowed")
    start = next(m for m in exchange.sent if m["type"] == "http.response.start")
    assert (b"allow", b"POST") in start["headers"]
    assert received == []


def test_asgi_body_limit_stops_a_streamed_body_past_the_limit() -> None:
    _, headers = signed()
    chunks = [b"[" * 1000] * 200  # 200 kB, no Content-Length
    with project(WEBHOOK={"VERIFIER": Verifier(HMAC_SECRET, auth=BEARER, max_body_bytes=LIMIT)}):
        exchange = AsgiExchange(chunks, headers=headers)
        status, answer = exchange.run(_asgi_app())
    assert (status, json.loads(answer)["error"]) == (413, "payload_too_large")
    # Read: up to the limit, then what the lingering close drained before the client "stopped".
    assert received == []
    assert exchange.read <= 200_000


@pytest.mark.parametrize(("declared", "code"), [("abc", "invalid_content_length"), ("1, 2", "invalid_content_length")])
def test_asgi_body_limit_refuses_a_bad_length(declared: str, code: str) -> None:
    body, headers = signed()
    with project():
        exchange = AsgiExchange([body], headers={**headers, "content-length": declared})
        status, answer = exchange.run(_asgi_app())
    assert (status, json.loads(answer)["error"]) == (400, code)


def test_asgi_body_limit_leaves_other_paths_and_departed_clients_alone() -> None:
    _, headers = signed()
    with project():
        app = _asgi_app(paths=["/mw/hook"], verifier=Verifier(HMAC_SECRET, auth=BEARER, max_body_bytes=LIMIT))
        # Another path: Django reads it itself (and CSRF refuses this POST).
        assert AsgiExchange([b"x" * 5000], headers={}).run(app, "/form")[0] == 403
        # A client that went away before its body was read: nobody to answer, Django not called.
        gone = AsgiExchange([], headers=headers)
        scope = {"type": "http", "method": "POST", "path": "/mw/hook", "root_path": "", "headers": []}
        asyncio.run(app(scope, gone.receive, gone.send))
        assert gone.sent == []
    assert received == []


def test_asgi_body_limit_needs_paths() -> None:
    with project(WEBHOOK={"PATHS": None}, MIDDLEWARE=[]), pytest.raises(ImproperlyConfigured, match="webhook paths"):
        _asgi_app()
    with project(), pytest.raises(ConfigurationError, match="takes a Verifier"):
        _asgi_app(verifier="not a verifier")


@pytest.mark.parametrize(
    ("first", "append_slash", "answer"),
    [(True, True, 301), (False, True, 301), (False, False, 404)],
    ids=["sees-the-301", "sees-the-404-before-it-becomes-a-301", "sees-the-404"],
)
def test_middleware_releases_the_claims_when_django_answers_a_3xx_or_4xx(
    first: bool, append_slash: bool, answer: int
) -> None:
    # /mw/slash has no view (/mw/slash/ has); with APPEND_SLASH, CommonMiddleware turns the
    # 404 into a 301 to /mw/slash/ on its way out (after our middleware when it is last). A
    # redirected POST is not followed: the sender redelivers, and a kept claim would
    # acknowledge that redelivery with nothing handled.
    store = MemoryDedupeStore()
    body, headers = signed(3)
    keys = [event.fingerprint for event in VERIFIER.verify(body, headers)]
    with project(paths=["/mw/slash"], first=first, APPEND_SLASH=append_slash, WEBHOOK={"DEDUPE": store}):
        assert post(client(), "/mw/slash", body, headers).status_code == answer
    assert store.claim(keys, "the-redelivery") == [ClaimState.CLAIMED] * 3
