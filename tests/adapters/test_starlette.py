"""Starlette and FastAPI specifics: default error shapes, the environment, streaming, disconnects."""

# No ``from __future__ import annotations``: FastAPI reads endpoint annotations at runtime.
from typing import Annotated, Any

import anyio
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    AuditBatch,
    ClaimState,
    ConfigurationError,
    MemoryDedupeStore,
    Verifier,
)
from descope_audit_hook.starlette import AuditWebhook, AuditWebhookError
from tests.support.deliveries import BEARER, signed
from tests.support.frameworks import starlette_test_client
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.stores import AsyncRecordingStore, RecordingStore

TestClient = starlette_test_client()


def starlette_app(hook: AuditWebhook, methods: list[str] | None = None) -> Starlette:
    async def endpoint(request: Request) -> JSONResponse:
        batch = await hook(request)
        assert request.state.descope_audit is batch
        # The body stays readable after the hook streamed it.
        assert await request.body() == batch.body
        return JSONResponse({"received": len(batch)})

    return Starlette(routes=[Route("/hook", endpoint, methods=methods or ["GET", "POST"])])


def fastapi_app(hook: AuditWebhook) -> FastAPI:
    app = FastAPI()

    @app.api_route("/hook", methods=["GET", "POST"])
    def endpoint(batch: Annotated[AuditBatch, Depends(hook)]) -> dict[str, int]:
        return {"received": len(batch)}

    return app


def test_default_error_answers_without_the_handler() -> None:
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER))
    body, headers = signed()
    bad = {**headers, "Authorization": "Bearer wrong"}
    plain = TestClient(starlette_app(hook)).post("/hook", content=body, headers=bad)
    assert plain.status_code == 401
    assert plain.text == "invalid credentials"
    assert plain.headers["www-authenticate"].startswith("Bearer ")
    fast = TestClient(fastapi_app(hook)).post("/hook", content=body, headers=bad)
    assert fast.status_code == 401
    assert fast.json() == {"detail": "invalid credentials"}
    assert fast.headers["www-authenticate"].startswith("Bearer ")
    method = TestClient(fastapi_app(hook)).get("/hook")
    assert (method.status_code, method.headers["allow"]) == (405, "POST")


def test_valid_delivery_in_both() -> None:
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER))
    body, headers = signed(3)
    for app in (starlette_app(hook), fastapi_app(hook)):
        response = TestClient(app).post("/hook", content=body, headers=headers)
        assert response.json() == {"received": 3}


def test_router_answers_405_itself_when_the_route_is_post_only() -> None:
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER))
    response = TestClient(starlette_app(hook, methods=["POST"])).get("/hook")
    assert response.status_code == 405


def test_verifier_from_the_environment_on_first_use(clean_env: pytest.MonkeyPatch) -> None:
    hook = AuditWebhook()  # nothing read yet: the environment is set after construction
    clean_env.setenv("DESCOPE_AUDIT_HMAC_SECRET", HMAC_SECRET)
    clean_env.setenv("DESCOPE_AUDIT_BEARER_TOKEN", BEARER_TOKEN)
    body, headers = signed()
    assert TestClient(fastapi_app(hook)).post("/hook", content=body, headers=headers).status_code == 200
    assert hook.verifier.signs


def test_missing_configuration_is_a_500_not_a_4xx(clean_env: pytest.MonkeyPatch) -> None:
    hook = AuditWebhook()
    body, headers = signed()
    with pytest.raises(ConfigurationError):
        TestClient(starlette_app(hook)).post("/hook", content=body, headers=headers)
    response = TestClient(starlette_app(hook), raise_server_exceptions=False).post("/hook", content=body)
    assert response.status_code == 500


def test_constructor_refuses_wrong_types() -> None:
    with pytest.raises(ConfigurationError):
        AuditWebhook("secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AuditWebhook(Verifier(HMAC_SECRET), dedupe=object())  # type: ignore[arg-type]
    # An async store is awaited on the loop (test_an_async_store_is_awaited_on_the_event_loop).
    store = AsyncPostgresDedupeStore(lambda: None)
    assert AuditWebhook(Verifier(HMAC_SECRET), dedupe=store).dedupe is store


async def call_asgi(app: Any, chunks: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, int]:
    """Call ``app`` with a body fed chunk by chunk; return (status, body, chunks pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    iterator = iter(chunks)

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        message: dict[str, Any] = next(iterator)
        pulled += message["type"] == "http.request"
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/hook",
        "raw_path": b"/hook",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


def endless(chunk: bytes) -> Any:
    while True:
        yield {"type": "http.request", "body": chunk, "more_body": True}


@pytest.mark.parametrize("make", [starlette_app, fastapi_app])
def test_streaming_stops_as_soon_as_the_limit_is_passed(make: Any) -> None:
    from descope_audit_hook.starlette import install_error_handler

    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER, max_body_bytes=10_000))
    app = make(hook)
    install_error_handler(app)
    _, headers = signed()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    status, body, pulled = anyio.run(call_asgi, app, endless(b"x" * 1000), raw)
    assert status == 413
    assert body == b'{"error":"payload_too_large","message":"body larger than 10000 bytes"}'
    assert pulled == 11  # the chunk that passed the limit is the last one read


def test_client_disconnect_mid_body_is_a_400() -> None:
    from descope_audit_hook.starlette import install_error_handler

    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER))
    app = starlette_app(hook)
    install_error_handler(app)
    _, headers = signed()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    messages = [{"type": "http.request", "body": b"[", "more_body": True}, {"type": "http.disconnect"}]
    status, body, _ = anyio.run(call_asgi, app, iter(messages), raw)
    assert status == 400
    assert b"incomplete_body" in body


def test_handle_and_exactly_once_without_a_store_pass_the_batch_through() -> None:
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER))
    seen: list[AuditBatch] = []

    async def handler(batch: AuditBatch) -> Response:
        async with hook.exactly_once(batch) as same:
            assert same is batch
        seen.append(batch)
        return Response(status_code=204)

    async def endpoint(request: Request) -> Response:
        return await hook.handle(request, handler)

    app = Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])
    body, headers = signed()
    client = TestClient(app)
    assert client.post("/hook", content=body, headers=headers).status_code == 204
    assert client.post("/hook", content=body, headers=headers).status_code == 204
    assert len(seen) == 2


def test_exactly_once_in_a_fastapi_endpoint_releases_on_error() -> None:
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER), dedupe=MemoryDedupeStore())
    app = FastAPI()
    calls: list[int] = []

    @app.post("/hook")
    async def endpoint(batch: Annotated[AuditBatch, Depends(hook)]) -> dict[str, int]:
        async with hook.exactly_once(batch) as new:
            calls.append(len(new))
            if len(calls) == 1:
                raise RuntimeError("storage is down")
            return {"new": len(new), "duplicates": new.duplicates}

    body, headers = signed(2)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.post("/hook", content=body, headers=headers).status_code == 500
    assert client.post("/hook", content=body, headers=headers).json() == {"new": 2, "duplicates": 0}
    assert client.post("/hook", content=body, headers=headers).json() == {"new": 0, "duplicates": 2}


def test_audit_webhook_error_carries_the_library_error() -> None:
    from descope_audit_hook import PayloadTooLarge

    exc = AuditWebhookError(PayloadTooLarge("too big"))
    assert (exc.status_code, exc.detail, exc.headers) == (413, "too big", None)
    assert exc.error.code == "payload_too_large"


def test_exactly_once_runs_the_store_off_the_event_loop_and_releases_on_cancellation() -> None:
    import threading

    store = RecordingStore()
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER), dedupe=store)
    body, headers = signed(3)
    batch = hook.verifier.verify(body, headers)
    keys = [event.fingerprint for event in batch]

    async def main() -> int:
        started = anyio.Event()

        async def handler() -> None:
            async with hook.exactly_once(batch) as new:
                assert len(new) == 3
                started.set()
                await anyio.sleep_forever()

        async with anyio.create_task_group() as group:
            group.start_soon(handler)
            await started.wait()
            group.cancel_scope.cancel()
        return threading.get_ident()

    loop_thread = anyio.run(main)
    assert len(store.threads) == 2  # one claim, one release
    assert loop_thread not in store.threads
    # Released: the events can be claimed again, as a redelivery would.
    assert store.claim(keys, "redelivery") == [ClaimState.CLAIMED] * 3


def test_exactly_once_completes_off_the_event_loop() -> None:
    import threading

    store = RecordingStore()
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER), dedupe=store)
    body, headers = signed(3)
    batch = hook.verifier.verify(body, headers)

    async def main() -> int:
        async with hook.exactly_once(batch) as new:
            assert len(new) == 3
        return threading.get_ident()

    loop_thread = anyio.run(main)
    assert store.calls == ["claim", "complete"]
    assert loop_thread not in store.threads
    assert store.claim([event.fingerprint for event in batch], "redelivery") == [ClaimState.COMPLETED] * 3


def test_an_async_store_is_awaited_on_the_event_loop() -> None:
    import threading

    store = AsyncRecordingStore(lease=20)
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER), dedupe=store)
    loop_threads: list[int] = []

    async def handler(batch: AuditBatch) -> JSONResponse:
        loop_threads.append(threading.get_ident())
        return JSONResponse({"received": len(batch)}, status_code=429 if len(loop_threads) == 1 else 200)

    async def endpoint(request: Request) -> Response:
        return await hook.handle(request, handler)

    app = Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])
    body, headers = signed(3)
    client = TestClient(app)
    assert client.post("/hook", content=body, headers=headers).status_code == 429  # released
    assert client.post("/hook", content=body, headers=headers).json() == {"received": 3}
    assert client.post("/hook", content=body, headers=headers).json() == {"received": 0}
    assert store.calls == ["claim", "release", "claim", "complete", "claim"]
    assert set(store.threads) == set(loop_threads), "not awaited on the event loop"


def test_exactly_once_in_fastapi_answers_503_with_retry_after() -> None:
    from descope_audit_hook.starlette import install_error_handler

    store = AsyncRecordingStore(lease=20)
    hook = AuditWebhook(Verifier(HMAC_SECRET, auth=BEARER), dedupe=store)
    app = FastAPI()
    install_error_handler(app)
    handled: list[tuple[int, int]] = []

    @app.post("/hook")
    async def endpoint(batch: Annotated[AuditBatch, Depends(hook)]) -> dict[str, int]:
        async with hook.exactly_once(batch) as new:
            handled.append((len(new), new.in_progress))
            return {"received": len(new)}

    body, headers = signed(3)
    batch = hook.verifier.verify(body, headers)
    store.inner.claim([batch[0].fingerprint], "another-request")
    client = TestClient(app)
    held = client.post("/hook", content=body, headers=headers)
    assert (held.status_code, held.headers["retry-after"], held.json()["error"]) == (503, "2", "events_in_progress")
    store.inner.complete([batch[0].fingerprint], "another-request")
    assert client.post("/hook", content=body, headers=headers).json() == {"received": 0}
    assert handled == [(2, 1), (0, 0)]
    store.fail = True  # the store's server goes down: the endpoint's body never runs
    down = client.post("/hook", content=body, headers=headers)
    assert (down.status_code, down.headers["retry-after"], down.json()["error"]) == (503, "2", "dedupe_unavailable")
    assert handled == [(2, 1), (0, 0)]
