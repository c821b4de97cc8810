"""The audit page's chart: events per hour (or per day, ...) stacked by severity, as inline SVG.

Drawn on the server, so the page keeps its policy of no script at all; colours come from
the page's own stylesheet (classes, no ``style`` attributes, which the policy forbids).
Every bar carries its counts as ``data-*`` attributes and a ``<title>`` tooltip.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from descope_audit_hook._time import utc_text

from ._filter import LAST_MS, SEVERITIES, EventFilter
from ._store import EventStore

__all__ = ["MAX_BARS", "Chart", "build_chart", "render_chart"]

MAX_BARS = 96
HOUR = 3_600_000
DAY = 24 * HOUR
#: Stacking order, bottom to top; "" is an event without a severity.
STACK = (*SEVERITIES, "")

_WIDTH, _HEIGHT = 960, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 10, 36


@dataclass(frozen=True)
class Chart:
    """Counts per slot: slot ``i`` covers ``[start + i * width, start + (i + 1) * width)`` (epoch ms)."""

    start: int
    width: int
    slots: int
    counts: dict[int, dict[str, int]]

    @property
    def unit(self) -> str:
        if self.width == HOUR:
            return "hour"
        if self.width == DAY:
            return "day"
        return f"{self.width // DAY} days"

    def total(self, slot: int) -> int:
        return sum(self.counts.get(slot, {}).values())


def _plan(low: int, high: int) -> tuple[int, int, int]:
    """``(start, width, slots)`` covering ``[low, high)``: hours if they fit, else days, else n-day slots."""
    for width in (HOUR, DAY):
        start = low - low % width
        slots = -(-(high - start) // width)
        if slots <= MAX_BARS:
            return start, width, max(slots, 1)
    days = -(-(high - (low - low % DAY)) // (DAY * MAX_BARS))
    width = days * DAY
    start = low - low % DAY
    return start, width, max(-(-(high - start) // width), 1)


def build_chart(store: EventStore, selection: EventFilter) -> Chart | None:
    """The chart of every event the filter selects (all pages); ``None`` when there are none."""
    span = store.span(selection)
    if span is None:
        return None
    low = selection.since if selection.since is not None else span[0]
    high = selection.until if selection.until is not None else span[1] + 1
    start, width, slots = _plan(low, high)
    counts: dict[int, dict[str, int]] = {}
    for slot, severity, count in store.counts(selection, start, width):
        if 0 <= slot < slots:
            key = severity if severity in SEVERITIES else ""
            bucket = counts.setdefault(slot, {})
            bucket[key] = bucket.get(key, 0) + count
    return Chart(start, width, slots, counts)


def _label(ms: int, width: int) -> str:
    # The last slot may end past the year 9999.
    return utc_text(min(ms, LAST_MS), "minutes" if width < DAY else "date", sep=" ")


def render_chart(chart: Chart) -> str:
    """The chart as an inline ``<svg>`` inside a ``<figure>`` with its caption and legend."""
    peak = max((chart.total(slot) for slot in range(chart.slots)), default=0) or 1
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    step = plot_w / chart.slots
    bar_w = min(max(step * 0.8, 1.0), 48.0)
    parts = [
        f'<svg id="chart-svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'data-origin="{chart.start}" data-width="{chart.width}" data-slots="{chart.slots}" '
        f'aria-label="events per {html.escape(chart.unit)} by severity" xmlns="http://www.w3.org/2000/svg">'
    ]
    for value in (0, peak // 2, peak) if peak > 1 else (0, peak):
        y = _TOP + plot_h - plot_h * value / peak
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    for slot in range(chart.slots):
        total = chart.total(slot)
        if not total:
            continue
        begins = chart.start + slot * chart.width
        x = _LEFT + slot * step + (step - bar_w) / 2
        title = f"{_label(begins, chart.width)} UTC, per {chart.unit}: " + ", ".join(
            f"{chart.counts[slot][key]} {key or 'no severity'}" for key in STACK if chart.counts[slot].get(key)
        )
        parts.append(
            f'<g class="slot" data-slot="{slot}" data-start="{begins}" data-total="{total}">'
            f"<title>{html.escape(title)}</title>"
        )
        base: float = _TOP + plot_h
        for key in STACK:
            count = chart.counts[slot].get(key, 0)
            if not count:
                continue
            height = plot_h * count / peak
            base -= height
            parts.append(
                f'<rect class="bar sev-{key or "none"}" data-severity="{key or "none"}" data-count="{count}" '
                f'x="{x:.2f}" y="{base:.2f}" width="{bar_w:.2f}" height="{height:.2f}"/>'
            )
        parts.append("</g>")
    ticks = min(chart.slots, 6)
    for tick in range(ticks):
        slot = round(tick * (chart.slots - 1) / max(ticks - 1, 1))
        x = _LEFT + slot * step + step / 2
        label = html.escape(_label(chart.start + slot * chart.width, chart.width))
        parts.append(f'<text class="axis" x="{x:.1f}" y="{_HEIGHT - 14}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch sev-{key or "none"}"></span>{key or "no severity"}</li>' for key in STACK
    )
    caption = (
        f"Events per {html.escape(chart.unit)} (UTC), stacked by severity, from "
        f"{_label(chart.start, chart.width)} to {_label(chart.start + chart.slots * chart.width, chart.width)}"
    )
    return (
        f'<figure id="chart"><figcaption>{caption}</figcaption>{"".join(parts)}'
        f'<ul class="legend">{legend}</ul></figure>'
    )
