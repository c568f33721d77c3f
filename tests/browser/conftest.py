"""Browser tests: Debian's Chromium, driven by Playwright's sync API, against a real server.

Every test gets its own server (`tests.servers.Topology`: the real `run_topology` script with
one daphne process, SQLite and the in-memory channel layer, seeded with the demo accounts), so
the demo room starts empty and the message lists a test asserts are the whole story.
"""

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.servers import DEMO_PASSWORD, Topology

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DEMO_ROOM = "Demo group room"

# Reconnecting waits for the supervisor to restart daphne and for the client's backoff.
expect.set_options(timeout=10_000)
RECONNECT_TIMEOUT_MS = 30_000

# Runs before any page script: records what the Content-Security-Policy refused.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def _empty_channel_layer():
    """Replace the suite's async fixture: the server runs in another process, and Playwright's
    sync API refuses to run inside an event loop."""
    return


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(request, tmp_path) -> Iterator[Topology]:
    """A fresh server; parametrize indirectly with a dict to set its environment."""
    topology = Topology(tmp_path, processes=1, extra_env=getattr(request, "param", None))
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


class WatchedTab:
    """A browser tab that keeps what its console said (errors, warnings, page errors) and
    watches for CSP refusals; every page test's tab starts from here."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.console: list[str] = []
        page.add_init_script(CSP_WATCH)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _on_console(self, message) -> None:
        if message.type in {"error", "warning"}:
            self.console.append(f"{message.type}: {message.text}")

    def sign_in_with_form(self, username: str, *, landing: str, next_path: str | None = None):
        """Sign in through the real login form and wait to land on `landing` (a URL glob)."""
        query = f"?next={next_path}" if next_path else ""
        self.page.goto(self.base_url + "/accounts/login/" + query)
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(DEMO_PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(landing)


class ChatPage(WatchedTab):
    """One person's browser tab on the chat page, with what its console said."""

    def __init__(self, page: Page, base_url: str):
        super().__init__(page, base_url)
        self.sent_frames: list[dict] = []
        self.sockets_opened = 0
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, websocket) -> None:
        self.sockets_opened += 1
        websocket.on("framesent", self._on_frame_sent)

    def _on_frame_sent(self, payload) -> None:
        try:
            self.sent_frames.append(json.loads(payload))
        except (TypeError, ValueError):
            self.sent_frames.append({"raw": payload})

    # Actions ------------------------------------------------------------------------------------

    def sign_in(self, username: str) -> "ChatPage":
        """Sign in through the real login form, which brings us to the chat page."""
        self.sign_in_with_form(username, next_path="/chat/", landing="**/chat/**")
        return self

    def open_room(self, name: str = DEMO_ROOM) -> "ChatPage":
        """Pick the room in the list (on a phone, a person's only room is already open)."""
        link = self.page.get_by_role("navigation", name="Conversations").get_by_role(
            "link", name=name
        )
        heading = self.page.get_by_role("heading", name=name, level=2)
        expect(link.or_(heading).first).to_be_visible()
        if link.is_visible():
            link.click()
        expect(heading).to_be_visible()
        self.expect_connected()
        expect(self.log).to_have_attribute("aria-busy", "false")
        return self

    def send(self, text: str) -> None:
        self.composer.fill(text)
        self.composer.press("Enter")

    # What the person sees ---------------------------------------------------------------------

    @property
    def composer(self):
        return self.page.locator("#composer-input")

    @property
    def log(self):
        return self.page.get_by_role("log")

    @property
    def status(self):
        return self.page.locator("#connection-status")

    @property
    def bodies(self):
        """Every message bubble's text, delivered or still on its way, top to bottom."""
        return self.page.locator("#messages > li .message-body")

    @property
    def senders(self):
        return self.page.locator("#messages > li .message-sender")

    @property
    def pending(self):
        return self.page.locator("#messages > li.message--pending")

    def expect_connected(self, timeout: float | None = None) -> None:
        expect(self.status).to_have_text("Connected", timeout=timeout)

    def expect_messages(self, texts: list[str], timeout: float | None = None) -> None:
        """Exactly these messages, in this order, all delivered (none still pending)."""
        expect(self.bodies).to_have_text(texts, timeout=timeout)
        expect(self.pending).to_have_count(0, timeout=timeout)
        seqs = self.page.locator("#messages > li").evaluate_all(
            "items => items.map(item => Number(item.dataset.seq))"
        )
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations")

    def joins_sent(self) -> list[dict]:
        return [frame for frame in self.sent_frames if frame.get("type") == "join"]


@pytest.fixture
def open_chat(browser, server):
    """Open a fresh browser context (its own cookies) signed in as `username`."""
    contexts: list[BrowserContext] = []

    def open_(username: str, *, viewport: dict = DESKTOP) -> ChatPage:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        return ChatPage(context.new_page(), server.base_url()).sign_in(username)

    yield open_
    for context in contexts:
        context.close()


@contextmanager
def supervisor_paused(topology: Topology):
    """Hold the `run_topology` supervisor still, so a killed daphne stays down meanwhile."""
    os.kill(topology.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(topology.process.pid, signal.SIGCONT)
