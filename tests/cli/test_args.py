"""Every bad argument is one line on stderr and exit 2, never a traceback.

The defects a new user hit are run as a user runs them (a subprocess); a Hypothesis
property then throws arbitrary values at every option of ``send``, ``sign``, ``verify``
and ``serve`` through ``main()`` (in-process: fast), requiring an exit status of the
documented set and nothing but our one-line messages.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook.cli import main
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.cli import CLI, run_cli
from tests.support.properties import examples
from tests.support.secrets import HMAC_SECRET
from tests.support.servers import free_port, get_json, serve

CLOSED = free_port()  # nothing listens there: a send fails fast, never leaves the machine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "http://127.0.0.1:9/x", "--timeout", "-1"], "argument --timeout: must be a number of seconds"),
        (["send", "http://127.0.0.1:9/x", "--timeout", "nan"], "argument --timeout"),
        (["serve", "--port", "70000", "--hmac-secret", HMAC_SECRET], "argument --port: must be a port number"),
        (["serve", "--port", "²", "--hmac-secret", HMAC_SECRET], "argument --port"),
        (["demo", "--port", "-1"], "argument --port"),
        (["send", "http://[::1"], "URL is not valid"),
        (["send", "http://a..b/x"], "host name is not valid"),
        (["send", "http://127.0.0.1:9/a b"], "must not contain spaces"),
        (["send", "ftp://x/y"], "URL must be an http:// or https:// address"),
        (["send", "http://127.0.0.1:9/x", "--count", "10001"], "argument --count"),
        (["send", "http://127.0.0.1:9/x", "--count", "1" * 5000], "argument --count"),
        (["serve", "--host", "bad host", "--hmac-secret", HMAC_SECRET], "argument --host"),
        (["serve", "--request-timeout", "0", "--hmac-secret", HMAC_SECRET], "argument --request-timeout"),
        (["serve", "--max-connections", "0", "--hmac-secret", HMAC_SECRET], "argument --max-connections"),
        (["serve", "--page-token", "short", "--hmac-secret", HMAC_SECRET], "at least 16 characters"),
        (["serve", "--allowed-host", "a:80", "--hmac-secret", HMAC_SECRET], "allowed host"),
        (["verify", "--body", "x", "--max-body-bytes", "²"], "argument --max-body-bytes"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("descope-audit-hook")
    assert message in result.stderr
    assert result.stdout == ""  # refused before anything is printed (send used to print "POST ftp://...")
    assert list(tmp_path.iterdir()) == []  # and before anything is created


def test_an_argument_that_is_not_utf8_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run([*CLI, "send", b"http://127.0.0.1:9/\xff"], capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == b"descope-audit-hook: error: argument 2 is not valid UTF-8 text\n"


def test_non_ascii_credentials_and_headers_travel_as_utf8(tmp_path: Path) -> None:
    # Go's net/http (Descope's connector) sends a header value's bytes as they are: UTF-8.
    # `send --bearer-token '€uro'` used to die on http.client's latin-1; the receiver accepts it.
    argv = [*CLI, "serve", "--port", "{port}", "--db", str(tmp_path / "e.db"), "--hmac-secret", HMAC_SECRET]
    argv += ["--bearer-token", "€uro-token", "--required-header", "x-a:€"]
    with serve(argv, {}, tmp_path, ready_path="/api/events") as server:
        url = server.url + "/descope/audit/é?x=ü"
        sent = run_cli(["send", url, "--hmac-secret", HMAC_SECRET, "--bearer-token", "€uro-token", "--header", "x-a:€"])
        assert "Traceback" not in sent.stderr
        assert sent.returncode == 1  # the path is not the webhook's: a 404 from the server, not a crash
        assert "HTTP 404" in sent.stdout
        hook = server.url + "/descope/audit"
        ok = run_cli(["send", hook, "--hmac-secret", HMAC_SECRET, "--bearer-token", "€uro-token", "--header", "x-a:€"])
        assert ok.returncode == 0, ok.stdout + ok.stderr
        wrong = run_cli(
            ["send", hook, "--hmac-secret", HMAC_SECRET, "--bearer-token", "€uro-tokeN", "--header", "x-a:€"]
        )
        assert wrong.returncode == 1
        assert get_json(server.url + "/api/events")["total"] == 10


# --- the property ----------------------------------------------------------------------------

_HOSTILE = [
    "",
    " ",
    "-1",
    "0",
    "70000",
    "1e999",
    "nan",
    "inf",
    "²",
    "١٢",
    "1_0",
    "0x10",
    "9" * 30,
    "€uro",
    "x-a:€",
    "x-a:\x01",
    ":",
    "a,b",
    "\x00",
    "\udcff",
    "http://[::1",
    "ftp://x/y",
    "http://a..b/",
    "-",
    "--",
    "/",
    "..",
]
_VALUE = st.one_of(
    st.sampled_from(_HOSTILE),
    st.text(max_size=16),
    st.text(st.characters(exclude_categories=()), max_size=6),
    st.integers(-(10**6), 10**6).map(str),
    st.floats().map(repr),
)
_URL = st.one_of(
    st.sampled_from(["http://[::1", "ftp://x/y", "http://a..b/", "http://u:p@127.0.0.1/", "http://127.0.0.1:99999/"]),
    _VALUE.map(lambda text: f"http://127.0.0.1:{CLOSED}/{text}"),
    _VALUE.filter(lambda text: ":" not in text and "." not in text),
)


def _options(names: list[str]) -> st.SearchStrategy[list[str]]:
    pair = st.tuples(st.sampled_from(names), _VALUE).map(list)
    return st.lists(pair, max_size=4).map(lambda pairs: [word for pair in pairs for word in pair])


_CONFIG = [
    "--hmac-secret",
    "--bearer-token",
    "--api-key-header",
    "--api-key",
    "--basic-user",
    "--basic-password",
    "--required-header",
    "--max-body-bytes",
    "--signed-forms",
]
_SEND = [
    "--timeout",
    "--count",
    "--seed",
    "--header",
    "--bearer-token",
    "--api-key-header",
    "--api-key",
    "--basic-user",
    "--basic-password",
    "--hmac-secret",
    "--signed-form",
    "--sample",
    "--file",
]
_SERVE = ["--host", "--port", "--path", "--page-token", "--allowed-host", "--request-timeout", "--max-connections"]


@st.composite
def _command(draw: st.DrawFn, workdir: Path) -> list[str]:
    body = str(workdir / "body.json")
    kind = draw(st.sampled_from(["send", "sign", "verify", "serve"]))
    if kind == "send":
        return ["send", draw(_URL), *draw(_options(_SEND))]
    if kind == "sign":
        return ["sign", draw(st.one_of(st.just(body), _VALUE)), *draw(_options(["--hmac-secret"]))]
    if kind == "verify":
        words = ["verify", "--body", draw(st.one_of(st.just(body), _VALUE))]
        return words + draw(_options(["-H", "--headers-file", *_CONFIG]))
    words = ["serve", "--db", draw(st.one_of(st.just(str(workdir / "serve.db")), _VALUE)), "--hmac-secret", HMAC_SECRET]
    return words + draw(_options([*_SERVE, *_CONFIG]))


@contextlib.contextmanager
def _contained() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Capture the output; undo what ``serve`` changes in the process (loggers, SIGTERM); never serve."""
    loggers = [logging.getLogger(name) for name in ("descope_audit_hook", "descope_audit_hook.receiver")]
    saved = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    handler = signal.getsignal(signal.SIGTERM)
    out, err = io.StringIO(), io.StringIO()
    try:
        with (
            mock.patch("socketserver.BaseServer.serve_forever", return_value=None),
            mock.patch("sys.stdin", io.TextIOWrapper(io.BytesIO(b'[{"action": "x"}]'))),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            yield out, err
    finally:
        signal.signal(signal.SIGTERM, handler)
        for lg, (level, handlers, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("arguments")
    (path / "body.json").write_bytes(make_delivery(sample_events(2), hmac_secret=HMAC_SECRET).body)
    return path


@settings(max_examples=examples(200))
@given(data=st.data())
def test_any_argument_values_give_a_documented_exit_and_no_traceback(workdir: Path, data: st.DataObject) -> None:
    argv = data.draw(_command(workdir))
    before = Path.cwd()
    os.chdir(workdir)  # whatever a command creates lands here
    try:
        with _contained() as (out, err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(before)
    assert code in (0, 1, 2), (argv, err.getvalue())
    lines = err.getvalue().splitlines()
    if code == 2:
        assert len(lines) == 1, (argv, lines)
    for line in lines:
        assert line.startswith("descope-audit-hook"), (argv, line)
    assert out.getvalue().count("Traceback") == 0
