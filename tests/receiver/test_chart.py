"""The audit page's chart: per hour (or per day, ...) by severity, for the current filter, as inline SVG."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from descope_audit_hook import Verifier
from descope_audit_hook.receiver import AuditReceiver, make_app
from descope_audit_hook.testing import sample_event
from tests.support.secrets import HMAC_SECRET
from tests.support.wsgi import call, post_delivery

HOUR = 3_600_000
START = 1_780_948_800_000  # 2026-06-08T20:00:00Z
SVG = "{http://www.w3.org/2000/svg}"


def store(app: AuditReceiver, events: list[dict[str, Any]]) -> None:
    assert post_delivery(app, events).code == 200


@pytest.fixture
def app(tmp_path: Path) -> AuditReceiver:
    app = make_app(Verifier(HMAC_SECRET, max_body_bytes=10_000_000), tmp_path / "events.db")
    events = []
    kinds = ["login_succeed", "login_failed", "user_modified", "login_exceed_max_attempts"]
    for index in range(60):  # spread over ~10 hours, several severities, one without a type
        event = sample_event(kinds[index % 4], occurred=START + index * 617_000, remoteAddress=f"192.0.2.{index}")
        if index == 7:
            event.pop("type")
        events.append(event)
    store(app, events)
    return app


def chart_of(app: AuditReceiver, query: str = "") -> ElementTree.Element:
    page = call(app, path="/", query=query).body.decode()
    match = re.search(r'<svg id="chart-svg".*?</svg>', page, re.DOTALL)
    assert match is not None, "no chart on the page"
    return ElementTree.fromstring(match.group(0))  # noqa: S314 - our own page, escaped


def bars(svg: ElementTree.Element) -> Counter[tuple[int, str]]:
    """``(slot start in ms, severity) -> count`` as drawn."""
    drawn: Counter[tuple[int, str]] = Counter()
    for group in svg.iter(f"{SVG}g"):
        start = int(group.attrib["data-start"])
        total = 0
        for rect in group.iter(f"{SVG}rect"):
            count = int(rect.attrib["data-count"])
            drawn[(start, rect.attrib["data-severity"])] += count
            total += count
            assert float(rect.attrib["height"]) > 0
        assert total == int(group.attrib["data-total"])
    return drawn


def expected(app: AuditReceiver, query: str, svg: ElementTree.Element) -> Counter[tuple[int, str]]:
    """What the store holds for the filter, counted per slot of the chart's width from its origin."""
    origin, width = int(svg.attrib["data-origin"]), int(svg.attrib["data-width"])
    events = call(app, path="/api/events", query=f"per_page=500&{query}").json()["events"]
    return Counter((origin + (e["occurred"] - origin) // width * width, e["type"] or "none") for e in events)


@pytest.mark.parametrize(
    "query", ["", "action=LoginFailed", "severity=warn", "from=2026-06-08T22:00&to=2026-06-09T01:30"]
)
def test_the_bars_are_the_counts_of_the_filter_per_hour(app: AuditReceiver, query: str) -> None:
    svg = chart_of(app, query)
    assert svg.attrib["aria-label"] == "events per hour by severity"
    assert int(svg.attrib["data-width"]) == HOUR
    assert int(svg.attrib["data-origin"]) % HOUR == 0  # whole hours, UTC
    assert bars(svg) == expected(app, query, svg)


def test_a_long_range_is_drawn_per_day(app: AuditReceiver) -> None:
    store(app, [sample_event("user_created", occurred=START - 20 * 24 * HOUR)])
    svg = chart_of(app)
    assert svg.attrib["aria-label"] == "events per day by severity"
    assert int(svg.attrib["data-origin"]) % (24 * HOUR) == 0  # whole days, UTC
    assert bars(svg) == expected(app, "", svg)


def test_a_very_long_range_gets_wider_slots_not_more_bars(app: AuditReceiver) -> None:
    store(app, [sample_event("user_created", occurred=START - 3 * 365 * 24 * HOUR)])
    svg = chart_of(app)
    days = int(svg.attrib["data-width"]) // (24 * HOUR)
    assert svg.attrib["aria-label"] == f"events per {days} days by severity"
    assert int(svg.attrib["data-slots"]) <= 96
    assert sum(bars(svg).values()) == 61
    assert bars(svg) == expected(app, "", svg)


def test_no_chart_without_events_and_no_script_in_it(app: AuditReceiver) -> None:
    assert "<svg" not in call(app, path="/", query="action=Nothing").body.decode()
    svg = chart_of(app)
    markup = ElementTree.tostring(svg, encoding="unicode")
    assert "script" not in markup
    assert "style=" not in markup  # the page's policy allows no inline style: colours are classes
    assert "on" not in {name[:2] for element in svg.iter() for name in element.attrib}


def test_the_chart_survives_the_edges_of_time(tmp_path: Path) -> None:
    app = make_app(Verifier(HMAC_SECRET), tmp_path / "events.db")
    store(app, [sample_event(occurred=253_402_300_799_999), sample_event("login_failed", occurred=0)])
    assert call(app, path="/").code == 200
    assert call(app, path="/", query="from=9999-12-31T23:00").code == 200
