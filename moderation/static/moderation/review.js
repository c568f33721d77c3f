// The console's review part (/moderation/, see console.js): messages the content filter held
// back, notices about messages it shared, a box to try a phrase against the filter, and
// moderators' policy additions.
//
// It watches the `moderation` topic on the console's Peerchat.Connection: a `review_queue`
// snapshot on every (re)connect, then `review_item` (an item created or changed) and
// `filter_alert` (a delivered message moderators should know about; imminent danger itself is
// an escalation, shown by escalations.js). Decisions, notes, reports, "try a phrase" and policy
// terms go through the JSON API (moderation/api/review.py). Message texts, notes and terms
// only ever reach the page through textContent; highlighted evidence is built from text pieces
// and <mark> elements.
(function () {
  "use strict";

  const Peerchat = window.Peerchat;
  const Console = Peerchat && Peerchat.ModeratorConsole;
  if (!Console) return;
  const { app, conn, parseJSON, failureText, announce, timeElement, ageText, keyed } = Console;
  const { element } = Peerchat.dom;
  const setText = Peerchat.dom.showText;
  const newId = Peerchat.dom.idMaker("review");
  const button = (text, className) => Peerchat.dom.button(text, className || "button button-small");

  const DECIDED_SHOWN = 30;
  const NOTICES_SHOWN = 50;
  const AGE_EVERY_MS = 30000;
  const QUEUE_FALLBACK_MS = 6000;
  const NOTE_MAX_CHARS = 2000;

  const byId = (id) => document.getElementById(id);
  const els = {
    waitingHeading: byId("waiting-heading"),
    waitingCount: byId("waiting-count"),
    waitingEmpty: byId("waiting-empty"),
    waitingList: byId("waiting-list"),
    noticesEmpty: byId("notices-empty"),
    noticesList: byId("notices-list"),
    decidedEmpty: byId("decided-empty"),
    decidedList: byId("decided-list"),
    tryForm: byId("try-form"),
    tryText: byId("try-text"),
    tryRoomKind: byId("try-room-kind"),
    tryButton: byId("try-button"),
    tryError: byId("try-error"),
    tryResult: byId("try-result"),
    tryReport: byId("try-report"),
    tryExpected: byId("try-expected"),
    tryNote: byId("try-note"),
    tryMissed: byId("try-missed"),
    tryFine: byId("try-fine"),
    tryReportStatus: byId("try-report-status"),
    policyVersion: byId("policy-version"),
    termsEmpty: byId("terms-empty"),
    terms: byId("terms"),
    termForm: byId("term-form"),
    termGroup: byId("term-group"),
    termText: byId("term-text"),
    termNote: byId("term-note"),
    termButton: byId("term-button"),
    termError: byId("term-error"),
    termStatus: byId("term-status"),
  };

  const urls = {
    queue: app.dataset.queueUrl,
    items: app.dataset.itemsUrl,
    try: app.dataset.tryUrl,
    cases: app.dataset.casesUrl,
    terms: app.dataset.termsUrl,
  };
  let groups = parseJSON(app.dataset.groups, []);
  const categories = parseJSON(app.dataset.categories, {});

  // Words ----------------------------------------------------------------------------------------

  // What happened to the message, in plain words (never "violation").
  const ACTION_WORDS = {
    hold: "Held back",
    block: "Not shared",
    mask: "Shared with contact details hidden",
    content_warning: "Shared behind a content warning",
    allow: "Shared as written",
  };

  // What the filter would do with a phrase from the "try" box.
  const TRY_WORDS = {
    allow: "It would be shared as written.",
    mask: "It would be shared with the contact details hidden.",
    content_warning: "It would be shared behind a content warning: others choose to read it.",
    hold: "It would be held back: only the sender sees it until a moderator looks at it.",
    block: "It wouldn't be shared: only the sender sees it, and it waits for a moderator.",
  };

  const CATEGORY_WORDS = {
    method: "Method or means detail",
    encouragement: "Encouraging harm",
    graphic: "Graphic description",
    contact: "Contact details",
    imminent: "Someone may be in danger",
    links: "A link outside the allowed sites",
  };

  const ROOM_KIND_WORDS = { one_to_one: "one-to-one chat", group: "group room" };

  const GROUP_WORDS = { allowed_domain: "allowed link sites" };

  function categoryWords(category) {
    return CATEGORY_WORDS[category] || String(category).replace(/_/g, " ");
  }

  function groupWords(group) {
    return GROUP_WORDS[group] || String(group).replace(/_/g, " ");
  }

  function decisionWords(item) {
    if (item.review === "released") return "Shared with the room";
    if (item.review === "kept") return "Kept back";
    return "";
  }

  // Elements --------------------------------------------------------------------------------------

  // The text with the filter's evidence marked. `spans` are [start, end, rule id] in code points
  // (Python's string offsets), so the text is split with Array.from, never by UTF-16 index.
  function highlighted(text, spans, className) {
    const node = element("p", className || "review-text");
    const chars = Array.from(text || "");
    const ranges = (Array.isArray(spans) ? spans : [])
      .filter(
        (span) =>
          Array.isArray(span) &&
          Number.isInteger(span[0]) &&
          Number.isInteger(span[1]) &&
          span[0] >= 0 &&
          span[0] < span[1] &&
          span[0] < chars.length,
      )
      .map((span) => ({
        start: span[0],
        end: Math.min(span[1], chars.length),
        rules: [String(span[2] || "")].filter(Boolean),
      }))
      .sort((a, b) => a.start - b.start || b.end - a.end);
    // Overlapping evidence becomes one mark naming every rule in it.
    const merged = [];
    for (const range of ranges) {
      const last = merged[merged.length - 1];
      if (last && range.start < last.end) {
        last.end = Math.max(last.end, range.end);
        for (const rule of range.rules) if (!last.rules.includes(rule)) last.rules.push(rule);
      } else {
        merged.push({ ...range, rules: [...range.rules] });
      }
    }
    let at = 0;
    for (const range of merged) {
      if (range.start > at) node.append(chars.slice(at, range.start).join(""));
      const mark = element("mark", null, chars.slice(range.start, range.end).join(""));
      if (range.rules.length) {
        mark.title = "Rule: " + range.rules.join(", ");
        mark.dataset.rules = range.rules.join(" ");
      }
      node.append(mark);
      at = range.end;
    }
    if (at < chars.length) node.append(chars.slice(at).join(""));
    return node;
  }

  function categoryList(list) {
    const names = Array.isArray(list) ? list : [];
    const ul = element("ul", "review-categories");
    for (const category of names) {
      const li = element("li");
      li.append(element("span", "review-category", categoryWords(category)));
      const description = typeof categories[category] === "string" ? categories[category] : "";
      if (description) li.append(element("span", "review-category-detail", " " + description));
      ul.append(li);
    }
    return ul;
  }

  function ruleLine(label, rules) {
    const line = element("p", "review-rules");
    line.append(label + " ");
    rules.forEach((rule, index) => {
      if (index) line.append(", ");
      line.append(element("code", null, rule));
    });
    return line;
  }

  // HTTP: GET and POST through the connection; DELETE the same way, with the CSRF header.
  async function httpDelete(url) {
    const response = await fetch(url, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": Peerchat.Connection.csrfToken() },
    });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (response.ok) return data;
    if (response.status === 401) conn.markSignedOut("http");
    const failure = new Error((data && data.detail) || "HTTP " + response.status);
    failure.status = response.status;
    failure.code = data && data.error;
    failure.detail = data && data.detail;
    throw failure;
  }

  // State --------------------------------------------------------------------------------------

  const items = new Map(); // id -> ITEM, as the server last described it
  const cards = new Map(); // id -> card (see makeCard)
  const fresh = new Set(); // ids that arrived live and have not been looked at yet
  let queueLoaded = false;
  let lastTry = null; // { text, room_kind, verdict } of the last phrase checked

  function validItem(item) {
    return item && typeof item === "object" && Number.isInteger(item.id);
  }

  // An item's decision is final: an older description never takes it back to "pending".
  function upsert(item) {
    if (!validItem(item)) return null;
    const known = items.get(item.id);
    if (known && known.review !== "pending" && item.review === "pending") return known;
    items.set(item.id, item);
    return item;
  }

  function listOf(item) {
    if (item.review === "pending") return "waiting";
    if (item.review === "released" || item.review === "kept") return "decided";
    return "notices";
  }

  // Applying what the server says ------------------------------------------------------------

  // `review_queue` (on every watch) and GET /api/moderation/queue: the whole picture.
  function applyQueue(data, { replace }) {
    if (!data || typeof data !== "object") return;
    const all = [
      ...(Array.isArray(data.items) ? data.items : []),
      ...(Array.isArray(data.alerts) ? data.alerts : []),
      ...(Array.isArray(data.decided) ? data.decided : []),
    ].filter(validItem);
    if (replace) {
      const keep = new Set(all.map((item) => item.id));
      for (const id of Array.from(items.keys())) {
        // Recently decided items stay on the page even when the snapshot has no room for them.
        const known = items.get(id);
        if (!keep.has(id) && known.review !== "released" && known.review !== "kept") {
          items.delete(id);
        }
      }
    }
    for (const item of all) upsert(item);
    queueLoaded = true;
    Console.markLoaded("queue");
    render();
  }

  function onReviewItem(frame) {
    const item = upsert(frame.item);
    if (!item) return;
    const isNew = !cards.has(item.id);
    if (isNew && item.review === "pending") {
      fresh.add(item.id);
      announce("A message is waiting for review, in " + (item.room_name || "a room") + ".");
    }
    if (item.review !== "pending") fresh.delete(item.id);
    render();
  }

  // Imminent danger is announced (and rings) as an escalation; the filter's own record of the
  // message stays low key under "Other notices".
  function onFilterAlert(frame) {
    const item = upsert(frame.item);
    if (!item) return;
    if (!cards.has(item.id)) fresh.add(item.id);
    render();
  }

  // Rendering -------------------------------------------------------------------------------------

  function render() {
    const lists = { waiting: [], notices: [], decided: [] };
    for (const item of items.values()) lists[listOf(item)].push(item);
    const byCreated = (a, b) => String(a.created_at).localeCompare(String(b.created_at));
    lists.waiting.sort(byCreated);
    lists.notices.sort((a, b) => byCreated(b, a));
    lists.decided.sort((a, b) =>
      String(b.reviewed_at || b.created_at).localeCompare(String(a.reviewed_at || a.created_at)),
    );
    lists.notices = lists.notices.slice(0, NOTICES_SHOWN);
    lists.decided = lists.decided.slice(0, DECIDED_SHOWN);

    const focused = document.activeElement;
    const shown = new Set();
    for (const [name, node] of [
      ["waiting", els.waitingList],
      ["notices", els.noticesList],
      ["decided", els.decidedList],
    ]) {
      const ids = lists[name].map((item) => item.id);
      ids.forEach((id) => shown.add(id));
      for (const item of lists[name]) renderCard(cardOf(item.id), item, name);
      keyed(
        node,
        ids.map((id) => cards.get(id).root),
      );
    }
    for (const [id, card] of cards) {
      if (!shown.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    // A card that moved (decided) keeps the focus it had.
    if (focused && focused !== document.activeElement && focused.isConnected) {
      focused.focus({ preventScroll: true });
    }

    els.waitingCount.textContent = lists.waiting.length ? "(" + lists.waiting.length + ")" : "";
    setText(
      els.waitingEmpty,
      !queueLoaded
        ? "Loading…"
        : lists.waiting.length
          ? ""
          : "Nothing is waiting for review. New held messages appear here by themselves.",
    );
    setText(els.noticesEmpty, lists.notices.length ? "" : "Nothing to show.");
    setText(els.decidedEmpty, lists.decided.length ? "" : "Nothing decided yet.");
    if (queueLoaded) Console.setCount("waiting", lists.waiting.length);
  }

  // One card per item: its description is rebuilt on every change; its buttons and forms are
  // made once, so a note being typed survives updates from other moderators.
  function cardOf(id) {
    let card = cards.get(id);
    if (card) return card;
    const root = element("li", "review-entry");
    root.dataset.id = String(id);
    const article = element("article", "review-item");
    const titleId = newId("item-title");
    article.setAttribute("aria-labelledby", titleId);
    article.tabIndex = -1;
    const body = element("div", "review-item-body");
    const actions = element("div", "review-actions");
    const forms = element("div", "review-forms"); // made once: typing survives updates
    const statusLine = element("p", "review-item-status");
    statusLine.setAttribute("role", "status");
    article.append(body, actions, forms, statusLine);
    root.append(article);
    card = {
      id,
      root,
      article,
      titleId,
      body,
      actions,
      forms,
      statusLine,
      busy: null, // "release" | "keep" | … while a request is on its way
      noteForm: null,
      reportForm: null,
      key: "",
    };
    article.addEventListener("focusin", () => clearFresh(card));
    article.addEventListener("pointerdown", () => clearFresh(card));
    cards.set(id, card);
    return card;
  }

  function clearFresh(card) {
    if (!fresh.delete(card.id)) return;
    card.article.classList.remove("is-new");
    const badge = card.body.querySelector(".review-new");
    if (badge) badge.remove();
  }

  function renderCard(card, item, list) {
    const key = JSON.stringify([item, list, fresh.has(item.id), card.busy]);
    if (card.key === key) return;
    card.key = key;
    card.root.dataset.review = item.review || "";
    card.article.className = "review-item review-item--" + list;
    card.article.dataset.action = item.action || "";
    if (fresh.has(item.id)) card.article.classList.add("is-new");
    renderBody(card, item, list);
    renderActions(card, item, list);
  }

  function renderBody(card, item, list) {
    const sender = item.sender || {};
    const parts = [];

    const badges = element("p", "review-badges");
    if (fresh.has(item.id)) badges.append(element("span", "review-badge review-new", "New"));
    if (item.escalate) {
      badges.append(element("span", "review-badge review-badge--danger", "May be in danger"));
    }
    badges.append(
      element(
        "span",
        "review-badge review-badge--" + (item.action || "allow"),
        ACTION_WORDS[item.action] || item.action || "",
      ),
    );
    parts.push(badges);

    const title = element("h3", "review-item-title");
    title.id = card.titleId;
    title.append(element("span", "review-sender", sender.handle || "Someone"));
    if (sender.role) title.append(" ", element("span", "review-role", "(" + sender.role + ")"));
    parts.push(title);

    const where = element("p", "review-where");
    where.append(element("span", "review-room", item.room_name || "A room"));
    where.append(" · " + (ROOM_KIND_WORDS[item.room_kind] || item.room_kind || ""));
    where.append(" · ", timeElement(item.created_at, "review-time"));
    const age = element("span", "review-age");
    age.dataset.at = item.created_at || "";
    age.dataset.waiting = String(item.review === "pending");
    where.append(" ", age);
    parts.push(where);

    parts.push(highlighted(item.body, item.spans));
    if (typeof item.delivered_body === "string" && item.delivered_body !== item.body) {
      const delivered = element("p", "review-delivered");
      delivered.append(element("span", "review-label", "Others saw: "), item.delivered_body);
      parts.push(delivered);
    }

    const found = Array.isArray(item.categories) ? item.categories : [];
    if (found.length) parts.push(categoryList(found));
    const rules = Array.isArray(item.rule_ids) ? item.rule_ids : [];
    if (rules.length) parts.push(ruleLine(rules.length === 1 ? "Rule:" : "Rules:", rules));

    if (item.review === "released" || item.review === "kept") {
      const decided = element("p", "review-decided");
      decided.append(
        element("strong", null, decisionWords(item)),
        " by " + (item.reviewed_by || "a moderator"),
      );
      if (item.reviewed_at) decided.append(" at ", timeElement(item.reviewed_at));
      if (item.review === "released" && Number.isInteger(item.seq)) {
        decided.append(" (message " + item.seq + " in the room)");
      }
      parts.push(decided);
    }

    const notes = Array.isArray(item.notes) ? item.notes : [];
    if (notes.length) {
      const list = element("ul", "review-notes");
      list.setAttribute("aria-label", "Moderators' notes");
      for (const note of notes) {
        const li = element("li", "review-note");
        const meta = element("p", "review-note-meta");
        meta.append(
          element("strong", null, note.author || "A moderator"),
          " · ",
          timeElement(note.created_at),
        );
        li.append(meta, element("p", "review-note-body", note.body || ""));
        list.append(li);
      }
      parts.push(list);
    }
    card.body.replaceChildren(...parts);
    updateAge(age);
  }

  function updateAge(node) {
    const text = ageText(node.dataset.at);
    if (!text) {
      node.textContent = "";
      return;
    }
    if (node.dataset.waiting === "true") {
      node.textContent = text === "just now" ? "(just now)" : "(waiting " + text + ")";
    } else {
      node.textContent = text === "just now" ? "(just now)" : "(" + text + " ago)";
    }
  }

  function renderActions(card, item, list) {
    const pending = item.review === "pending";
    const busy = card.busy;
    const made = [];
    if (pending) {
      const share = button(
        busy === "release" ? "Sharing…" : "Share with the room",
        "button button-small",
      );
      share.dataset.act = "release";
      const keep = button(
        busy === "keep" ? "Keeping it back…" : "Keep it back",
        "button button-quiet button-small",
      );
      keep.dataset.act = "keep";
      made.push(share, keep);
    }
    const note = button("Add note", "button button-quiet button-small");
    note.dataset.act = "note";
    note.setAttribute("aria-expanded", String(Boolean(card.noteForm && !card.noteForm.hidden)));
    const fine = button("Report: this was fine", "link-button");
    fine.dataset.act = "fine";
    const wrong = button("Report: wrong category", "link-button");
    wrong.dataset.act = "wrong";
    wrong.setAttribute(
      "aria-expanded",
      String(Boolean(card.reportForm && !card.reportForm.hidden)),
    );
    made.push(note, fine, wrong);
    for (const node of made) {
      if (busy) node.disabled = true;
    }
    const hadFocus = card.actions.contains(document.activeElement)
      ? document.activeElement.dataset.act
      : null;
    const row = element("div", "review-buttons");
    row.append(...made);
    card.actions.replaceChildren(row);
    if (hadFocus) {
      const again = row.querySelector("[data-act='" + hadFocus + "']");
      if (again && !again.disabled) again.focus();
      else card.article.focus();
    }
  }

  // Card actions -------------------------------------------------------------------------------

  function onCardClick(event) {
    const target = event.target.closest("[data-act]");
    if (!target) return;
    const root = target.closest(".review-entry");
    if (!root) return;
    const card = cards.get(Number(root.dataset.id));
    if (!card) return;
    const act = target.dataset.act;
    if (act === "release" || act === "keep") decide(card, act);
    else if (act === "note") toggleNoteForm(card);
    else if (act === "fine") reportItem(card, { kind: "false_positive", expected: "ok" });
    else if (act === "wrong") toggleReportForm(card);
  }

  function cardStatus(card, text, { problem = false } = {}) {
    card.statusLine.textContent = text || "";
    card.statusLine.classList.toggle("is-problem", Boolean(problem && text));
  }

  async function decide(card, act) {
    if (card.busy || conn.signedOut) return;
    const item = items.get(card.id);
    if (!item || item.review !== "pending") return;
    const note = card.noteForm ? card.noteForm.querySelector("textarea").value.trim() : "";
    const next = nextCardAfter(card);
    card.busy = act;
    cardStatus(card, "");
    render();
    try {
      const data = await conn.postJSON(urls.items + card.id + "/" + act, note ? { note } : {});
      card.busy = null;
      const done = upsert(data && data.item);
      if (note && card.noteForm) closeNoteForm(card, { clear: true });
      fresh.delete(card.id);
      render();
      const words =
        act === "release"
          ? "Shared with the room" +
            (done && Number.isInteger(done.seq) ? " as message " + done.seq + "." : ".")
          : "Kept back. Only the sender can see it.";
      cardStatus(card, words);
      announce(words);
      focusAfterDecision(next);
    } catch (error) {
      card.busy = null;
      if (conn.signedOut) return;
      if (error.status === 409) {
        await refreshQueue();
        const now = items.get(card.id);
        const who = now && now.reviewed_by;
        cardStatus(
          card,
          now && who && now.review !== "pending"
            ? who + " already decided: " + decisionWords(now).toLowerCase() + "."
            : failureText(error, "Someone else already decided about this message."),
          { problem: true },
        );
      } else {
        cardStatus(card, failureText(error, "That didn't go through."), { problem: true });
      }
      render();
    }
  }

  // Where focus goes once a decided card leaves the waiting list: the next one, or the heading.
  function nextCardAfter(card) {
    const root = card.root;
    const next = root.nextElementSibling || root.previousElementSibling;
    return next ? Number(next.dataset.id) : null;
  }

  function focusAfterDecision(nextId) {
    const next = nextId !== null ? cards.get(nextId) : null;
    if (next && next.root.isConnected && items.get(nextId).review === "pending") {
      next.article.focus();
      return;
    }
    els.waitingHeading.focus();
  }

  function toggleNoteForm(card) {
    if (card.noteForm && !card.noteForm.hidden) {
      closeNoteForm(card, { clear: false });
      return;
    }
    if (!card.noteForm) {
      card.noteForm = makeNoteForm(card);
      card.forms.prepend(card.noteForm);
    }
    card.noteForm.hidden = false;
    card.key = "";
    render();
    card.noteForm.querySelector("textarea").focus();
  }

  function closeNoteForm(card, { clear }) {
    if (!card.noteForm) return;
    if (clear) card.noteForm.querySelector("textarea").value = "";
    card.noteForm.hidden = true;
    card.key = "";
    render();
  }

  function makeNoteForm(card) {
    const form = element("form", "review-form");
    form.noValidate = true;
    const inputId = newId("note");
    const label = element("label", null, "Note for moderators (the sender never sees it)");
    label.htmlFor = inputId;
    const input = element("textarea");
    input.id = inputId;
    input.rows = 3;
    input.maxLength = NOTE_MAX_CHARS;
    const save = element("button", "button button-small", "Save note");
    save.type = "submit";
    const cancel = button("Cancel", "button button-quiet button-small");
    const row = element("div", "review-buttons");
    row.append(save, cancel);
    form.append(label, input, row);
    cancel.addEventListener("click", () => {
      closeNoteForm(card, { clear: false });
      const opener = card.actions.querySelector("[data-act='note']");
      if (opener) opener.focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) {
        cardStatus(card, "Write a few words first.", { problem: true });
        input.focus();
        return;
      }
      save.disabled = true;
      try {
        const data = await conn.postJSON(urls.items + card.id + "/notes", { body });
        upsert(data && data.item);
        closeNoteForm(card, { clear: true });
        cardStatus(card, "Note saved.");
        const opener = card.actions.querySelector("[data-act='note']");
        if (opener) opener.focus();
      } catch (error) {
        if (!conn.signedOut) {
          cardStatus(card, failureText(error, "The note wasn't saved."), { problem: true });
        }
      } finally {
        save.disabled = false;
      }
    });
    form.hidden = true;
    return form;
  }

  function toggleReportForm(card) {
    if (card.reportForm && !card.reportForm.hidden) {
      card.reportForm.hidden = true;
      card.key = "";
      render();
      return;
    }
    if (!card.reportForm) {
      card.reportForm = makeReportForm(card);
      card.forms.append(card.reportForm);
    }
    card.reportForm.hidden = false;
    card.key = "";
    render();
    card.reportForm.querySelector("select").focus();
  }

  function categoryOptions(select, preferred) {
    const names = Object.keys(Object.keys(categories).length ? categories : CATEGORY_WORDS);
    select.replaceChildren(
      ...names.map((name) => {
        const option = element("option", null, categoryWords(name));
        option.value = name;
        return option;
      }),
    );
    if (preferred && names.includes(preferred)) select.value = preferred;
  }

  function makeReportForm(card) {
    const item = items.get(card.id) || {};
    const form = element("form", "review-form");
    form.noValidate = true;
    const selectId = newId("expected");
    const label = element("label", null, "It should have been caught as");
    label.htmlFor = selectId;
    const select = element("select");
    select.id = selectId;
    const current = Array.isArray(item.categories) ? item.categories : [];
    categoryOptions(select, Object.keys(categories).find((name) => !current.includes(name)));
    const noteId = newId("report-note");
    const noteLabel = element("label", null, "Note (optional)");
    noteLabel.htmlFor = noteId;
    const note = element("input");
    note.type = "text";
    note.id = noteId;
    note.maxLength = 300;
    note.autocomplete = "off";
    const send = element("button", "button button-small", "Send report");
    send.type = "submit";
    const cancel = button("Cancel", "button button-quiet button-small");
    const row = element("div", "review-buttons");
    row.append(send, cancel);
    form.append(label, select, noteLabel, note, row);
    cancel.addEventListener("click", () => {
      toggleReportForm(card);
      const opener = card.actions.querySelector("[data-act='wrong']");
      if (opener) opener.focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      const ok = await reportItem(card, {
        kind: "missed",
        expected: select.value,
        note: note.value.trim(),
      });
      send.disabled = false;
      if (ok) {
        note.value = "";
        toggleReportForm(card);
        const opener = card.actions.querySelector("[data-act='wrong']");
        if (opener) opener.focus();
      }
    });
    form.hidden = true;
    return form;
  }

  async function reportItem(card, body) {
    try {
      await conn.postJSON(urls.items + card.id + "/report", body);
      cardStatus(
        card,
        body.kind === "false_positive"
          ? "Reported as fine. Thank you: it's now a test case for the filter."
          : "Reported as " +
              categoryWords(body.expected).toLowerCase() +
              ". Thank you: it's now a test case for the filter.",
      );
      return true;
    } catch (error) {
      if (!conn.signedOut) {
        cardStatus(card, failureText(error, "The report wasn't saved."), { problem: true });
      }
      return false;
    }
  }

  async function refreshQueue() {
    try {
      applyQueue(await conn.getJSON(urls.queue), { replace: false });
    } catch (error) {
      // The socket's next snapshot (or the next try) brings it.
    }
  }

  // Try a phrase -------------------------------------------------------------------------------

  async function onTry(event) {
    event.preventDefault();
    const text = els.tryText.value;
    const roomKind = els.tryRoomKind.value;
    setText(els.tryError, "");
    if (!text.trim()) {
      setText(els.tryError, "Type a phrase to check.");
      els.tryText.focus();
      return;
    }
    els.tryButton.disabled = true;
    els.tryButton.textContent = "Checking…";
    try {
      const data = await conn.postJSON(urls.try, { text, room_kind: roomKind });
      lastTry = { text, room_kind: roomKind, verdict: (data && data.verdict) || {} };
      renderTry();
    } catch (error) {
      if (!conn.signedOut) setText(els.tryError, failureText(error, "The phrase wasn't checked."));
    } finally {
      els.tryButton.disabled = false;
      els.tryButton.textContent = "Check";
    }
  }

  function renderTry() {
    const { text, room_kind: roomKind, verdict } = lastTry;
    const found = Array.isArray(verdict.categories) ? verdict.categories : [];
    const rules = Array.isArray(verdict.rule_ids) ? verdict.rule_ids : [];
    const protectedBy = Array.isArray(verdict.protected_by) ? verdict.protected_by : [];
    const parts = [];
    const verdictLine = element("p", "try-verdict");
    verdictLine.dataset.action = verdict.action || "";
    verdictLine.append(
      element("strong", null, TRY_WORDS[verdict.action] || "The filter said: " + verdict.action),
    );
    parts.push(verdictLine);
    if (verdict.escalate) {
      parts.push(
        element(
          "p",
          "try-escalate",
          "Moderators would be alerted that someone may be in danger. The message is still " +
            "shared, so the supporter sees it, and the sender is shown where to find help.",
        ),
      );
    }
    parts.push(
      element(
        "p",
        "try-context",
        "In a " + (ROOM_KIND_WORDS[roomKind] || roomKind) + ". Policy version " +
          (verdict.policy_version || "unknown") + ".",
      ),
    );
    parts.push(highlighted(text, verdict.spans, "review-text try-text"));
    if (found.length) parts.push(categoryList(found));
    else parts.push(element("p", "try-none", "Nothing in it matched a category."));
    if (rules.length) parts.push(ruleLine(rules.length === 1 ? "Rule:" : "Rules:", rules));
    if (protectedBy.length) {
      parts.push(
        ruleLine("Matched, but outweighed by coping or help-seeking words:", protectedBy),
      );
    }
    if (typeof verdict.masked_text === "string") {
      const masked = element("p", "review-delivered");
      masked.append(element("span", "review-label", "Others would see: "), verdict.masked_text);
      parts.push(masked);
    }
    els.tryResult.replaceChildren(...parts);
    els.tryResult.hidden = false;
    categoryOptions(els.tryExpected, found[0] || els.tryExpected.value || "method");
    setText(els.tryReportStatus, "");
    els.tryReport.hidden = false;
  }

  async function reportTry(kind) {
    if (!lastTry || conn.signedOut) return;
    const body = {
      text: lastTry.text,
      room_kind: lastTry.room_kind,
      kind,
      expected: kind === "false_positive" ? "ok" : els.tryExpected.value,
      note: els.tryNote.value.trim(),
    };
    els.tryMissed.disabled = true;
    els.tryFine.disabled = true;
    try {
      await conn.postJSON(urls.cases, body);
      els.tryNote.value = "";
      els.tryReportStatus.textContent =
        kind === "false_positive"
          ? "Reported as fine. Thank you: it's now a test case for the filter."
          : "Reported as " +
            categoryWords(body.expected).toLowerCase() +
            ". Thank you: it's now a test case for the filter.";
    } catch (error) {
      if (!conn.signedOut) {
        els.tryReportStatus.textContent = failureText(error, "The report wasn't saved.");
      }
    } finally {
      els.tryMissed.disabled = false;
      els.tryFine.disabled = false;
    }
  }

  // Policy additions -------------------------------------------------------------------------

  function renderGroupOptions() {
    const chosen = els.termGroup.value;
    els.termGroup.replaceChildren(
      ...groups.map((group) => {
        const option = element("option", null, groupWords(group));
        option.value = group;
        return option;
      }),
    );
    if (groups.includes(chosen)) els.termGroup.value = chosen;
  }

  async function loadTerms() {
    if (conn.signedOut) return;
    try {
      renderTerms(await conn.getJSON(urls.terms));
    } catch (error) {
      if (!conn.signedOut && els.terms.childElementCount === 0) {
        setText(els.termsEmpty, "The policy additions couldn't be loaded just now.");
      }
    }
  }

  function showVersion(version) {
    els.policyVersion.textContent = "Policy version " + version;
  }

  function renderTerms(data) {
    if (!data || typeof data !== "object") return;
    if (Array.isArray(data.groups) && data.groups.length) {
      groups = data.groups.filter((group) => typeof group === "string");
      renderGroupOptions();
    }
    if (data.policy_version) showVersion(data.policy_version);
    const terms = Array.isArray(data.terms) ? data.terms : [];
    const byGroup = new Map();
    for (const term of terms) {
      if (!term || !Number.isInteger(term.id)) continue;
      if (!byGroup.has(term.group)) byGroup.set(term.group, []);
      byGroup.get(term.group).push(term);
    }
    const hadFocus = els.terms.contains(document.activeElement);
    const sections = Array.from(byGroup.keys())
      .sort()
      .map((group) => {
        const section = element("section", "term-group");
        const headingId = newId("group");
        const heading = element("h3", "term-group-heading", groupWords(group));
        heading.id = headingId;
        section.setAttribute("aria-labelledby", headingId);
        const list = element("ul", "term-list");
        for (const term of byGroup.get(group)) {
          const li = element("li", "term-item");
          const text = element("p", "term-text");
          text.append(element("span", "term-word", term.term));
          const meta = element("p", "term-meta");
          meta.append(
            "Added by " + (term.added_by || "a moderator") + " · ",
            timeElement(term.added_at),
          );
          if (term.note) meta.append(" · " + term.note);
          const remove = button("Remove", "button button-quiet button-small");
          remove.dataset.termId = String(term.id);
          remove.dataset.term = term.term;
          remove.dataset.group = group;
          remove.setAttribute(
            "aria-label",
            "Remove “" + term.term + "” from " + groupWords(group),
          );
          const words = element("div", "term-words");
          words.append(text, meta);
          li.append(words, remove);
          list.append(li);
        }
        section.append(heading, list);
        return section;
      });
    els.terms.replaceChildren(...sections);
    setText(els.termsEmpty, sections.length ? "" : "No additions yet.");
    if (hadFocus && !els.terms.contains(document.activeElement)) els.termText.focus();
  }

  async function onAddTerm(event) {
    event.preventDefault();
    setText(els.termError, "");
    els.termStatus.textContent = "";
    const group = els.termGroup.value;
    const term = els.termText.value.trim();
    if (!term) {
      setText(els.termError, "Type the term to add.");
      els.termText.focus();
      return;
    }
    els.termButton.disabled = true;
    try {
      const data = await conn.postJSON(urls.terms, {
        group,
        term,
        note: els.termNote.value.trim(),
      });
      els.termText.value = "";
      els.termNote.value = "";
      els.termStatus.textContent =
        "Added “" + term + "” to " + groupWords(group) + ". It takes effect within a few seconds.";
      if (data && data.policy_version) showVersion(data.policy_version);
      await loadTerms();
    } catch (error) {
      if (!conn.signedOut) setText(els.termError, failureText(error, "The term wasn't added."));
    } finally {
      els.termButton.disabled = false;
    }
  }

  async function onRemoveTerm(event) {
    const target = event.target.closest("[data-term-id]");
    if (!target || conn.signedOut) return;
    target.disabled = true;
    try {
      const data = await httpDelete(urls.terms + "/" + target.dataset.termId);
      els.termStatus.textContent =
        "Removed “" + target.dataset.term + "” from " + groupWords(target.dataset.group) + ".";
      if (data && data.policy_version) showVersion(data.policy_version);
      await loadTerms();
    } catch (error) {
      target.disabled = false;
      if (!conn.signedOut) setText(els.termError, failureText(error, "The term wasn't removed."));
    }
  }

  // Wiring ---------------------------------------------------------------------------------------

  for (const list of [els.waitingList, els.noticesList, els.decidedList]) {
    list.addEventListener("click", onCardClick);
  }
  els.tryForm.addEventListener("submit", onTry);
  els.tryText.addEventListener("keydown", (event) => {
    // Ctrl+Enter (or Cmd+Enter) checks; Enter alone is a new line, as in any text box.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) onTry(event);
  });
  els.tryMissed.addEventListener("click", () => reportTry("missed"));
  els.tryFine.addEventListener("click", () => reportTry("false_positive"));
  els.termForm.addEventListener("submit", onAddTerm);
  els.terms.addEventListener("click", onRemoveTerm);
  renderGroupOptions();
  categoryOptions(els.tryExpected, "method");

  window.setInterval(() => {
    for (const node of document.querySelectorAll(".review-age")) updateAge(node);
  }, AGE_EVERY_MS);

  conn.on("review_queue", (frame) => applyQueue(frame, { replace: true }));
  conn.on("review_item", onReviewItem);
  conn.on("filter_alert", onFilterAlert);
  conn.on("hello", (frame, { reconnected }) => {
    if (reconnected) loadTerms(); // other moderators may have changed them meanwhile
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !conn.signedOut) loadTerms();
  });

  conn.watch("moderation");
  loadTerms();
  // If the socket can't bring the queue (a proxy without websockets), the API can.
  window.setTimeout(() => {
    if (!queueLoaded && !conn.signedOut) refreshQueue();
  }, QUEUE_FALLBACK_MS);
})();
