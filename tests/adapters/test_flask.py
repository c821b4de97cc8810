"""Flask specifics: route parameters, ``g``, ``app.config`` with environment fallback, bounded reads."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from flask import Flask, g

from descope_audit_hook import AsyncPostgresDedupeStore, AuditBatch, BearerToken, ConfigurationError, Verifier
from descope_audit_hook.flask import audit_webhook
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.deliveries import BEARER, signed
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET


def make_app(verifier: Verifier | None = None, **config: Any) -> tuple[Flask, list[AuditBatch]]:
    app = Flask("flask_adapter_tests")
    app.config.update(config)
    received: list[AuditBatch] = []

    @app.post("/hook")
    @audit_webhook(verifier)
    def hook(batch: AuditBatch) -> dict[str, int]:
        received.append(batch)
        return {"received": len(batch)}

    return app, received


def test_route_parameters_and_g() -> None:
    app = Flask("flask_adapter_tests")
    seen: list[tuple[AuditBatch, str, object]] = []

    @app.post("/hook/<tenant>")
    @audit_webhook(Verifier(HMAC_SECRET, auth=BEARER))
    def hook(batch: AuditBatch, tenant: str) -> str:
        seen.append((batch, tenant, g.descope_audit))
        return "ok"

    body, headers = signed()
    response = app.test_client().post("/hook/acme", data=body, headers=headers)
    assert response.status_code == 200
    [(batch, tenant, on_g)] = seen
    assert tenant == "acme"
    assert on_g is batch
    assert len(batch) == 2


def test_async_view() -> None:
    app = Flask("flask_adapter_tests")

    @app.post("/hook")
    @audit_webhook(Verifier(HMAC_SECRET, auth=BEARER))
    async def hook(batch: AuditBatch) -> dict[str, int]:
        return {"received": len(batch)}

    body, headers = signed(3)
    response = app.test_client().post("/hook", data=body, headers=headers)
    assert response.json == {"received": 3}


def test_config_from_app_config(clean_env: pytest.MonkeyPatch) -> None:
    app, received = make_app(
        DESCOPE_AUDIT_HMAC_SECRET=["old-secret", HMAC_SECRET],
        DESCOPE_AUDIT_BEARER_TOKEN=BEARER_TOKEN,
        DESCOPE_AUDIT_HEADERS={"x-env": "prod"},
        DESCOPE_AUDIT_MAX_BODY_BYTES=5000,
    )
    client = app.test_client()
    body, headers = signed(required_headers={"x-env": "prod"})
    assert client.post("/hook", data=body, headers=headers).status_code == 200
    assert client.post("/hook", data=body, headers={**headers, "x-env": "dev"}).status_code == 401
    big, big_headers = signed(30, required_headers={"x-env": "prod"})
    assert client.post("/hook", data=big, headers=big_headers).status_code == 413
    assert len(received) == 1
    # Built once per app and kept in app.extensions (Flask's place for an extension's state).
    cached = app.extensions["descope_audit_hook"]
    assert isinstance(cached, Verifier)
    client.post("/hook", data=body, headers=headers)
    assert app.extensions["descope_audit_hook"] is cached


def test_config_falls_back_to_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DESCOPE_AUDIT_HMAC_SECRET", HMAC_SECRET)
    app, received = make_app(DESCOPE_AUDIT_BEARER_TOKEN=BEARER_TOKEN)
    client = app.test_client()
    body, headers = signed()
    assert client.post("/hook", data=body, headers=headers).status_code == 200
    unsigned = {k: v for k, v in headers.items() if k != "x-descope-webhook-s256"}
    assert client.post("/hook", data=body, headers=unsigned).status_code == 401
    assert len(received) == 1


def test_ready_verifier_in_app_config(clean_env: pytest.MonkeyPatch) -> None:
    app, _ = make_app(DESCOPE_AUDIT_VERIFIER=Verifier(HMAC_SECRET, auth=BEARER))
    body, headers = signed()
    assert app.test_client().post("/hook", data=body, headers=headers).status_code == 200


def test_missing_configuration_is_a_500_not_a_4xx(clean_env: pytest.MonkeyPatch) -> None:
    app, received = make_app()
    body, headers = signed()
    assert app.test_client().post("/hook", data=body, headers=headers).status_code == 500
    app.testing = True  # now Flask lets the exception through: it is the configuration error
    with pytest.raises(ConfigurationError):
        app.test_client().post("/hook", data=body, headers=headers)
    assert received == []


@pytest.mark.parametrize("value", [b"secret", 12, ["a", 12], {"x": 1}, {"a", "b"}])
def test_config_values_of_the_wrong_type_are_refused(clean_env: pytest.MonkeyPatch, value: object) -> None:
    app, _ = make_app(DESCOPE_AUDIT_HMAC_SECRET=value, DESCOPE_AUDIT_BEARER_TOKEN=BEARER_TOKEN)
    app.testing = True
    body, headers = signed()
    with pytest.raises(ConfigurationError, match="DESCOPE_AUDIT_HMAC_SECRET") as info:
        app.test_client().post("/hook", data=body, headers=headers)
    assert "secret" not in str(info.value).replace("DESCOPE_AUDIT_HMAC_SECRET", "")


def test_config_values_are_taken_as_they_are(clean_env: pytest.MonkeyPatch) -> None:
    # A list item is one secret, comma or not: no round trip through the variable's format.
    app, received = make_app(
        DESCOPE_AUDIT_HMAC_SECRET=["new,with-comma", HMAC_SECRET], DESCOPE_AUDIT_BEARER_TOKEN=(BEARER_TOKEN,)
    )
    client = app.test_client()
    for secret in ("new,with-comma", HMAC_SECRET, "new"):
        body, headers = make_delivery(sample_events(2), hmac_secret=secret, auth=BEARER)
        expected = 401 if secret == "new" else 200
        assert client.post("/hook", data=body, headers=headers).status_code == expected
    assert len(received) == 2


class CountingStream(io.BytesIO):
    """Counts how many body bytes the adapter pulled from the server."""

    pulled = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.pulled += len(data)
        return data


def test_reading_stops_one_byte_past_the_limit() -> None:
    app, received = make_app(Verifier(HMAC_SECRET, auth=BEARER, max_body_bytes=1000))
    body, headers = signed(20)
    stream = CountingStream(body)
    overrides = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
    response = app.test_client().post("/hook", input_stream=stream, headers=headers, environ_overrides=overrides)
    assert response.status_code == 413
    assert stream.pulled == 1001
    assert received == []


def test_declared_oversize_is_refused_before_reading() -> None:
    app, _ = make_app(Verifier(HMAC_SECRET, auth=BEARER, max_body_bytes=1000))
    body, headers = signed(20)
    stream = CountingStream(body)
    response = app.test_client().post("/hook", input_stream=stream, headers=headers)
    assert response.status_code == 413
    assert stream.pulled == 0


def test_flask_max_content_length_answers_our_413() -> None:
    app, _ = make_app(Verifier(HMAC_SECRET, auth=BEARER), MAX_CONTENT_LENGTH=100)
    body, headers = signed()
    response = app.test_client().post("/hook", data=body, headers=headers)
    assert response.status_code == 413
    assert response.json == {"error": "payload_too_large", "message": "body larger than the server accepts"}


def test_body_shorter_than_declared_is_a_400() -> None:
    app, received = make_app(Verifier(HMAC_SECRET, auth=BEARER))
    body, headers = signed()
    overrides = {"CONTENT_LENGTH": str(len(body) + 10)}
    response = app.test_client().post("/hook", data=body, headers=headers, environ_overrides=overrides)
    assert response.status_code == 400
    assert response.json == {"error": "incomplete_body", "message": "request body could not be read"}
    assert received == []


def test_rejections_are_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = make_app(Verifier(HMAC_SECRET, auth=BEARER))
    body, headers = signed()
    with caplog.at_level(logging.WARNING, logger="descope_audit_hook"):
        app.test_client().get("/hook")  # not routed for GET: Flask answers 405 itself
        app.test_client().post("/hook", data=body, headers={**headers, "Authorization": "Bearer nope-" + BEARER_TOKEN})
    text = caplog.text
    assert "401 invalid_credentials" in text
    for secret in (BEARER_TOKEN, HMAC_SECRET, headers["x-descope-webhook-s256"]):
        assert secret not in text


def test_decorator_refuses_a_non_verifier_or_a_non_store() -> None:
    with pytest.raises(ConfigurationError):
        audit_webhook("secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="dedupe"):
        audit_webhook(Verifier(HMAC_SECRET), dedupe={})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="sync DedupeStore"):
        audit_webhook(Verifier(HMAC_SECRET), dedupe=AsyncPostgresDedupeStore(lambda: None))  # type: ignore[arg-type]


def test_a_token_validator_named_in_app_config(clean_env: pytest.MonkeyPatch) -> None:
    app, received = make_app(
        DESCOPE_AUDIT_HMAC_SECRET=HMAC_SECRET, DESCOPE_AUDIT_BEARER_VALIDATOR="tests.support.validators:accept"
    )
    body, headers = signed(auth=BearerToken("good.token.value"))
    client = app.test_client()
    assert client.post("/hook", data=body, headers=headers).status_code == 200
    assert client.post("/hook", data=body, headers={**headers, "Authorization": "Bearer other"}).status_code == 401
    [batch] = received
    assert batch.claims == {"sub": "descope-connector", "scope": "audit:write"}


def test_an_async_token_validator_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    async def validate(token: str) -> dict[str, str]:
        return {"sub": "x"}

    # Flask calls the validator in the request's thread: refused when the decorator is applied...
    with pytest.raises(ConfigurationError, match="async def token validator"):
        make_app(Verifier(HMAC_SECRET, auth=BearerToken(validator=validate)))
    # ... or, from app.config, when the verifier is built on the first request (a 500, never a 4xx).
    app, received = make_app(
        DESCOPE_AUDIT_HMAC_SECRET=HMAC_SECRET, DESCOPE_AUDIT_BEARER_VALIDATOR="tests.support.validators:accept_async"
    )
    body, headers = signed(auth=BearerToken("good.token.value"))
    assert app.test_client().post("/hook", data=body, headers=headers).status_code == 500
    assert received == []
