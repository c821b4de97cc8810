"""Typed values in a Flask ``app.config`` or Django settings: taken as they are, never turned into text.

A ``str`` is read like the environment variable (``"new,old"`` is two secrets); a list,
an int, a bool, a number of seconds, a ``timedelta``, a dict or a callable is the value
itself. Every refusal names the setting, never the value.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from descope_audit_hook import ConfigurationError, Verifier, sign
from descope_audit_hook._settings import PREFIX, settings_of
from descope_audit_hook._settings_loader import load_verifier, prefixed, read
from tests.support import validators as _validators
from tests.support.deliveries import SIG, body_of, event

BODY = body_of([event()])
WHERE = 'app.config["{}"]'


def values(**config: Any) -> dict[str, Any]:
    """What the settings read from ``config`` (keys without the prefix), by setting name."""
    source = prefixed({PREFIX + key: value for key, value in config.items()}, WHERE)
    return read([source], settings_of("verifier"), lambda setting: setting.name).values


def verifier(environ: dict[str, str] | None = None, **config: Any) -> Verifier:
    source = prefixed({PREFIX + key: value for key, value in config.items()}, WHERE)
    return load_verifier(source, environ=environ or {}, where="app.config")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"HMAC_SECRET": ["new,with-comma", " spaced "]}, {"HMAC_SECRET": ["new,with-comma", " spaced "]}),
        ({"HMAC_SECRET": ("only",)}, {"HMAC_SECRET": ["only"]}),
        ({"HMAC_SECRET": " new , old "}, {"HMAC_SECRET": ["new", "old"]}),  # a str: the variable's format
        ({"BEARER_VALIDATOR": _validators.accept}, {"BEARER_VALIDATOR": _validators.accept}),
        ({"BEARER_VALIDATOR": "tests.support.validators:accept"}, {"BEARER_VALIDATOR": _validators.accept}),
        ({"API_KEY_HEADER": " x-key ", "API_KEY": ["k1", "k2"]}, {"API_KEY_HEADER": "x-key", "API_KEY": ["k1", "k2"]}),
        ({"HEADERS": {"x-env": "prod"}}, {"HEADERS": {"x-env": "prod"}}),
        ({"HEADERS": '{"x-env": "prod"}'}, {"HEADERS": {"x-env": "prod"}}),
        ({"HEADERS": ""}, {}),  # blank: unset
        ({"MAX_BODY_BYTES": 4096}, {"MAX_BODY_BYTES": 4096}),
        ({"MAX_BODY_BYTES": " 4096 "}, {"MAX_BODY_BYTES": 4096}),
        ({"SIGNED_FORMS": ["raw", "trimmed"]}, {"SIGNED_FORMS": ["raw", "trimmed"]}),
        ({"SIGNED_FORMS": "raw, compact"}, {"SIGNED_FORMS": ["raw", "compact"]}),
        ({"ALLOW_UNAUTHENTICATED": True}, {"ALLOW_UNAUTHENTICATED": True}),
        ({"ALLOW_UNAUTHENTICATED": "off"}, {"ALLOW_UNAUTHENTICATED": False}),
        ({"MAX_EVENT_AGE_SECONDS": 300}, {"MAX_EVENT_AGE_SECONDS": timedelta(minutes=5)}),
        ({"MAX_EVENT_AGE_SECONDS": 0.5}, {"MAX_EVENT_AGE_SECONDS": timedelta(milliseconds=500)}),
        ({"MAX_EVENT_AGE_SECONDS": timedelta(hours=1)}, {"MAX_EVENT_AGE_SECONDS": timedelta(hours=1)}),
        ({"MAX_CLOCK_SKEW_SECONDS": timedelta(0)}, {"MAX_CLOCK_SKEW_SECONDS": timedelta(0)}),
        ({"MAX_CLOCK_SKEW_SECONDS": "30"}, {"MAX_CLOCK_SKEW_SECONDS": timedelta(seconds=30)}),
    ],
)
def test_typed_values_are_taken_as_they_are(config: dict[str, Any], expected: dict[str, Any]) -> None:
    assert values(**config) == expected


def test_a_list_item_is_one_secret_comma_and_spaces_included() -> None:
    # The variable's text would split "new,with-comma" in two and strip " spaced ".
    v = verifier(HMAC_SECRET=["new,with-comma", " spaced "])
    for secret in ("new,with-comma", " spaced "):
        assert v.verify(BODY, {SIG: sign(BODY, secret)}).signed_form == "raw"
    for never in ("new", "spaced"):
        with pytest.raises(Exception, match="signature does not match"):
            v.verify(BODY, {SIG: sign(BODY, never)})


def test_a_callable_validator_and_a_timedelta_window() -> None:
    v = verifier(BEARER_VALIDATOR=_validators.accept, MAX_EVENT_AGE_SECONDS=timedelta(days=3650))
    batch = v.verify(BODY, {"Authorization": f"Bearer {_validators.GOOD}"})
    assert batch.claims == {"sub": "descope-connector", "scope": "audit:write"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"HMAC_SECRET": b"secret-bytes"}, 'HMAC_SECRET"] must be a str or a list of str'),
        ({"HMAC_SECRET": 12}, "must be a str or a list of str"),
        ({"HMAC_SECRET": {"set-a", "set-b"}}, "must be a str or a list of str"),  # a set has no rotation order
        ({"HMAC_SECRET": ["kept-value", 12]}, "must be a str or a list of str"),
        ({"HMAC_SECRET": []}, 'HMAC_SECRET"] is set but empty'),
        ({"HMAC_SECRET": ["kept-value", " "]}, 'HMAC_SECRET"] holds an empty value'),
        ({"BEARER_TOKEN": ""}, 'BEARER_TOKEN"] is set but empty'),
        ({"BEARER_VALIDATOR": 42}, "must be a callable or its import path"),
        ({"API_KEY_HEADER": ["x-key"], "API_KEY": ["k"]}, 'API_KEY_HEADER"] must be a str'),
        ({"MAX_BODY_BYTES": True}, 'MAX_BODY_BYTES"] must be an int'),
        ({"MAX_BODY_BYTES": 1.5}, "must be an int"),
        ({"MAX_BODY_BYTES": 0}, 'MAX_BODY_BYTES"] must be a positive integer'),
        ({"MAX_BODY_BYTES": 2**70}, "must be a positive integer"),
        ({"ALLOW_UNAUTHENTICATED": 1}, 'ALLOW_UNAUTHENTICATED"] must be a bool'),
        ({"ALLOW_UNAUTHENTICATED": "maybe"}, "must be true or false"),
        ({"HEADERS": {"x-env": 1}}, 'HEADERS"] must map header names to string values'),
        ({"HEADERS": ["x-env", "prod"]}, "must be a dict of header names to values"),
        ({"SIGNED_FORMS": ["pretty-form"]}, 'SIGNED_FORMS"] must be a comma-separated subset'),
        ({"SIGNED_FORMS": []}, "must be a comma-separated subset"),
        ({"MAX_EVENT_AGE_SECONDS": 0}, "must be a positive number of seconds"),
        ({"MAX_EVENT_AGE_SECONDS": timedelta(seconds=-1)}, "must be a positive number of seconds"),
        ({"MAX_EVENT_AGE_SECONDS": float("nan")}, "must be a positive number of seconds"),
        ({"MAX_EVENT_AGE_SECONDS": 10**400}, "must be a positive number of seconds"),
        ({"MAX_EVENT_AGE_SECONDS": True}, "must be a number of seconds or a timedelta"),
        ({"MAX_CLOCK_SKEW_SECONDS": -0.5}, "must be a non-negative number of seconds"),
        ({"VERIFIER": "not-a-verifier"}, 'VERIFIER"] must be a descope_audit_hook.Verifier'),
    ],
)
def test_a_wrong_value_is_refused_naming_the_setting_never_the_value(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        verifier(**{"HMAC_SECRET": "kept-value", **config})
    text = str(info.value)
    assert message in text
    assert 'app.config["DESCOPE_AUDIT_' in text
    for value in config.values():
        for shown in value if isinstance(value, (list, set)) else [value]:
            if isinstance(shown, (str, bytes)) and len(shown.strip()) > 2:
                assert str(shown) not in text.replace("DESCOPE_AUDIT_", "")


def test_the_environment_fills_in_a_key_that_is_absent_or_none() -> None:
    environ = {PREFIX + "BEARER_TOKEN": "from-the-environment", PREFIX + "HEADERS": '{"x-env": "prod"}'}
    v = verifier(environ, HMAC_SECRET="s3cret", BEARER_TOKEN=None, HEADERS="")
    headers = {SIG: sign(BODY, "s3cret"), "Authorization": "Bearer from-the-environment"}
    assert len(v.verify(BODY, headers)) == 1  # HEADERS given blank: unset, not read from the environment


def test_a_ready_verifier_is_used_as_is() -> None:
    ready = Verifier("s3cret")
    assert verifier(VERIFIER=ready, HMAC_SECRET=12) is ready
