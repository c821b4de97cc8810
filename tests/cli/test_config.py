"""The settings as options: derived from the settings table, typed, named in every message."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from descope_audit_hook import ApiKey, BearerToken
from descope_audit_hook._settings import PREFIX, SETTINGS, settings_of
from descope_audit_hook.cli import build_parser, main
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.secrets import HMAC_SECRET


def _options(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag: action for action in sub.choices[command]._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", ["serve", "verify"])
def test_every_verifier_setting_with_an_option_is_one_of_serve_and_verify(command: str) -> None:
    options = _options(command)
    for setting in settings_of("verifier"):
        if setting.flag is None:
            continue
        action = options[setting.flag]
        assert action.dest == setting.name
        assert f"[{PREFIX}{setting.name}]" in str(action.help)
        assert isinstance(action, argparse._AppendAction) == setting.kind.many
    receiver = {s.flag for s in settings_of("receiver")}
    assert receiver <= set(options) if command == "serve" else receiver.isdisjoint(options)


def test_send_takes_the_secret_and_the_authentication_types_single_valued() -> None:
    options = _options("send")
    for setting in SETTINGS:
        if setting.send_help is not None:
            assert setting.flag is not None
            assert options[setting.flag].help == setting.send_help
            assert not isinstance(options[setting.flag], argparse._AppendAction)
    assert "--bearer-validator" not in options


@pytest.fixture
def captured(tmp_path: Path) -> list[str]:
    body, headers = make_delivery(sample_events(1), hmac_secret=HMAC_SECRET, auth=ApiKey("x-key", "k2"))
    (tmp_path / "body.json").write_bytes(body)
    return ["verify", "--body", str(tmp_path / "body.json"), *(f"-H{k}: {v}" for k, v in headers.items())]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Before, these named the variables the options were turned into, which nobody had set.
        (
            ["--hmac-secret", HMAC_SECRET, "--signed-forms", "raw,pretty"],
            "--signed-forms must be a comma-separated subset",
        ),
        (["--hmac-secret", HMAC_SECRET, "--api-key-header", "x-key"], "--api-key-header and --api-key go together"),
        (["--hmac-secret", ""], "--hmac-secret must not be empty"),
        (["--hmac-secret", "new,old"], "--hmac-secret must not contain ','"),
        (["--bearer-token", "t", "--basic-user", "u", "--basic-password", "p"], "not --bearer-token and --basic-user"),
        (["--bearer-validator", "no_such_module_anywhere:check"], "--bearer-validator: no_such_module_anywhere:check"),
        (
            [],
            "no HMAC secret and no authentication configured (options or DESCOPE_AUDIT_* variables), which would "
            "accept anyone: pass --hmac-secret and/or one of --bearer-token, --bearer-validator, --api-key-header "
            "with --api-key, --basic-user with --basic-password (or --allow-unauthenticated if that is really what "
            "you want)",
        ),
    ],
)
def test_a_bad_option_is_named_as_given(
    captured: list[str], args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*captured, *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_options_replace_another_authentication_type_and_fill_in_their_own(
    captured: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PREFIX + "HMAC_SECRET", HMAC_SECRET)
    monkeypatch.setenv(PREFIX + "BEARER_TOKEN", "the-environment's-type")
    monkeypatch.setenv(PREFIX + "API_KEY", "k1,k2")
    # --api-key-header picks the API key type: the Bearer variable is dropped, API_KEY fills in.
    assert main([*captured, "--api-key-header", "x-key"]) == 0
    assert "accepted: 1 event(s)" in capsys.readouterr().out
    # A variable's blank value is still refused, whatever the options say.
    monkeypatch.setenv(PREFIX + "API_KEY", " ")
    assert main([*captured, "--api-key-header", "x-key"]) == 2
    assert f"{PREFIX}API_KEY is set but empty" in capsys.readouterr().err


def test_a_repeated_option_is_a_list_taken_as_it_is(captured: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    body, headers = make_delivery(sample_events(1), hmac_secret=" spaced ", auth=BearerToken("t2"))
    Path(captured[2]).write_bytes(body)
    argv = [*captured[:3], *(f"-H{k}: {v}" for k, v in headers.items())]
    assert main([*argv, "--hmac-secret", "other", "--hmac-secret", " spaced ", "--bearer-token", "t1",
                 "--bearer-token", "t2"]) == 0  # fmt: skip
    assert "accepted" in capsys.readouterr().out
