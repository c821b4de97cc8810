"""The audit page and its login form: server-rendered HTML, every value escaped, no script."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from descope_audit_hook._events import LISTED, EventField
from descope_audit_hook._field_kinds import Mapped, Texts, Time, Word
from descope_audit_hook._time import utc_text

from ._chart import Chart, render_chart
from ._filter import PER_PAGE, SEVERITIES, EventFilter, time_text

__all__ = ["CSS", "HEADINGS", "render_login", "render_page"]

CSS = b"""
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #fff; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin-bottom: 1rem; }
form.filters label, form.login label { display: flex; flex-direction: column; font-size: .8rem; color: #57606a; }
form.filters input, form.filters select { font: inherit; padding: .25rem .4rem; min-width: 10rem; }
form.login { display: flex; flex-direction: column; gap: .75rem; max-width: 22rem; }
form.login input { font: inherit; padding: .3rem .4rem; }
p.error { color: #cf222e; }
figure#chart { margin: 0 0 1rem; max-width: 960px; }
figure#chart figcaption { font-size: .8rem; color: #57606a; margin-bottom: .25rem; }
figure#chart svg { width: 100%; height: auto; display: block; }
svg .grid { stroke: #d0d7de; stroke-width: 1; }
svg .axis { font-size: 11px; fill: #57606a; }
.bar.sev-info, .swatch.sev-info { fill: #54aeff; background: #54aeff; }
.bar.sev-warn, .swatch.sev-warn { fill: #d4a72c; background: #d4a72c; }
.bar.sev-error, .swatch.sev-error { fill: #cf222e; background: #cf222e; }
.bar.sev-none, .swatch.sev-none { fill: #8c959f; background: #8c959f; }
ul.legend { display: flex; gap: 1rem; list-style: none; padding: 0; margin: .25rem 0 0; font-size: .8rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -1px; }
p.exports { margin: 0 0 1rem; font-size: .85rem; }
div.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: .8rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .35rem .45rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.time { font-variant-numeric: tabular-nums; min-width: 6.5rem; }
td.short { white-space: nowrap; }
td.list { overflow-wrap: anywhere; min-width: 6rem; }
.sev-warn { color: #9a6700; font-weight: 600; }
.sev-error { color: #cf222e; font-weight: 600; }
td.id { font-family: ui-monospace, monospace; font-size: .75rem; word-break: break-all; min-width: 6rem; }
td.data { min-width: 12rem; max-width: 26rem; }
summary { cursor: pointer; color: #0969da; }
pre { margin: .25rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .78rem; }
nav.paging { margin-top: 1rem; display: flex; gap: 1rem; align-items: center; }
p.empty { color: #57606a; }
"""

#: The page's columns: the fields with a heading in the table of fields, in listing order.
_COLUMNS = tuple(row for row in LISTED if row.heading)
HEADINGS = tuple(str(row.heading) for row in _COLUMNS)
# The CSS class of a text field's cells (see CSS); any other is a short one.
_TEXT_CLASS = {"action": "action", "actor_id": "id", "user_id": "id", "remote_address": "list"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="stylesheet" href="./audit.css"></head>'
        f"<body>{body}</body></html>"
    )


def _time_text(ms: int) -> str:
    return utc_text(ms, sep=" ") + " UTC"


def _options(values: Iterable[str], selected: str, blank: str) -> str:
    choices = list(dict.fromkeys(values))
    if selected and selected not in choices:
        choices.insert(0, selected)
    parts = [f'<option value="">{_e(blank)}</option>']
    for value in choices:
        mark = " selected" if value == selected else ""
        parts.append(f'<option value="{_e(value)}"{mark}>{_e(value)}</option>')
    return "".join(parts)


def _cell(row: EventField, value: Any) -> str:
    """One cell of an event's row, by the kind of its field."""
    kind = row.kind
    if isinstance(kind, Time):
        return f'<td class="time">{_e(_time_text(value))}</td>'
    if isinstance(kind, Word):
        word = value or ""
        return f'<td class="sev-{_e(word)}">{_e(word)}</td>'
    if isinstance(kind, Texts):
        return f'<td class="list">{_e(", ".join(value))}</td>'
    if isinstance(kind, Mapped):
        if not value:
            return '<td class="data"></td>'
        summary = f"{len(value)} field{'s' if len(value) != 1 else ''}"
        pretty = json.dumps(value, indent=2, ensure_ascii=False)
        return f'<td class="data"><details><summary>{_e(summary)}</summary><pre>{_e(pretty)}</pre></details></td>'
    return f'<td class="{_TEXT_CLASS.get(row.name, "short")}">{_e(value)}</td>'


def _row_html(event: Mapping[str, Any]) -> str:
    cells = "".join(_cell(row, event[row.key or row.name]) for row in _COLUMNS)
    return f'<tr data-fingerprint="{_e(event["fingerprint"])}">{cells}</tr>'


def _filters(selection: EventFilter, actions: list[str], tenants: list[str]) -> str:
    keep_size = (
        f'<input type="hidden" name="per_page" value="{selection.per_page}">' if selection.per_page != PER_PAGE else ""
    )
    return (
        '<form class="filters" method="get" action="./">'
        f'<label>Action<select name="action" id="f-action">{_options(actions, selection.action, "any")}'
        "</select></label>"
        f'<label>Tenant<select name="tenant" id="f-tenant">{_options(tenants, selection.tenant, "any")}'
        "</select></label>"
        f'<label>User (ID or login ID)<input type="text" name="user" id="f-user" value="{_e(selection.user)}"></label>'
        f'<label>Severity<select name="severity" id="f-severity">'
        f"{_options(SEVERITIES, selection.severity, 'any')}</select></label>"
        f'<label>From (UTC)<input type="datetime-local" step="1" name="from" id="f-from" '
        f'value="{_e(time_text(selection.since))}"></label>'
        f'<label>To (UTC, excluded)<input type="datetime-local" step="1" name="to" id="f-to" '
        f'value="{_e(time_text(selection.until))}"></label>'
        f'{keep_size}<button type="submit" id="f-apply">Filter</button> <a href="./">Clear</a>'
        "</form>"
    )


def render_page(
    selection: EventFilter,
    total: int,
    events: list[dict[str, Any]],
    actions: list[str],
    tenants: list[str],
    chart: Chart | None,
    logout_token: str | None = None,
) -> str:
    """The audit page; ``logout_token`` adds the logout button of a login session."""
    pages = max(1, -(-total // selection.per_page))
    logout = (
        '<form method="post" action="./logout" class="logout">'
        f'<input type="hidden" name="csrf" value="{_e(logout_token)}">'
        '<button type="submit" id="logout">Log out</button></form>'
        if logout_token
        else ""
    )
    if events:
        head = "".join(f"<th>{_e(h)}</th>" for h in HEADINGS)
        rows = "".join(_row_html(event) for event in events)
        table = (
            f'<div class="table-wrap"><table id="events"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )
    else:
        table = '<p class="empty" id="no-events">No events match.</p>'
    query = selection.export_query()
    suffix = f"?{_e(query)}" if query else ""
    exports = (
        '<p class="exports">Export this filter: '
        f'<a id="export-csv" href="./api/events.csv{suffix}">CSV</a> · '
        f'<a id="export-jsonl" href="./api/events.jsonl{suffix}">JSON Lines</a></p>'
    )
    links = []
    if selection.page > 1:
        links.append(f'<a rel="prev" id="newer" href="./?{_e(selection.query(page=selection.page - 1))}">Newer</a>')
    if selection.page < pages:
        links.append(f'<a rel="next" id="older" href="./?{_e(selection.query(page=selection.page + 1))}">Older</a>')
    paging = (
        f'<nav class="paging"><span id="summary">{total} event{"s" if total != 1 else ""}, '
        f"page {selection.page} of {pages}</span>{' '.join(links)}</nav>"
    )
    body = (
        f"<header><h1>Descope audit events</h1>{logout}</header>"
        f"{_filters(selection, actions, tenants)}{render_chart(chart) if chart else ''}{exports}{table}{paging}"
    )
    return _document("Descope audit events", body)


def render_login(csrf: str, failed: bool = False) -> str:
    """The login form: the access token, and the double-submit CSRF value of its cookie."""
    error = '<p class="error" id="login-error">That access token is not valid.</p>' if failed else ""
    body = (
        "<h1>Descope audit events</h1>"
        f"{error}"
        '<form class="login" method="post" action="./login">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<label>Access token<input type="password" name="token" id="token" autocomplete="current-password" '
        "required autofocus></label>"
        '<button type="submit" id="login">Log in</button></form>'
    )
    return _document("Log in: Descope audit events", body)
