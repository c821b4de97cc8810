"""The audit page in real headless Chromium: table, filters, paging, escaping; a screenshot as artifact."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from descope_audit_hook.testing import sample_event
from tests.e2e.servers import Server, serve

from ._support import CLI, REPO, get_json, run_cli

CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "browser-hmac-secret"
ARTIFACT = REPO / "test-artifacts" / "audit-page.png"
HEADINGS = [
    "Time",
    "Action",
    "Severity",
    "Actor",
    "User",
    "Tenants",
    "Login IDs",
    "Method",
    "Device",
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
    argv = [*CLI, "serve", "--port", "{port}", "--db", str(workdir / "events.db"), "--hmac-secret", SECRET]
    with serve(argv, {}, workdir, ready_path="/api/events") as server:
        hook = server.url + "/descope/audit"
        mixed = run_cli(["send", hook, "--hmac-secret", SECRET, "--count", "30", "--seed", "7"])
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
        sent = run_cli(["send", hook, "--hmac-secret", SECRET, "--file", str(path)])
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
