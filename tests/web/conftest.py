"""Fixtures for the web page tests: a real ``facekeep serve`` process on a temporary data
directory, Debian's Chromium driven by Playwright (never a downloaded browser), and a
helper that saves screenshots of each page in both languages at desktop and phone width
to ``test-artifacts/screenshots/``.

Helpers are handed out as fixtures (not imported from this module) so the tests work under
any pytest import mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import launch_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FACEKEEP = Path(sys.executable).parent / "facekeep"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VENUE = "hanoi-1"
VENUE_NAME = "Karaoke Hà Nội 1"
METRICS_TOKEN = "web-tests-metrics-token"
STAFF = "lan"
STAFF_NAME = "Nguyễn Thị Lan"
STAFF_PIN = "493817"


@dataclass
class Server:
    """A running ``facekeep serve`` and the keys made for it: the operator's keys (used
    only by the tests' own API calls, as from an operator's machine) and a staff account
    with its PIN for the counter page."""

    url: str
    data_dir: Path
    admin: str
    auditor: str
    kiosk: str
    venue: str = VENUE
    log: Path = field(default=Path())
    staff: str = STAFF
    pin: str = STAFF_PIN

    def new_staff(self, staff_id: str, pin: str = STAFF_PIN, name: str = STAFF_NAME) -> str:
        """Make another staff account at the venue (as tests/api/test_staff.py does);
        tests that type wrong PINs use their own, so no lock reaches another test."""
        response = httpx.post(
            f"{self.url}/v1/staff",
            json={"id": staff_id, "name": name, "venues": [self.venue], "pin": pin},
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        assert response.status_code == 201, response.text
        return staff_id

    def staff_me(self, token: str) -> int:
        """The status a staff session token gets from ``GET /v1/staff/me`` (200 or 401)."""
        response = httpx.get(
            f"{self.url}/v1/staff/me", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code

    def match(self, image: bytes) -> dict[str, Any]:
        """The kiosk's JSON API: match a photo at the venue for check-in."""
        response = httpx.post(
            f"{self.url}/v1/match",
            headers={"Authorization": f"Bearer {self.kiosk}"},
            files={"image": ("probe.jpg", image, "image/jpeg")},
            data={"purpose": "checkin"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def metric(self, name: str) -> float:
        """One value of the server's Prometheus metrics (0 when not counted yet)."""
        response = httpx.get(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert response.status_code == 200, response.text
        for line in response.text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def audit_size(self) -> int:
        """How many events the audit log holds (read as the auditor)."""
        count, after = 0, -1
        while True:
            response = httpx.get(
                f"{self.url}/v1/audit/events",
                params={"after": after, "limit": 100},
                headers={"Authorization": f"Bearer {self.auditor}"},
            )
            assert response.status_code == 200, response.text
            page = response.json()
            if not page["events"]:
                return count
            count += len(page["events"])
            after = page["next_after"]

    def enrol(self, image: bytes, lang: str = "vi") -> dict[str, Any]:
        """Enrol a guest over the JSON API (as staff would without the page)."""
        response = httpx.post(
            f"{self.url}/v1/enrolments",
            headers={"Authorization": f"Bearer {self.admin}"},
            data={
                "purposes": "checkin",
                "venues": self.venue,
                "notice_version": "v2",
                "lang": lang,
            },
            files={"image": ("guest.jpg", image, "image/jpeg")},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        out: dict[str, Any] = response.json()
        return out


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env["FACEKEEP_DATA_DIR"] = str(data_dir)
    env["FACEKEEP_LOG_LEVEL"] = "WARNING"
    env["FACEKEEP_RETENTION_INTERVAL_SECONDS"] = "0"
    env["FACEKEEP_METRICS_TOKEN"] = METRICS_TOKEN
    return env


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(FACEKEEP), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    out: dict[str, Any] = json.loads(done.stdout)
    return out


@contextmanager
def serving(base: Path, **settings: str) -> Iterator[Server]:
    """``facekeep serve`` on a free port, with an admin, an auditor, a venue, a kiosk and a
    staff account; ``settings`` are extra ``FACEKEEP_*`` variables (``staff_idle_minutes=
    "0.1"`` sets ``FACEKEEP_STAFF_IDLE_MINUTES``)."""
    data_dir = base / "data"
    env = _clean_env(data_dir)
    env.update({f"FACEKEEP_{k.upper()}": v for k, v in settings.items()})
    _cli(env, "init", "--data-dir", str(data_dir))
    admin = _cli(env, "keys", "create-admin", "--data-dir", str(data_dir))["key"]
    auditor = _cli(env, "keys", "create-auditor", "--data-dir", str(data_dir))["key"]
    log = base / "server.log"
    with launch_server(data_dir, env=env, log=log, ready="/healthz") as launched:
        url = launched.url
        auth = {"Authorization": f"Bearer {admin}"}
        r = httpx.post(f"{url}/v1/venues", json={"id": VENUE, "name": VENUE_NAME}, headers=auth)
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{url}/v1/kiosks",
            json={"venue": VENUE, "purposes": ["checkin", "marketing"], "label": "front desk"},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        running = Server(url, data_dir, admin, auditor, r.json()["key"], log=log)
        running.new_staff(STAFF)
        yield running


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The web tests' shared server. Its per-address budget of failed credentials is
    larger than the default: many tests type wrong PINs, keys and codes on purpose, all
    from 127.0.0.1, and the default (10, tested in tests/api) would refuse a later test's
    right PIN depending on the order and speed of the run. The account lock keeps its
    default and is tested on the short-idle server."""
    with serving(tmp_path_factory.mktemp("web"), code_failure_burst="100") as running:
        yield running


# A staff session ends after this much idle time on the short-idle server.
SHORT_IDLE_SECONDS = 6.0


@pytest.fixture(scope="session")
def short_idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server whose staff sessions end after ``SHORT_IDLE_SECONDS`` unused, so the
    page's handling of an expired session is tested without a long wait."""
    idle = f"{SHORT_IDLE_SECONDS / 60:.6f}"
    with serving(tmp_path_factory.mktemp("web-idle"), staff_idle_minutes=idle) as running:
        yield running


@pytest.fixture(scope="session")
def short_idle() -> float:
    """Seconds of idle time after which the short-idle server ends a staff session."""
    return SHORT_IDLE_SECONDS


@pytest.fixture(scope="session")
def launch() -> Iterator[Callable[..., Any]]:
    """``launch(*extra_args)`` -> Debian's Chromium through Playwright, closed at the end of
    the session. A missing browser is a failure, never a skip, and nothing is downloaded."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
            "the browser tests never download a browser"
        )
    from playwright.sync_api import sync_playwright

    browsers: list[Any] = []
    with sync_playwright() as pw:

        def start(*extra: str) -> Any:
            launched = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra]
            )
            browsers.append(launched)
            return launched

        try:
            yield start
        finally:
            for launched in browsers:
                launched.close()


@pytest.fixture(scope="session")
def browser(launch: Callable[..., Any]) -> Any:
    """One Chromium for the session. Assertions on a page wait up to 20 s (Playwright's
    default is 5): in CI two test passes share two cores with the servers and the
    browser, and a page waiting on the server can take longer than 5 s there."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    return launch()


@dataclass
class PageWatch:
    """What a page did that it should not: script errors, requests to other origins."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.errors, f"script errors: {self.errors}"
        assert not self.foreign, f"requests outside facekeep: {self.foreign}"


@pytest.fixture
def new_page(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """``new_page()`` -> a page in a fresh browser context (its own sessionStorage),
    watched for script errors and for any request that leaves facekeep's origin
    (``new_page(origin=other.url)`` for a page of another server)."""
    contexts: list[Any] = []
    watches: list[PageWatch] = []

    def make(**options: Any) -> Any:
        origin = options.pop("origin", server.url)
        context = browser.new_context(
            viewport=options.pop("viewport", DESKTOP), accept_downloads=True, **options
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        watch = PageWatch(origin)
        watches.append(watch)
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))

        def on_request(request: Any) -> None:
            url = request.url
            if not (url.startswith(origin + "/") or url.startswith(("data:", "blob:"))):
                watch.foreign.append(url)

        page.on("request", on_request)
        page.watch = watch
        return page

    yield make
    for context in contexts:
        context.close()
    for watch in watches:
        watch.check()


def _counter_sign_in(
    page: Any,
    server: Server,
    *,
    staff: str | None = None,
    pin: str | None = None,
    validity: str | None = None,
) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#signin-form")).to_be_visible()
    page.fill("#staff-account", staff or server.staff)
    page.fill("#staff-pin", pin or server.pin)
    page.click("#signin-submit")
    expect(page.locator("#staff-form")).to_be_visible()
    page.select_option("#venue", server.venue)
    if validity is not None:
        page.select_option("#validity", validity)
    page.click("#staff-submit")
    expect(page.locator("#consent-section")).to_be_visible()


@pytest.fixture(scope="session")
def counter_sign_in() -> Callable[..., None]:
    """``counter_sign_in(page, server, staff=..., pin=..., validity=...)``: on the consent
    counter's sign-in form, sign in with a staff account and PIN (the server's own
    account by default), choose the venue, and hand the tablet to the guest."""
    return _counter_sign_in


def _give_pin(page: Any, pin: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#pin-dialog")).to_be_visible()
    page.fill("#pin-input", pin)
    page.click("#pin-submit")
    expect(page.locator("#pin-dialog")).to_be_hidden()


@pytest.fixture(scope="session")
def give_pin() -> Callable[[Any, str], None]:
    """``give_pin(page, pin)``: answer the counter's PIN dialog (a staff action) rightly."""
    return _give_pin


@pytest.fixture(scope="session")
def shoot() -> Callable[..., list[Path]]:
    """``shoot(page, "kiosk-notice")`` -> desktop and phone full-page screenshots named
    ``kiosk-notice-<lang>-desktop.png`` and ``...-phone.png``; fails if the page is wider
    than the screen (nothing may need sideways scrolling on a phone)."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str, *, full_page: bool = True) -> list[Path]:
        lang = page.evaluate("document.documentElement.lang")
        saved = []
        size = page.viewport_size
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} at {label}: {width}px wide"
            path = SHOTS / f"{name}-{lang}-{label}.png"
            page.screenshot(path=str(path), full_page=full_page)
            saved.append(path)
        page.set_viewport_size(size)
        return saved

    return take


# Checks run in the page: every control has a label, images have alternatives, text
# has enough contrast against its background (WCAG 2.x AA: 4.5:1, or 3:1 for large text).
A11Y_SCRIPT = """
() => {
  const problems = [];
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length)
    && getComputedStyle(e).visibility !== 'hidden';
  const name = (e) => (e.getAttribute('aria-label') || '').trim()
    || [...(e.labels || [])].map((l) => l.textContent.trim()).join(' ')
    || (e.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean)
         .map((id) => (document.getElementById(id) || {}).textContent || '').join(' ').trim();
  if (!document.documentElement.lang) problems.push('html has no lang');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  for (const e of document.querySelectorAll('input, select, textarea')) {
    if (e.type === 'hidden' || !visible(e)) continue;
    if (!name(e)) problems.push('unlabelled ' + e.outerHTML.slice(0, 80));
  }
  for (const e of document.querySelectorAll('button, a[href]')) {
    if (visible(e) && !(e.textContent.trim() || e.getAttribute('aria-label')))
      problems.push('nameless ' + e.outerHTML.slice(0, 80));
  }
  for (const e of document.querySelectorAll('img')) {
    if (visible(e) && !e.hasAttribute('alt')) problems.push('img without alt');
  }
  const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupes.length) problems.push('duplicate ids ' + dupes.join(','));
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const e = walker.currentNode.parentElement;
    if (!e || seen.has(e) || !walker.currentNode.textContent.trim() || !visible(e)) continue;
    if (e.closest('.skip-link') || e.closest('option')) continue;
    seen.add(e);
    const style = getComputedStyle(e);
    const fg = rgb(style.color).slice(0, 3);
    const bg = background(e);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5))
      problems.push(`contrast ${ratio.toFixed(2)} for "${e.textContent.trim().slice(0, 40)}"`);
  }
  return problems;
}
"""


@pytest.fixture(scope="session")
def accessible() -> Callable[[Any], None]:
    """``accessible(page)`` fails the test if the page shows an accessibility problem."""

    def check(page: Any) -> None:
        problems = page.evaluate(A11Y_SCRIPT)
        assert problems == [], f"{page.url}: {problems}"

    return check


@pytest.fixture(scope="session")
def photo() -> Callable[[str], Path]:
    """``photo("obama_1.jpg")`` -> the sample photo's path."""
    faces = ROOT / "tests" / "data" / "faces"

    def path(name: str) -> Path:
        found = faces / name
        assert found.is_file(), found
        return found

    return path
