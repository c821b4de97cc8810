"""The audit page in real headless Chromium: table, chart, filters, time range, exports, paging,
escaping, the layout at 1400 px, the login form; screenshots as artifacts in test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from descope_audit_hook.testing import sample_event
from tests.support.cli import CLI, run_cli
from tests.support.paths import REPO
from tests.support.secrets import HMAC_SECRET, PAGE_TOKEN
from tests.support.servers import Server, get_json, serve

CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACT = REPO / "test-artifacts" / "audit-page.png"
LOGIN_ARTIFACT = REPO / "test-artifacts" / "audit-page-login.png"
HEADINGS = [
    "Time",
    "Action",
    "Severity",
    "Actor",
    "User",
    "Tenants",
    "Login IDs",
    "Device",
    "Method",
    "Geo",
    "Remote address",
    "Data",
]
HOSTILE_ACTION = "<script>window.__pwned = 1</script>"
HOSTILE_DATA = '<img src=x onerror="window.__pwned = 2">'
HOSTILE_LOGIN = '"><svg onload="window.__pwned = 3">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.skipif(
        not os.path.exists(CHROMEDRIVER) and os.environ.get("CI") != "true",
        reason="Debian's chromium-driver is not installed (scripts/test installs it; in CI this test must run)",
    ),
]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("browser")
    argv = [*CLI, "serve", "--port", "{port}", "--db", str(workdir / "events.db"), "--hmac-secret", HMAC_SECRET]
    with serve(argv, {}, workdir, ready_path="/api/events") as server:
        hook = server.url + "/descope/audit"
        mixed = run_cli(["send", hook, "--hmac-secret", HMAC_SECRET, "--count", "30", "--seed", "7"])
        assert mixed.returncode == 0, mixed.stdout + mixed.stderr
        hostile = sample_event(
            "login_failed",
            action=HOSTILE_ACTION,
            occurred=1780949905843 + 10_000_000,  # the newest: first row
            tenants=["<b>acme</b>"],
            loginIds=[HOSTILE_LOGIN],
            data={"error_message": HOSTILE_DATA},
        )
        path = workdir / "hostile.json"
        path.write_text(json.dumps([hostile]))
        sent = run_cli(["send", hook, "--hmac-secret", HMAC_SECRET, "--file", str(path)])
        assert sent.returncode == 0, sent.stdout + sent.stderr
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1200",
        f"--user-data-dir={profile.name}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


def _navigate(driver: WebDriver, element: WebElement) -> None:
    """Click ``element`` and wait until the next page has replaced this one."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))


def _rows(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")


def _column(driver: WebDriver, heading: str) -> list[str]:
    index = HEADINGS.index(heading) + 1
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, f"#events tbody td:nth-child({index})")]


def _not_pwned(driver: WebDriver) -> None:
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    assert driver.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.CSS_SELECTOR, "#events img, #events svg, #events b") == []


def _listing(server: Server, query: str = "") -> dict[str, Any]:
    listing: dict[str, Any] = get_json(f"{server.url}/api/events?per_page=500&{query}")
    return listing


def test_table_shows_the_events_newest_first_and_escapes_everything(receiver: Server, browser: WebDriver) -> None:
    browser.get(receiver.url + "/")
    assert browser.title == "Descope audit events"
    headings = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#events thead th")]
    assert headings == HEADINGS
    listing = _listing(receiver)
    assert listing["total"] == 31
    rows = _rows(browser)
    assert [row.get_attribute("data-fingerprint") for row in rows] == [e["fingerprint"] for e in listing["events"]]
    assert "31 events, page 1 of 1" in browser.find_element(By.ID, "summary").text

    first = rows[0]
    cells = first.find_elements(By.TAG_NAME, "td")
    assert cells[1].text == HOSTILE_ACTION
    assert cells[5].text == "<b>acme</b>"
    assert cells[6].text == HOSTILE_LOGIN
    assert cells[0].text.endswith(" UTC")
    details = cells[11].find_element(By.TAG_NAME, "details")
    assert details.get_attribute("open") is None
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None
    assert json.loads(details.find_element(By.TAG_NAME, "pre").text) == {"error_message": HOSTILE_DATA}
    _not_pwned(browser)
    browser.execute_script("window.scrollTo(0, 0)")
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACT))
    assert ARTIFACT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filters_by_action_severity_tenant_and_user(receiver: Server, browser: WebDriver) -> None:
    browser.get(receiver.url + "/")
    Select(browser.find_element(By.ID, "f-action")).select_by_value("LoginFailed")
    _navigate(browser, browser.find_element(By.ID, "f-apply"))
    assert "action=LoginFailed" in browser.current_url
    expected = _listing(receiver, "action=LoginFailed")
    assert expected["total"] > 0
    assert _column(browser, "Action") == ["LoginFailed"] * expected["total"]

    Select(browser.find_element(By.ID, "f-action")).select_by_value("")
    Select(browser.find_element(By.ID, "f-severity")).select_by_value("warn")
    Select(browser.find_element(By.ID, "f-tenant")).select_by_value("globex")
    _navigate(browser, browser.find_element(By.ID, "f-apply"))
    expected = _listing(receiver, "severity=warn&tenant=globex")
    assert expected["total"] > 0
    assert _column(browser, "Severity") == ["warn"] * expected["total"]
    assert all("globex" in tenants.split(", ") for tenants in _column(browser, "Tenants"))

    _navigate(browser, browser.find_element(By.LINK_TEXT, "Clear"))
    user = browser.find_element(By.ID, "f-user")
    user.send_keys("bob@example.com")
    _navigate(browser, browser.find_element(By.ID, "f-apply"))
    expected = _listing(receiver, "user=bob%40example.com")
    assert expected["total"] > 0
    assert len(_rows(browser)) == expected["total"]
    assert all("bob@example.com" in ids for ids in _column(browser, "Login IDs"))
    assert browser.find_element(By.ID, "f-user").get_attribute("value") == "bob@example.com"

    browser.get(receiver.url + "/?action=NoSuchAction")
    assert browser.find_element(By.ID, "no-events").text == "No events match."


def test_paging_and_a_hostile_filter_value(receiver: Server, browser: WebDriver) -> None:
    browser.get(receiver.url + "/?per_page=10")
    assert len(_rows(browser)) == 10
    assert browser.find_elements(By.ID, "newer") == []
    _navigate(browser, browser.find_element(By.ID, "older"))
    assert "page 2 of 4" in browser.find_element(By.ID, "summary").text
    _navigate(browser, browser.find_element(By.ID, "older"))
    _navigate(browser, browser.find_element(By.ID, "older"))
    assert len(_rows(browser)) == 1
    assert browser.find_elements(By.ID, "older") == []
    _navigate(browser, browser.find_element(By.ID, "newer"))
    assert "page 3 of 4" in browser.find_element(By.ID, "summary").text
    Select(browser.find_element(By.ID, "f-severity")).select_by_value("info")
    _navigate(browser, browser.find_element(By.ID, "f-apply"))
    info = _listing(receiver, "severity=info")["total"]
    assert len(_rows(browser)) == min(10, info)  # the page size survives filtering
    assert f"page 1 of {-(-info // 10)}" in browser.find_element(By.ID, "summary").text

    hostile = '"><script>window.__pwned = 4</script>'
    browser.get(f"{receiver.url}/?user={quote(hostile)}")
    assert browser.find_element(By.ID, "f-user").get_attribute("value") == hostile
    _not_pwned(browser)


def _drawn(driver: WebDriver) -> tuple[Counter[tuple[int, str]], int, int]:
    """The chart's bars as drawn: ``((slot start, severity) -> count, origin, slot width)``."""
    svg = driver.find_element(By.ID, "chart-svg")
    drawn: Counter[tuple[int, str]] = Counter()
    for group in svg.find_elements(By.CSS_SELECTOR, "g.slot"):
        start = int(group.get_attribute("data-start") or "")
        for rect in group.find_elements(By.CSS_SELECTOR, "rect.bar"):
            assert rect.size["height"] > 0, "a bar that is not drawn"
            drawn[(start, rect.get_attribute("data-severity") or "")] += int(rect.get_attribute("data-count") or "")
    return drawn, int(svg.get_attribute("data-origin") or ""), int(svg.get_attribute("data-width") or "")


def _stored(server: Server, query: str, origin: int, width: int) -> Counter[tuple[int, str]]:
    events = _listing(server, query)["events"]
    return Counter((origin + (e["occurred"] - origin) // width * width, e["type"] or "none") for e in events)


def test_the_chart_shows_the_counts_in_the_store(receiver: Server, browser: WebDriver) -> None:
    browser.get(receiver.url + "/")
    drawn, origin, width = _drawn(browser)
    assert width == 3_600_000  # the events span a few hours: one bar per hour
    assert drawn == _stored(receiver, "", origin, width)
    assert sum(drawn.values()) == 31
    assert len({start for start, _ in drawn}) >= 2
    tooltip = browser.find_element(By.CSS_SELECTOR, "#chart-svg g.slot title").get_attribute("textContent") or ""
    assert "UTC, per hour:" in tooltip
    _not_pwned(browser)

    Select(browser.find_element(By.ID, "f-severity")).select_by_value("warn")
    _navigate(browser, browser.find_element(By.ID, "f-apply"))
    drawn, origin, width = _drawn(browser)
    assert {severity for _, severity in drawn} == {"warn"}
    assert drawn == _stored(receiver, "severity=warn", origin, width)


def test_the_time_range_filters_table_chart_and_exports(receiver: Server, browser: WebDriver) -> None:
    browser.get(receiver.url + "/")
    # The browser's own date-time widgets differ by locale; the value is what the form sends.
    for field, value in (("f-from", "2026-06-08T20:18:40"), ("f-to", "2026-06-08T20:18:55")):
        browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, field), value)
    _navigate(browser, browser.find_element(By.ID, "f-apply"))
    assert "from=2026-06-08T20%3A18%3A40" in browser.current_url
    query = "from=2026-06-08T20:18:40&to=2026-06-08T20:18:55"
    expected = _listing(receiver, query)
    assert 0 < expected["total"] < 31
    assert [row.get_attribute("data-fingerprint") for row in _rows(browser)] == [
        e["fingerprint"] for e in expected["events"]
    ]
    assert browser.find_element(By.ID, "f-from").get_attribute("value") == "2026-06-08T20:18:40"
    drawn, origin, width = _drawn(browser)
    assert drawn == _stored(receiver, query, origin, width)

    link = browser.find_element(By.ID, "export-csv").get_attribute("href") or ""
    assert urlsplit(link).path == "/api/events.csv"
    with urllib.request.urlopen(link, timeout=10) as response:
        rows = list(csv.DictReader(io.StringIO(response.read().decode())))
    assert [row["fingerprint"] for row in rows] == [e["fingerprint"] for e in expected["events"]]
    link = browser.find_element(By.ID, "export-jsonl").get_attribute("href") or ""
    with urllib.request.urlopen(link, timeout=10) as response:
        lines = response.read().decode().splitlines()
    assert [json.loads(line) for line in lines] == expected["events"]


def test_at_1400_px_the_data_column_is_on_screen(receiver: Server, browser: WebDriver) -> None:
    browser.set_window_size(1400, 1000)
    try:
        browser.get(receiver.url + "/")
        assert 1300 < browser.execute_script("return window.innerWidth") <= 1400
        details = browser.find_element(By.CSS_SELECTOR, "#events td.data details")
        details.find_element(By.TAG_NAME, "summary").click()  # fails if the cell is off-screen
        visible = browser.execute_script("return document.documentElement.clientWidth")
        for element in (details.find_element(By.TAG_NAME, "pre"), browser.find_element(By.ID, "events")):
            box = element.rect
            assert box["x"] + box["width"] <= visible, f"clipped: {box} in {visible} px"
    finally:
        browser.set_window_size(1600, 1200)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A receiver with an access token for its page."""
    workdir = tmp_path_factory.mktemp("guarded")
    argv = [*CLI, "serve", "--port", "{port}", "--db", str(workdir / "events.db"), "--hmac-secret", HMAC_SECRET]
    with serve(argv, {"DESCOPE_AUDIT_PAGE_TOKEN": PAGE_TOKEN}, workdir, ready_path="/audit.css") as server:
        sent = run_cli(["send", server.url + "/descope/audit", "--hmac-secret", HMAC_SECRET, "--count", "5"])
        assert sent.returncode == 0, sent.stdout + sent.stderr
        yield server


def test_login_form_cookie_and_logout(guarded: Server, browser: WebDriver) -> None:
    browser.delete_all_cookies()
    browser.get(guarded.url + "/")
    assert urlsplit(browser.current_url).path == "/login"
    browser.find_element(By.ID, "token").send_keys("not-the-page-token-at-all")
    _navigate(browser, browser.find_element(By.ID, "login"))
    assert "not valid" in browser.find_element(By.ID, "login-error").text

    browser.find_element(By.ID, "token").send_keys(PAGE_TOKEN)
    _navigate(browser, browser.find_element(By.ID, "login"))
    assert urlsplit(browser.current_url).path == "/"
    assert len(_rows(browser)) == 5
    cookie = browser.get_cookie("descope_audit_session")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert PAGE_TOKEN not in cookie["value"]
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: no script can read it
    LOGIN_ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(LOGIN_ARTIFACT))

    _navigate(browser, browser.find_element(By.ID, "logout"))
    assert urlsplit(browser.current_url).path == "/login"
    browser.get(guarded.url + "/")
    assert urlsplit(browser.current_url).path == "/login"
    # The old cookie, replayed by hand, opens nothing either: the session ended on the server.
    request = urllib.request.Request(
        guarded.url + "/api/events", headers={"Cookie": f"descope_audit_session={cookie['value']}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
