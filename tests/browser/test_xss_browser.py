"""Markup typed into peerchat stays text: message bodies, a handle and a room's name are shown
literally in Chromium, nothing in them runs or becomes an element, and the database keeps
what was typed. Staff-authored markup (the group agreement) keeps only its allow-listed tags.

One server for the module; each test uses its own browser contexts.
"""

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, ChatPage, WatchedTab
from tests.servers import Topology

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "<a href=\"javascript:alert('link')\">click me</a>",
    "<svg onload=alert('svg')><circle r=5></circle></svg>",
    "\"><img src=x onerror=alert('quote')><b x='",
    "{{ 7*7 }} {% now 'Y' %} ${7*7} #{7*7}",
]
ROOM_NAME = "<i>Evening</i> <img src=x onerror=alert('room')> room"
HANDLE = "<b>Sam</b>\"'<img src=x onerror=alert('handle')>"
# Elements a payload would have made, had it been parsed as HTML.
INJECTED = "img, svg, script, iframe, b, i, a[href^='javascript']"


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path) -> Iterator[Topology]:
    topology = Topology(tmp_path_factory.mktemp("xss"), processes=1)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


def shell(server: Topology, code: str) -> str:
    """Run Python in the server's project (its database); return the last line printed."""
    output = server.manage("shell", "-c", code).strip().splitlines()
    return output[-1] if output else ""


def watch_dialogs(page) -> list[str]:
    """Every alert/confirm/prompt the page opens (dismissed at once)."""
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def test_markup_in_messages_a_handle_and_a_room_name_is_shown_as_text(browser, server):
    shell(
        server,
        "from peerchat.models import Room, User; "
        f"Room.objects.filter(name='Demo group room').update(name={ROOM_NAME!r}); "
        f"User.objects.filter(username='supporter2').update(handle={HANDLE!r})",
    )
    contexts = [browser.new_context(viewport=DESKTOP) for _ in range(2)]
    try:
        alex = ChatPage(contexts[0].new_page(), server.base_url())
        sam = ChatPage(contexts[1].new_page(), server.base_url())
        alex_dialogs, sam_dialogs = watch_dialogs(alex.page), watch_dialogs(sam.page)
        alex.sign_in("supporter1").open_room(ROOM_NAME)
        sam.sign_in("supporter2").open_room(ROOM_NAME)

        for payload in PAYLOADS:
            sam.send(payload)
        # Alex reads every payload as the text Sam typed, from Sam (by Sam's literal handle).
        alex.expect_messages(PAYLOADS)
        sam.expect_messages(PAYLOADS)
        expect(alex.senders).to_have_text([HANDLE] * len(PAYLOADS))
        heading = alex.page.get_by_role("heading", name=ROOM_NAME, level=2)
        expect(heading).to_have_text(ROOM_NAME)

        for tab in (alex, sam):
            injected = tab.page.locator("#messages").locator(INJECTED)
            expect(injected).to_have_count(0)
            assert tab.page.locator("h2").locator(INJECTED).count() == 0
            assert tab.page.evaluate("document.querySelectorAll('img[src=x]').length") == 0
            # Nothing even tried to run: the CSP would have refused it and said so.
            assert tab.csp_violations() == []
            assert tab.console == []
        assert alex_dialogs == sam_dialogs == []
    finally:
        for context in contexts:
            context.close()

    stored = json.loads(
        shell(
            server,
            "import json; from peerchat.models import Message; "
            "print(json.dumps(list(Message.objects.order_by('room_id', 'seq')"
            ".values_list('body', 'status'))))",
        )
    )
    assert stored == [[payload, "delivered"] for payload in PAYLOADS]


def test_a_group_agreement_keeps_only_its_allowed_markup(browser, server):
    shell(
        server,
        "from peerchat.models import Agreement; "
        "Agreement.objects.filter(kind='group').update(body="
        "\"<p>Be kind.</p><script>alert('agreement')</script>"
        "<img src=x onerror=alert('agreement')><a href='javascript:alert(1)'>more</a>\")",
    )
    context = browser.new_context(viewport=DESKTOP)
    try:
        tab = WatchedTab(context.new_page(), server.base_url())
        dialogs = watch_dialogs(tab.page)
        tab.sign_in_with_form("moderator", landing="**/moderation/**")
        tab.page.goto(server.base_url() + "/groups/")
        words = tab.page.locator("#agreement-words .agreement-text").first
        expect(words.locator("p")).to_have_text("Be kind.", use_inner_text=False)
        assert words.locator("script, img").count() == 0
        # bleach drops the javascript: address and keeps the words.
        assert words.locator("a").evaluate_all("links => links.map(a => a.href)") in ([], [""])
        assert tab.page.evaluate("window.__cspViolations") == [] and tab.console == []
        assert dialogs == []
    finally:
        context.close()
