"""Query strings are a stranger's text: strict parsing, a 400 ``invalid_query`` for anything bad,
never a 5xx on any route (a property over arbitrary query strings)."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import Verifier
from descope_audit_hook._time import ms_of
from descope_audit_hook.receiver import AuditReceiver, EventFilter, PageAccess, make_app
from descope_audit_hook.receiver._filter import time_text
from descope_audit_hook.testing import sample_event, sample_events
from tests.support.properties import examples
from tests.support.secrets import HMAC_SECRET, PAGE_TOKEN
from tests.support.wsgi import call, post_delivery

BEARER = {"Authorization": f"Bearer {PAGE_TOKEN}"}
LISTINGS = ["/", "/api/events", "/api/events.csv", "/api/events.jsonl"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AuditReceiver:
    return _app(tmp_path_factory)


_APPS: dict[str, AuditReceiver] = {}


def _app(factory: pytest.TempPathFactory) -> AuditReceiver:
    if "app" not in _APPS:
        app = make_app(Verifier(HMAC_SECRET), factory.mktemp("queries") / "events.db", access=PageAccess([PAGE_TOKEN]))
        hostile = sample_event("login_failed", data={"x": "=cmd|' /C calc'!A0 \u2028 \x00"}, loginIds=["=1+1"])
        assert post_delivery(app, [*sample_events(20), hostile]).code == 200
        _APPS["app"] = app
    return _APPS["app"]


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize(
    "query",
    [
        "page=%C2%B2",  # "²".isdigit() is True; int("²") raises
        "per_page=%C2%B3",
        "page=%D9%A3",  # an Arabic-Indic 3: int() takes it, a page number it is not
        "page=%EF%BC%91",  # a fullwidth 1
        "page=%2B5",
        "page=5_0",
        "page=" + "9" * 5000,  # past int()'s digit limit
        "page=0",
        "page=abc",
        "per_page=100000",
        "severity=critical",
        "from=2026-13-01",
        "from=yesterday",
        "to=2026-06-08T20:15:99",
        "from=2026-06-09&to=2026-06-08",
        "from=0001-01-01T00:00%2B14:00",  # before the year 1 in UTC
        "&".join(f"a{i}=1" for i in range(30)),
    ],
)
def test_bad_queries_are_400_invalid_query(app: AuditReceiver, path: str, query: str) -> None:
    reply = call(app, path=path, query=query, headers=BEARER)
    assert reply.code == 400
    assert reply.json()["error"] == "invalid_query"


@pytest.mark.parametrize(
    ("query", "since", "until"),
    [
        ("from=2026-06-08", 1780876800000, None),
        ("from=2026-06-08T20:15&to=2026-06-08T21:00", 1780949700000, 1780952400000),
        ("to=2026-06-08T22:15:30.5%2B02:00", None, 1780949730500),
        ("from=2026-06-08+20:15Z", 1780949700000, None),
        # As docs/cli.md writes it: the "+" of the offset arrives as a space.
        ("from=2026-06-08T22:15+02:00", 1780949700000, None),
        ("from=2026-06-08+22:15+02:00&to=2026-06-08T21:00-01:00", 1780949700000, 1780956000000),
    ],
)
def test_the_time_range_is_parsed_as_utc(query: str, since: int | None, until: int | None) -> None:
    selection = EventFilter.from_query(query)
    assert (selection.since, selection.until) == (since, until)
    assert EventFilter.from_query(selection.query()) == selection


def test_years_before_1000_keep_four_digits_in_links_times_and_the_chart(tmp_path: Path) -> None:
    app = make_app(Verifier(HMAC_SECRET), tmp_path / "events.db")
    early = ms_of(datetime(5, 3, 4, 5, 6, 7, 890_000, tzinfo=timezone.utc))
    events = [sample_event(occurred=early), sample_event("login_failed", occurred=early + 60_000)]
    assert post_delivery(app, events).code == 200
    page = call(app, path="/", query="from=0001-01-01&per_page=1").body.decode()
    assert "0005-03-04 05:07:07.890 UTC" in page  # the newest event's time
    assert re.search(r"0001-01-01 to 0005-03-[0-9]{2}", page)  # the chart's span
    older = re.search(r'id="older" href="\./\?([^"]*)"', page)
    assert older is not None
    query = html.unescape(older.group(1))
    assert "from=0001-01-01T00%3A00" in query
    reply = call(app, path="/", query=query)
    assert reply.code == 200
    assert "0005-03-04 05:06:07.890 UTC" in reply.body.decode()
    assert time_text(early) == "0005-03-04T05:06:07.890"


def test_ascii_digits_still_work(app: AuditReceiver) -> None:
    reply = call(app, path="/api/events", query="page=2&per_page=7", headers=BEARER)
    assert (reply.code, reply.json()["page"], len(reply.json()["events"])) == (200, 2, 7)


# --- any query string, any route: never a 5xx ------------------------------------------------

_NAMES = ["action", "tenant", "user", "severity", "page", "per_page", "from", "to", "csrf", "token", "x"]
_VALUES = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(exclude_categories=()), max_size=12),  # lone surrogates included
    st.binary(max_size=12).map(lambda raw: quote(raw, safe="")),  # any bytes, percent-encoded
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["2026-06-08", "2026-06-08T20:15", "9999-12-31T23:59:59.999", "0001-01-01", "1970-01-01Z"]),
)
_QUERIES = st.one_of(
    st.text(max_size=80),
    st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=6).map(
        lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
    ),
)
_ROUTES = [
    *(("GET", path) for path in LISTINGS),
    ("HEAD", "/"),
    ("GET", "/audit.css"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/descope/audit"),
    ("GET", "/nowhere"),
]


@settings(max_examples=examples(300))
@given(route=st.sampled_from(_ROUTES), query=_QUERIES, with_token=st.booleans())
def test_any_query_string_to_any_route_is_never_a_5xx(
    tmp_path_factory: pytest.TempPathFactory, route: tuple[str, str], query: str, with_token: bool
) -> None:
    method, path = route
    kwargs: dict[str, Any] = {"query": query, "headers": BEARER if with_token else {}}
    if method == "POST":
        kwargs["body"] = query.encode("utf-8", "surrogatepass")[:200]
    reply = call(_app(tmp_path_factory), method, path, **kwargs)
    assert reply.code < 500, reply.body[:300]
    reply.body  # noqa: B018 - a streamed answer is read to its end: no failure midway either
