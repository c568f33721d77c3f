// The console's escalations (DESIGN.md §8): someone may be in danger and a moderator must take
// it on. They come first on the page, open ones oldest first, with the count in the title, an
// assertive announcement and, once the moderator turns it on, a soft chime made with WebAudio
// (no audio files), rung again more insistently when nobody has taken one on in time.
//
// It watches the `escalations` topic on the console's connection (console.js): an `escalations`
// snapshot on every (re)watch and again after a server-side outage (it replaces the list), then
// an `escalation` frame for every step (replace the item by id). Taking one on, resolving it,
// reading the room's recent messages (audited) and raising one go through the JSON API
// (moderation/api/escalations.py); so does a safeguarding hold on the escalation's room, which
// keeps its messages and notes past the retention period (moderation/api/retention.py).
// Everything from the server reaches the page as text.
(function () {
  "use strict";

  const Peerchat = window.Peerchat;
  const Console = Peerchat && Peerchat.ModeratorConsole;
  if (!Console) return;
  const { app, conn, me, failureText, announce, announceNow, timeElement, parseTime, ageText } =
    Console;
  const { element, plural } = Peerchat.dom;
  const setText = Peerchat.dom.showText;
  const newId = Peerchat.dom.idMaker("escalation");
  const button = (text, className) => Peerchat.dom.button(text, className || "button button-small");

  const SNAPSHOT_FALLBACK_MS = 6000;
  const RESOLVED_SHOWN = 20;
  const NOTE_MAX_CHARS = 2000;
  const HOLD_REASON_MAX_CHARS = 500;
  const roomsUrl = app.dataset.roomsUrl || "/api/moderation/rooms";
  const SOUND_KEY = "peerchat.console.sound.v1." + me.handle;

  const byId = (id) => document.getElementById(id);
  const els = {
    panel: byId("escalations"),
    heading: byId("escalations-heading"),
    count: byId("escalations-count"),
    empty: byId("escalations-empty"),
    list: byId("escalations-list"),
    resolvedEmpty: byId("resolved-empty"),
    resolvedList: byId("resolved-list"),
    soundToggle: byId("sound-toggle"),
    soundTest: byId("sound-test"),
    soundState: byId("sound-state"),
  };
  if (!els.panel) return;
  const url = app.dataset.escalationsUrl;

  // Words ----------------------------------------------------------------------------------------

  const KIND_WORDS = {
    filter: "Imminent-danger wording",
    seeker: "The seeker asked for urgent help",
    supporter: "The supporter asked for urgent help",
    moderator: "A moderator raised it",
  };

  const STATE_WORDS = {
    open: "Needs a moderator",
    acknowledged: "Taken on",
    resolved: "Resolved",
  };

  // Who has been told so far, while nobody has taken it on.
  const STAGE_WORDS = {
    0: "Moderators on duty told",
    1: "Every moderator told",
    2: "On-call contact told",
  };

  // Who is told next, if nobody takes it on before `next_notice_at`.
  const NEXT_WORDS = {
    0: "Every moderator",
    1: "The on-call contact",
  };

  const SESSION_WORDS = { active: "chat going on", ended: "chat ended" };

  function person(who) {
    if (!who || !who.handle) return "someone";
    return who.role ? who.handle + " (" + who.role + ")" : who.handle;
  }

  function roomName(item) {
    return item.room_name || "a room";
  }

  // "1:20", "12:05", "1 h 05 min".
  function clock(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    if (s >= 3600) {
      const minutes = Math.floor((s % 3600) / 60);
      return Math.floor(s / 3600) + " h " + String(minutes).padStart(2, "0") + " min";
    }
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // Sound: a short, soft chime made with WebAudio ---------------------------------------------

  // Browsers keep audio off until the person has interacted with the page, so sound is a
  // choice the moderator makes with a button (remembered on this device), and the context is
  // resumed on their next click or key press if the browser started it suspended.
  const sound = { wanted: loadSoundChoice(), context: null, chimes: 0 };

  function loadSoundChoice() {
    try {
      return window.localStorage.getItem(SOUND_KEY) === "on";
    } catch (error) {
      return false;
    }
  }

  function saveSoundChoice() {
    try {
      window.localStorage.setItem(SOUND_KEY, sound.wanted ? "on" : "off");
    } catch (error) {
      // Storage may be off: the choice then lasts until the page is reloaded.
    }
  }

  // Made only inside a click or key press: a context made earlier starts suspended, and the
  // browser complains about it in the console.
  function audioContext() {
    if (sound.context) return sound.context;
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) return null;
    try {
      sound.context = new AudioContextClass();
    } catch (error) {
      return null;
    }
    sound.context.addEventListener("statechange", renderSound);
    return sound.context;
  }

  // The moderator clicked or pressed a key: the browser now lets a chosen sound start.
  function wakeAudio() {
    if (!sound.wanted) return;
    const context = audioContext();
    if (context && context.state === "suspended") {
      context
        .resume()
        .catch(() => {})
        .finally(renderSound);
    }
  }

  function soundState() {
    if (!sound.wanted) return "off";
    const context = sound.context;
    if (!(window.AudioContext || window.webkitAudioContext)) return "unavailable";
    if (!context || context.state !== "running") return "blocked";
    return "on";
  }

  function renderSound() {
    const state = soundState();
    els.panel.dataset.sound = state;
    els.soundToggle.textContent = sound.wanted ? "Turn off sound alerts" : "Turn on sound alerts";
    els.soundToggle.classList.toggle("button-quiet", sound.wanted);
    els.soundTest.hidden = !sound.wanted;
    els.soundState.textContent = {
      off: "Sound alerts are off. Turn them on to hear a chime when someone needs a moderator.",
      on:
        "Sound alerts are on: a soft chime when someone needs a moderator, and a stronger one " +
        "if nobody has taken it on in time.",
      blocked:
        "Sound alerts are on, but the browser is holding them back: click anywhere on this " +
        "page to let them play.",
      unavailable: "This browser can't play sound alerts. Keep an eye on this page's title.",
    }[state];
  }

  // One soft bell-like note: a quick rise, then a long, gentle fade.
  function note(context, frequency, at, { peak, length, type }) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = type;
    oscillator.frequency.setValueAtTime(frequency, at);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(peak, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
    oscillator.connect(gain);
    gain.connect(context.destination);
    oscillator.start(at);
    oscillator.stop(at + length + 0.05);
  }

  // "soft": two notes, for a new escalation. "insistent": three rising notes, twice, a little
  // louder, for one that nobody has taken on in time.
  function playChime(context, kind) {
    const start = context.currentTime + 0.05;
    if (kind === "insistent") {
      for (const offset of [0, 1.1]) {
        [659.25, 880, 1174.66].forEach((frequency, index) => {
          note(context, frequency, start + offset + index * 0.16, {
            peak: 0.22,
            length: 0.7,
            type: "triangle",
          });
        });
      }
      return;
    }
    note(context, 659.25, start, { peak: 0.12, length: 0.9, type: "sine" });
    note(context, 880, start + 0.2, { peak: 0.1, length: 1.1, type: "sine" });
  }

  // Ring for an alert; `data-chimes` on the panel counts the chimes rung (tests can't listen).
  function ring(kind) {
    if (!sound.wanted) return;
    const context = sound.context;
    if (!context || context.state !== "running") {
      renderSound(); // says how to let it play: a click anywhere on the page
      return;
    }
    playChime(context, kind);
    sound.chimes += 1;
    els.panel.dataset.chimes = String(sound.chimes);
    els.panel.dataset.lastChime = kind;
  }

  function onSoundToggle() {
    sound.wanted = !sound.wanted;
    saveSoundChoice();
    if (sound.wanted) {
      const context = audioContext();
      // Inside the click: the browser lets the context start now. The chime says it works.
      if (context) {
        context
          .resume()
          .then(() => {
            if (sound.wanted && context.state === "running") playChime(context, "soft");
          })
          .catch(() => {})
          .finally(renderSound);
      }
    }
    renderSound();
  }

  function onSoundTest() {
    const context = audioContext();
    if (!context) return;
    context
      .resume()
      .then(() => {
        if (context.state === "running") playChime(context, "soft");
      })
      .catch(() => {})
      .finally(renderSound);
  }

  // State --------------------------------------------------------------------------------------

  const items = new Map(); // id -> ITEM, as the server last described it
  const cards = new Map(); // id -> card (see cardOf)
  const fresh = new Set(); // open escalations that arrived live and have not been looked at
  let outcomes = [];
  let loaded = false;

  const STATE_RANK = { open: 0, acknowledged: 1, resolved: 2 };

  function validItem(item) {
    return item && typeof item === "object" && Number.isInteger(item.id);
  }

  // How far along an escalation is: it only ever moves forward, so an older description (an
  // HTTP answer and a socket frame can cross) never takes it back.
  function progress(item) {
    return [STATE_RANK[item.state] || 0, Number(item.stage) || 0, Number(item.trigger_count) || 0];
  }

  function behind(a, b) {
    const x = progress(a);
    const y = progress(b);
    for (let index = 0; index < x.length; index += 1) {
      if (x[index] !== y[index]) return x[index] < y[index];
    }
    return false;
  }

  function upsert(item) {
    if (!validItem(item)) return null;
    const known = items.get(item.id);
    if (known && behind(item, known)) return known;
    items.set(item.id, item);
    if (item.state !== "open") fresh.delete(item.id);
    return item;
  }

  // What the server says ------------------------------------------------------------------------

  // The snapshot: on every (re)watch, and again after an outage. It replaces the whole list.
  function applySnapshot(data) {
    if (!data || typeof data !== "object") return;
    if (Array.isArray(data.outcomes)) {
      outcomes = data.outcomes.filter((o) => o && typeof o.code === "string");
      for (const card of cards.values()) if (card.resolveForm) fillOutcomes(card.resolveForm);
    }
    const list = (Array.isArray(data.items) ? data.items : []).filter(validItem);
    const openBefore = new Set(
      Array.from(items.values())
        .filter((item) => item.state === "open")
        .map((item) => item.id),
    );
    const knownBefore = new Set(items.keys());
    const keep = new Set(list.map((item) => item.id));
    for (const id of Array.from(items.keys())) if (!keep.has(id)) items.delete(id);
    for (const item of list) upsert(item);
    const first = !loaded;
    loaded = true;
    Console.markLoaded("escalations");
    const open = list.filter((item) => items.get(item.id).state === "open");
    const appeared = open.filter((item) => !openBefore.has(item.id) && !knownBefore.has(item.id));
    if (!first) for (const item of appeared) fresh.add(item.id);
    render();
    if (first) {
      if (open.length) {
        announceNow(
          plural(open.length, "escalation needs", "escalations need") +
            " a moderator to take it on.",
        );
      }
      focusFromAddress();
    } else if (appeared.length) {
      // Opened while this page could not hear (a reconnect, a server outage).
      ring("soft");
      announceNow(
        appeared.length === 1
          ? "Someone may be in danger, in " + roomName(appeared[0]) + ". Needs a moderator."
          : appeared.length + " new escalations need a moderator.",
      );
    }
  }

  function onEscalation(frame) {
    const item = upsert(frame.item);
    if (!item) return;
    const by = typeof frame.by === "string" ? frame.by : null;
    const mine = by !== null && by === me.handle;
    const where = roomName(item);
    switch (frame.event) {
      case "opened":
        if (item.state === "open" && !mine) {
          fresh.add(item.id);
          ring("soft");
          announceNow(
            "Someone may be in danger, in " +
              where +
              ". " +
              (KIND_WORDS[item.kind] || item.kind_label || "") +
              ". Needs a moderator.",
          );
        }
        break;
      case "renotified":
      case "on_call":
        if (item.state === "open") {
          fresh.add(item.id);
          ring("insistent");
          announceNow(
            "Nobody has taken on the escalation in " +
              where +
              " yet. " +
              (frame.event === "on_call"
                ? "The on-call contact has been told."
                : "Every moderator has been told."),
          );
        }
        break;
      case "trigger_added":
        if (item.state !== "resolved" && !mine) {
          (item.state === "open" ? announceNow : announce)(
            "Another signal in " +
              where +
              ": " +
              plural(item.trigger_count, "signal", "signals") +
              " now.",
          );
        }
        break;
      case "acknowledged":
        if (!mine) announce((by || "Someone") + " has taken on the escalation in " + where + ".");
        break;
      case "resolved":
        if (!mine) {
          announce(
            (by || "Someone") +
              " resolved the escalation in " +
              where +
              (item.outcome_label ? ": " + item.outcome_label + "." : "."),
          );
        }
        break;
      default:
        break;
    }
    render();
  }

  async function refreshSnapshot() {
    try {
      applySnapshot(await conn.getJSON(url));
    } catch (error) {
      // The socket's next snapshot brings it.
    }
  }

  // Rendering -------------------------------------------------------------------------------------

  function render() {
    const current = [];
    const resolved = [];
    for (const item of items.values()) (item.state === "resolved" ? resolved : current).push(item);
    const at = (item, field) => String(item[field] || "");
    // Open ones first, oldest first; then those being handled, oldest first.
    current.sort(
      (a, b) =>
        (STATE_RANK[a.state] || 0) - (STATE_RANK[b.state] || 0) ||
        at(a, "opened_at").localeCompare(at(b, "opened_at")) ||
        a.id - b.id,
    );
    resolved.sort((a, b) => at(b, "resolved_at").localeCompare(at(a, "resolved_at")));
    const resolvedShown = resolved.slice(0, RESOLVED_SHOWN);

    const focused = document.activeElement;
    const shown = new Set();
    for (const [list, node] of [
      [current, els.list],
      [resolvedShown, els.resolvedList],
    ]) {
      for (const item of list) {
        shown.add(item.id);
        renderCard(cardOf(item.id), item);
      }
      Console.keyed(
        node,
        list.map((item) => cards.get(item.id).root),
      );
    }
    for (const [id, card] of cards) {
      if (!shown.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    if (focused && focused !== document.activeElement && focused.isConnected) {
      focused.focus({ preventScroll: true });
    }

    const open = current.filter((item) => item.state === "open").length;
    els.panel.dataset.open = String(open);
    els.count.textContent = open ? "(" + open + " open)" : "";
    setText(
      els.empty,
      !loaded
        ? "Loading…"
        : current.length
          ? ""
          : "Nobody needs a moderator right now. New escalations appear here by themselves.",
    );
    setText(els.resolvedEmpty, resolvedShown.length ? "" : "Nothing resolved recently.");
    if (loaded) Console.setCount("escalations", open);
    updateClocks();
  }

  // One card per escalation: its description is rebuilt on every change; its forms (resolve,
  // recent messages) are made once, so a note being typed survives updates.
  function cardOf(id) {
    let card = cards.get(id);
    if (card) return card;
    const root = element("li", "escalation-entry");
    root.id = "escalation-" + id;
    root.dataset.id = String(id);
    const article = element("article", "escalation");
    const titleId = newId("title");
    article.setAttribute("aria-labelledby", titleId);
    article.tabIndex = -1;
    const body = element("div", "escalation-body");
    const actions = element("div", "escalation-actions");
    const forms = element("div", "escalation-forms");
    const statusLine = element("p", "escalation-status");
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
      busy: null,
      resolveForm: null,
      holdForm: null,
      context: null,
      key: "",
    };
    article.addEventListener("focusin", () => clearFresh(card));
    article.addEventListener("pointerdown", () => clearFresh(card));
    cards.set(id, card);
    return card;
  }

  // Looked at: the "New" marks go, without rebuilding the buttons under the pointer.
  function clearFresh(card) {
    if (!fresh.delete(card.id)) return;
    card.article.classList.remove("is-new");
    const badge = card.body.querySelector(".review-new");
    if (badge) badge.remove();
    const item = items.get(card.id);
    if (item) card.key = cardKey(card, item);
  }

  function cardKey(card, item) {
    return JSON.stringify([item, fresh.has(item.id), card.busy, outcomes.length]);
  }

  function renderCard(card, item) {
    const key = cardKey(card, item);
    if (card.key === key) return;
    card.key = key;
    card.root.dataset.state = item.state || "";
    card.root.dataset.stage = String(item.stage || 0);
    card.article.className = "escalation escalation--" + (item.state || "open");
    if (fresh.has(item.id)) card.article.classList.add("is-new");
    if (item.state === "open" && item.stage > 0) card.article.classList.add("is-widened");
    renderBody(card, item);
    renderActions(card, item);
    if (item.state !== "acknowledged" && card.resolveForm) card.resolveForm.hidden = true;
  }

  function renderBody(card, item) {
    const parts = [];

    const badges = element("p", "escalation-badges");
    if (fresh.has(item.id)) badges.append(element("span", "review-badge review-new", "New"));
    badges.append(
      element(
        "span",
        "review-badge escalation-badge--" + (item.state || "open"),
        STATE_WORDS[item.state] || item.state || "",
      ),
    );
    if (item.state === "open") {
      badges.append(
        element(
          "span",
          "review-badge escalation-stage",
          STAGE_WORDS[item.stage] || item.stage_label || "",
        ),
      );
    }
    parts.push(badges);

    const title = element("h3", "escalation-title", roomName(item));
    title.id = card.titleId;
    parts.push(title);

    const what = element("p", "escalation-what");
    what.append(
      element("strong", null, KIND_WORDS[item.kind] || item.kind_label || item.kind || ""),
    );
    if (item.raised_by && item.raised_by.handle) {
      what.append(" · raised by " + person(item.raised_by));
    }
    parts.push(what);

    const when = element("p", "escalation-when");
    when.append("Opened ", timeElement(item.opened_at, "escalation-time"), " ");
    const age = element("span", "escalation-age");
    age.dataset.at = item.opened_at || "";
    when.append(age);
    const signals = Number(item.trigger_count) || 1;
    when.append(" · ", element("span", "escalation-signals", plural(signals, "signal", "signals")));
    if (signals > 1 && item.last_trigger_at) {
      when.append(" (latest ", timeElement(item.last_trigger_at), ")");
    }
    parts.push(when);

    if (item.state === "open") {
      const countdown = element("p", "escalation-countdown");
      countdown.dataset.at = item.next_notice_at || "";
      countdown.dataset.stage = String(item.stage || 0);
      parts.push(countdown);
    }

    if (item.acknowledged_by && item.state !== "open") {
      const taken = element("p", "escalation-taken");
      const you = item.acknowledged_by === me.handle;
      taken.append(element("strong", null, you ? "You" : item.acknowledged_by));
      taken.append(" took this on");
      if (item.acknowledged_at) taken.append(" at ", timeElement(item.acknowledged_at));
      taken.append(".");
      parts.push(taken);
    }

    if (item.session && typeof item.session === "object") {
      const session = item.session;
      const line = element("p", "escalation-session");
      const who = [];
      if (session.seeker) who.push(session.seeker + " (seeker)");
      if (session.supporter) who.push(session.supporter + " (supporter)");
      line.append("One-to-one chat" + (who.length ? ": " + who.join(" with ") : ""));
      const state = SESSION_WORDS[session.state] || session.state;
      if (state) line.append(" · " + state);
      if (session.paused) line.append(" · ", element("strong", null, "paused by a moderator"));
      parts.push(line);
    } else if (item.room_kind === "group") {
      parts.push(element("p", "escalation-session", "Group room"));
    }

    if (item.hold && typeof item.hold === "object") {
      const hold = element("p", "escalation-hold");
      hold.append(element("strong", null, "Safeguarding hold: "));
      hold.append(
        "this chat's messages and notes are kept past the retention period until it's released. ",
      );
      hold.append(
        "Placed by " + (item.hold.placed_by === me.handle ? "you" : item.hold.placed_by || "a moderator"),
      );
      if (item.hold.placed_at) hold.append(" at ", timeElement(item.hold.placed_at));
      hold.append(".");
      parts.push(hold);
      if (item.hold.reason) {
        const why = element("p", "escalation-note");
        why.append(element("span", "review-label", "Why: "), item.hold.reason);
        parts.push(why);
      }
    }

    const triggers = Array.isArray(item.triggers) ? item.triggers : [];
    if (triggers.length) {
      const heading = element(
        "p",
        "escalation-triggers-heading",
        signals > triggers.length
          ? "The latest " + triggers.length + " of " + signals + " signals"
          : signals === 1
            ? "What raised it"
            : "Signals",
      );
      const list = element("ol", "escalation-triggers");
      list.setAttribute("aria-label", heading.textContent);
      for (const trigger of triggers) list.append(triggerItem(trigger));
      parts.push(heading, list);
    }

    if (item.state === "resolved") {
      const done = element("p", "escalation-resolved");
      done.append(element("strong", null, item.outcome_label || item.outcome || "Resolved"));
      done.append(
        " · resolved by " +
          (item.resolved_by === me.handle ? "you" : item.resolved_by || "a moderator"),
      );
      if (item.resolved_at) done.append(" at ", timeElement(item.resolved_at));
      parts.push(done);
      if (item.resolution_note) {
        const resolutionNote = element("p", "escalation-note");
        resolutionNote.append(element("span", "review-label", "Note: "), item.resolution_note);
        parts.push(resolutionNote);
      }
    }
    card.body.replaceChildren(...parts);
  }

  function triggerItem(trigger) {
    const li = element("li", "escalation-trigger");
    const meta = element("p", "escalation-trigger-meta");
    meta.append(
      timeElement(trigger.at),
      " · ",
      element("span", "escalation-trigger-kind", KIND_WORDS[trigger.kind] || trigger.kind || ""),
    );
    if (trigger.by && trigger.by.handle) meta.append(" · " + person(trigger.by));
    li.append(meta);
    const message = trigger.message;
    if (message && typeof message === "object") {
      const quote = element("blockquote", "escalation-excerpt");
      if (message.excerpt) {
        quote.append(element("p", null, message.excerpt));
      } else {
        quote.append(element("p", "escalation-removed", "This message has since been removed."));
      }
      if (Number.isInteger(message.seq)) {
        quote.append(
          element("p", "escalation-excerpt-seq", "Message " + message.seq + " in the room"),
        );
      }
      li.append(quote);
    }
    if (trigger.note) {
      const noteLine = element("p", "escalation-trigger-note");
      noteLine.append(element("span", "review-label", "Note: "), trigger.note);
      li.append(noteLine);
    }
    return li;
  }

  function renderActions(card, item) {
    const busy = card.busy;
    const made = [];
    if (item.state === "open") {
      const take = button(busy === "acknowledge" ? "Taking it on…" : "Take this on", "button");
      take.dataset.act = "acknowledge";
      take.classList.add("escalation-take");
      made.push(take);
    }
    if (item.state === "acknowledged") {
      const open = Boolean(card.resolveForm && !card.resolveForm.hidden);
      const resolve = button("Resolve", "button button-small");
      resolve.dataset.act = "resolve";
      resolve.setAttribute("aria-expanded", String(open));
      made.push(resolve);
    }
    const holdOpen = Boolean(card.holdForm && !card.holdForm.hidden);
    const hold = item.hold
      ? button("Release the hold", "button button-quiet button-small")
      : button("Keep this chat's record", "button button-quiet button-small");
    hold.dataset.act = "hold";
    hold.setAttribute("aria-expanded", String(holdOpen));
    made.push(hold);
    const contextOpen = Boolean(card.context && !card.context.root.hidden);
    const recent = button(
      contextOpen ? "Hide recent messages" : "Recent messages",
      "button button-quiet button-small",
    );
    recent.dataset.act = "context";
    recent.setAttribute("aria-expanded", String(contextOpen));
    made.push(recent);
    if (Console.roomActions) {
      for (const extra of Console.roomActions(item)) made.push(extra);
    }
    for (const node of made) if (busy) node.disabled = true;
    const hadFocus = card.actions.contains(document.activeElement)
      ? document.activeElement.dataset.act
      : null;
    const row = element("div", "review-buttons");
    row.append(...made);
    if (!contextOpen) {
      row.append(element("span", "escalation-recorded", "Opening recent messages is recorded."));
    }
    card.actions.replaceChildren(row);
    if (hadFocus) {
      const again = row.querySelector("[data-act='" + hadFocus + "']");
      if (again && !again.disabled) again.focus();
      else card.article.focus();
    }
  }

  // Clocks: "opened 3 min ago" and the countdown to the next, wider notice -------------------

  function updateClocks() {
    const now = Date.now();
    for (const node of els.panel.querySelectorAll(".escalation-age")) {
      const text = ageText(node.dataset.at);
      const value = !text ? "" : text === "just now" ? "(just now)" : "(" + text + " ago)";
      if (node.textContent !== value) node.textContent = value;
    }
    for (const node of els.list.querySelectorAll(".escalation-countdown")) {
      const stage = Number(node.dataset.stage) || 0;
      const due = parseTime(node.dataset.at);
      let value;
      if (!due || !NEXT_WORDS[stage]) {
        value = "The on-call contact has been told. Please take this on if you can.";
      } else {
        const left = (due.getTime() - now) / 1000;
        value =
          left > 0
            ? NEXT_WORDS[stage] + " will be told in " + clock(left) + " if nobody takes this on."
            : NEXT_WORDS[stage] + " is being told now.";
      }
      if (node.textContent !== value) node.textContent = value;
    }
  }

  // Card actions -------------------------------------------------------------------------------

  function cardStatus(card, text, { tone = "" } = {}) {
    card.statusLine.textContent = text || "";
    card.statusLine.dataset.tone = text ? tone : "";
  }

  function onCardClick(event) {
    const target = event.target.closest("[data-act]");
    if (!target || target.disabled) return;
    const root = target.closest(".escalation-entry");
    if (!root) return;
    const card = cards.get(Number(root.dataset.id));
    if (!card) return;
    const act = target.dataset.act;
    if (act === "acknowledge") acknowledge(card);
    else if (act === "resolve") toggleResolveForm(card);
    else if (act === "context") toggleContext(card);
    else if (act === "hold") toggleHoldForm(card);
  }

  async function acknowledge(card) {
    if (card.busy || conn.signedOut) return;
    card.busy = "acknowledge";
    cardStatus(card, "");
    render();
    try {
      const data = await conn.postJSON(url + "/" + card.id + "/acknowledge", {});
      card.busy = null;
      upsert(data && data.item);
      fresh.delete(card.id);
      render();
      cardStatus(
        card,
        "You've taken this on. The other moderators, and the supporters in the room, can see " +
          "that you're handling it.",
      );
      announce("You've taken on the escalation in " + roomName(items.get(card.id)) + ".");
    } catch (error) {
      card.busy = null;
      if (conn.signedOut) return;
      if (error.status === 409) {
        // Someone else was quicker: say who, calmly, and show the escalation as it is now.
        cardStatus(card, failureText(error, "Someone else has already taken this on."), {
          tone: "calm",
        });
        await refreshSnapshot();
      } else {
        cardStatus(card, failureText(error, "That didn't go through."), { tone: "problem" });
      }
      render();
    }
  }

  // Resolving ------------------------------------------------------------------------------------

  function toggleResolveForm(card) {
    if (card.resolveForm && !card.resolveForm.hidden) {
      card.resolveForm.hidden = true;
      card.key = "";
      render();
      return;
    }
    if (!card.resolveForm) {
      card.resolveForm = makeResolveForm(card);
      card.forms.prepend(card.resolveForm);
    }
    card.resolveForm.hidden = false;
    card.key = "";
    render();
    card.resolveForm.querySelector("select").focus();
  }

  function fillOutcomes(form) {
    const select = form.querySelector("select");
    const chosen = select.value;
    const blank = element("option", null, "Choose what happened");
    blank.value = "";
    select.replaceChildren(
      blank,
      ...outcomes.map((outcome) => {
        const option = element("option", null, outcome.label || outcome.code);
        option.value = outcome.code;
        return option;
      }),
    );
    select.value = chosen;
  }

  function makeResolveForm(card) {
    const form = element("form", "review-form escalation-resolve");
    form.noValidate = true;
    const selectId = newId("outcome");
    const label = element("label", null, "What happened");
    label.htmlFor = selectId;
    const select = element("select");
    select.id = selectId;
    select.name = "outcome";
    const noteId = newId("resolution");
    const noteLabel = element("label", null, "Note for the team (required)");
    noteLabel.htmlFor = noteId;
    const noteBox = element("textarea");
    noteBox.id = noteId;
    noteBox.name = "note";
    noteBox.rows = 3;
    noteBox.maxLength = NOTE_MAX_CHARS;
    const problem = element("p", "form-error");
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    const save = element("button", "button button-small", "Mark as resolved");
    save.type = "submit";
    const cancel = button("Cancel", "button button-quiet button-small");
    const row = element("div", "review-buttons");
    row.append(save, cancel);
    form.append(label, select, noteLabel, noteBox, problem, row);
    fillOutcomes(form);
    cancel.addEventListener("click", () => {
      toggleResolveForm(card);
      const opener = card.actions.querySelector("[data-act='resolve']");
      if (opener) opener.focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setText(problem, "");
      if (!select.value) {
        setText(problem, "Choose what happened.");
        select.focus();
        return;
      }
      if (!noteBox.value.trim()) {
        setText(problem, "Write a short note on what happened.");
        noteBox.focus();
        return;
      }
      save.disabled = true;
      try {
        const data = await conn.postJSON(url + "/" + card.id + "/resolve", {
          outcome: select.value,
          note: noteBox.value.trim(),
        });
        const next = nextCardAfter(card);
        noteBox.value = "";
        select.value = "";
        form.hidden = true;
        upsert(data && data.item);
        render();
        const item = items.get(card.id);
        cardStatus(card, "Resolved: " + ((item && item.outcome_label) || "done") + ".");
        announce("Resolved. It's under Recently resolved now.");
        focusAfterResolve(next);
      } catch (error) {
        if (conn.signedOut) return;
        setText(problem, failureText(error, "It wasn't resolved."));
        if (error.status === 409) await refreshSnapshot();
      } finally {
        save.disabled = false;
      }
    });
    form.hidden = true;
    return form;
  }

  // Safeguarding hold: keep the room's record past retention, or let it go -------------------

  function toggleHoldForm(card) {
    const item = items.get(card.id);
    if (!item) return;
    const mode = item.hold ? "release" : "place";
    if (card.holdForm && !card.holdForm.hidden && card.holdForm.dataset.mode === mode) {
      card.holdForm.hidden = true;
      card.key = "";
      render();
      return;
    }
    if (card.holdForm) card.holdForm.remove();
    card.holdForm = makeHoldForm(card, mode);
    card.forms.prepend(card.holdForm);
    card.key = "";
    render();
    card.holdForm.querySelector("textarea").focus();
  }

  function makeHoldForm(card, mode) {
    const placing = mode === "place";
    const form = element("form", "review-form escalation-hold-form");
    form.noValidate = true;
    form.dataset.mode = mode;
    const noteId = newId("hold");
    const lead = element(
      "p",
      "panel-lead",
      placing
        ? "A safeguarding hold keeps this chat's messages and notes past the retention period, " +
            "for a referral, a complaint or a review. Placing it is recorded."
        : "Releasing the hold lets the next purge clear what is past the retention period. " +
            "Releasing it is recorded.",
    );
    const label = element(
      "label",
      null,
      placing ? "Why must the record be kept? (staff only, required)" : "Note (optional)",
    );
    label.htmlFor = noteId;
    const box = element("textarea");
    box.id = noteId;
    box.rows = 2;
    box.maxLength = HOLD_REASON_MAX_CHARS;
    const problem = element("p", "form-error");
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    const save = element(
      "button",
      "button button-small",
      placing ? "Place safeguarding hold" : "Release the hold",
    );
    save.type = "submit";
    const cancel = button("Cancel", "button button-quiet button-small");
    const row = element("div", "review-buttons");
    row.append(save, cancel);
    form.append(lead, label, box, problem, row);
    cancel.addEventListener("click", () => {
      form.hidden = true;
      card.key = "";
      render();
      const opener = card.actions.querySelector("[data-act='hold']");
      if (opener) opener.focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setText(problem, "");
      const text = box.value.trim();
      if (placing && !text) {
        setText(problem, "Say why the record must be kept.");
        box.focus();
        return;
      }
      const item = items.get(card.id);
      if (!item) return;
      save.disabled = true;
      try {
        const base = roomsUrl + "/" + item.room + "/hold";
        const data = placing
          ? await conn.postJSON(base, { reason: text, escalation: card.id })
          : await conn.postJSON(base + "/release", { note: text });
        const hold = data && data.hold && data.hold.active ? data.hold : null;
        items.set(card.id, { ...items.get(card.id), hold });
        box.value = "";
        form.hidden = true;
        card.key = "";
        render();
        cardStatus(
          card,
          hold
            ? "Safeguarding hold placed: this chat's record is kept until it's released."
            : "Hold released: the next purge clears what is past the retention period.",
        );
        const opener = card.actions.querySelector("[data-act='hold']");
        if (opener) opener.focus();
      } catch (error) {
        if (conn.signedOut) return;
        setText(problem, failureText(error, placing ? "The hold wasn't placed." : "It wasn't released."));
        if (error.status === 404 || error.status === 409) await refreshSnapshot();
      } finally {
        save.disabled = false;
      }
    });
    return form;
  }

  function nextCardAfter(card) {
    const next = card.root.nextElementSibling || card.root.previousElementSibling;
    return next ? Number(next.dataset.id) : null;
  }

  function focusAfterResolve(nextId) {
    const next = nextId !== null ? cards.get(nextId) : null;
    if (next && next.root.parentElement === els.list) next.article.focus();
    else els.heading.focus();
  }

  // Recent messages: fetched only when asked for (each read is recorded) --------------------

  function toggleContext(card) {
    if (card.context && !card.context.root.hidden) {
      card.context.root.hidden = true;
      card.context.list.replaceChildren();
      card.key = "";
      render();
      return;
    }
    if (!card.context) {
      const root = element("section", "escalation-context");
      const headingId = newId("context");
      const heading = element("h4", "escalation-context-heading", "Recent messages");
      heading.id = headingId;
      heading.tabIndex = -1;
      root.setAttribute("aria-labelledby", headingId);
      const lead = element("p", "escalation-context-lead");
      const list = element("ol", "escalation-context-list");
      root.append(heading, lead, list);
      card.context = { root, heading, lead, list };
      card.forms.append(root);
    }
    card.context.root.hidden = false;
    card.key = "";
    render();
    loadContext(card);
  }

  async function loadContext(card) {
    const { lead, list, heading } = card.context;
    lead.textContent = "Loading…";
    list.replaceChildren();
    try {
      const data = await conn.getJSON(url + "/" + card.id + "/context");
      const messages = Array.isArray(data && data.messages) ? data.messages : [];
      const item = items.get(card.id) || {};
      const raised = new Set(
        (Array.isArray(item.triggers) ? item.triggers : [])
          .map((trigger) => trigger.message && trigger.message.seq)
          .filter(Number.isInteger),
      );
      lead.textContent = messages.length
        ? "The last " +
          plural(messages.length, "message", "messages") +
          " in the room, " +
          "oldest first. Reading them is recorded in the audit log."
        : "No messages in this room yet. Reading it is recorded in the audit log.";
      list.replaceChildren(...messages.map((message) => contextMessage(message, raised)));
      heading.focus();
    } catch (error) {
      if (!conn.signedOut)
        lead.textContent = failureText(error, "The messages couldn't be loaded.");
    }
  }

  function contextMessage(message, raised) {
    const li = element("li", "escalation-context-message");
    li.dataset.seq = String(message.seq);
    const sender = message.sender || {};
    const meta = element("p", "escalation-context-meta");
    meta.append(
      element("strong", null, sender.handle || "Someone"),
      sender.role ? " (" + sender.role + ")" : "",
      " · ",
      timeElement(message.sent_at),
      " · message " + message.seq,
    );
    if (raised.has(message.seq)) {
      li.classList.add("is-trigger");
      meta.append(" ", element("span", "review-badge review-badge--danger", "Raised the alert"));
    }
    li.append(meta);
    if (message.removed) {
      li.append(element("p", "escalation-removed", "Message removed."));
    } else {
      li.append(element("p", "escalation-context-body", message.body || ""));
    }
    return li;
  }

  // Arriving from a link (`/moderation/#escalation-42`, the hooks' console_url) ----------------

  function focusFromAddress() {
    const match = /^#escalation-(\d+)$/.exec(window.location.hash);
    if (!match) return;
    const card = cards.get(Number(match[1]));
    if (!card) return;
    card.article.focus({ preventScroll: true });
    card.root.scrollIntoView({ block: "center" });
  }

  // Wiring ---------------------------------------------------------------------------------------

  els.list.addEventListener("click", onCardClick);
  els.resolvedList.addEventListener("click", onCardClick);
  els.soundToggle.addEventListener("click", onSoundToggle);
  els.soundTest.addEventListener("click", onSoundTest);
  // A suspended audio context may start on the moderator's next click or key press.
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, wakeAudio, { capture: true });
  }
  window.addEventListener("hashchange", focusFromAddress);
  renderSound();
  render();

  conn.on("escalations", applySnapshot);
  conn.on("escalation", onEscalation);
  conn.on("tick", updateClocks);
  conn.watch("escalations");
  // If the socket can't bring the list (a proxy without websockets), the API can.
  window.setTimeout(() => {
    if (!loaded && !conn.signedOut) refreshSnapshot();
  }, SNAPSHOT_FALLBACK_MS);

  // For the rooms part (rooms.js): the escalation of a room, and a new one raised there.
  Console.escalations = {
    forRoom(roomId) {
      for (const item of items.values()) {
        if (item.room === roomId && item.state !== "resolved") return item;
      }
      return null;
    },
    show(item) {
      if (upsert(item)) render();
    },
    refresh: refreshSnapshot,
    url,
  };
})();
