// The console's rooms: the active one-to-one chats and open groups (no text), and the observe
// view of one of them, in the page so the escalations stay in sight.
//
// The list comes from GET /api/moderation/rooms, again every 30 s, after every escalation
// step and after each action here. Observing is a Peerchat.RoomPane with `{ observe: true }`
// (read-only, live; the socket's `observe` frame, audited by the server) beside the room's
// Peerchat.Whispers thread with its supporters. From there a moderator joins openly (the
// pane becomes an ordinary one with a composer), removes a message (RoomPane's
// `messageActions`), pauses, resumes or ends a one-to-one chat (each with a confirm step) or
// raises an escalation. Routes: docs/api.md, "Moderator oversight".
(function () {
  "use strict";

  const Peerchat = window.Peerchat;
  const Console = Peerchat && Peerchat.ModeratorConsole;
  if (!Console || !Peerchat.RoomPane) return;
  const { app, conn, me, failureText, announce, timeElement, ageText } = Console;
  const { element } = Peerchat.dom;
  const setText = Peerchat.dom.showText;
  const newId = Peerchat.dom.idMaker("rooms");
  const button = (text, className) => Peerchat.dom.button(text, className || "button button-small");

  const REFRESH_EVERY_MS = 30000;
  const REFRESH_SOON_MS = 400;
  const LEFT_WAIT_MS = 3000;

  const byId = (id) => document.getElementById(id);
  const els = {
    panel: byId("rooms"),
    heading: byId("rooms-heading"),
    count: byId("rooms-count"),
    empty: byId("rooms-empty"),
    list: byId("rooms-list"),
    observe: byId("observe"),
    observeHeading: byId("observe-heading"),
    observeLead: byId("observe-lead"),
    observeClose: byId("observe-close"),
    join: byId("observe-join"),
    leave: byId("observe-leave"),
    pause: byId("observe-pause"),
    resume: byId("observe-resume"),
    end: byId("observe-end"),
    raise: byId("observe-raise"),
    confirm: byId("observe-confirm"),
    confirmText: byId("observe-confirm-text"),
    confirmNote: byId("observe-confirm-note"),
    confirmYes: byId("observe-confirm-yes"),
    confirmNo: byId("observe-confirm-no"),
    raiseForm: byId("observe-raise-form"),
    raiseNote: byId("observe-raise-note"),
    raiseNo: byId("observe-raise-no"),
    removeForm: byId("remove-form"),
    removeWhat: byId("remove-what"),
    removeReason: byId("remove-reason"),
    removeNo: byId("remove-no"),
    removeError: byId("remove-error"),
    status: byId("observe-status"),
    paneBox: byId("observe-pane"),
    whispersBox: byId("observe-whispers"),
  };
  if (!els.panel || !els.observe) return;
  const url = app.dataset.roomsUrl; // "/api/moderation/rooms"
  const escalationsUrl = app.dataset.escalationsUrl;

  // The list -----------------------------------------------------------------------------------

  const rooms = new Map(); // room id -> entry from the API (sessions and groups alike)
  const entries = new Map(); // room id -> { root, body, actions, forms, raiseForm, key }
  let loaded = false;
  let refreshTimer = null;

  function label(room) {
    if (!room) return "";
    if (room.kind === "group") return room.name || "Group room";
    const seeker = (room.seeker && room.seeker.handle) || "someone";
    const supporter = (room.supporter && room.supporter.handle) || "no supporter";
    return "Chat: " + seeker + " with " + supporter;
  }

  async function loadRooms() {
    if (conn.signedOut) return;
    try {
      const data = await conn.getJSON(url);
      const list = [
        ...(Array.isArray(data && data.sessions) ? data.sessions : []),
        ...(Array.isArray(data && data.groups) ? data.groups : []),
      ].filter((room) => room && Number.isInteger(room.room));
      rooms.clear();
      for (const room of list) rooms.set(room.room, room);
      loaded = true;
      renderRooms();
      renderObserveControls();
    } catch (error) {
      if (!conn.signedOut && !loaded) {
        setText(els.empty, failureText(error, "The rooms couldn't be loaded just now."));
      }
    }
  }

  function refreshSoon() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(loadRooms, REFRESH_SOON_MS);
  }

  function renderRooms() {
    const list = Array.from(rooms.values());
    const focused = document.activeElement;
    for (const room of list) renderEntry(entryOf(room.room), room);
    Console.keyed(
      els.list,
      list.map((room) => entries.get(room.room).root),
    );
    for (const [id, entry] of entries) {
      if (!rooms.has(id)) {
        entry.root.remove();
        entries.delete(id);
      }
    }
    if (focused && focused !== document.activeElement && focused.isConnected) {
      focused.focus({ preventScroll: true });
    }
    const chats = list.filter((room) => room.kind !== "group").length;
    const groups = list.length - chats;
    els.count.textContent = list.length ? "(" + list.length + ")" : "";
    setText(
      els.empty,
      !loaded
        ? "Loading…"
        : list.length
          ? ""
          : "No chats or groups are going on right now. This list updates by itself.",
    );
    els.panel.dataset.chats = String(chats);
    els.panel.dataset.groups = String(groups);
  }

  function entryOf(id) {
    let entry = entries.get(id);
    if (entry) return entry;
    const root = element("li", "room-entry");
    root.dataset.room = String(id);
    const article = element("article", "room-card");
    const titleId = newId("room-title");
    article.setAttribute("aria-labelledby", titleId);
    const body = element("div", "room-card-body");
    const actions = element("div", "room-card-actions");
    const forms = element("div", "room-card-forms");
    const statusLine = element("p", "room-card-status");
    statusLine.setAttribute("role", "status");
    article.append(body, actions, forms, statusLine);
    root.append(article);
    entry = {
      id,
      root,
      article,
      titleId,
      body,
      actions,
      forms,
      statusLine,
      raiseForm: null,
      key: "",
    };
    entries.set(id, entry);
    return entry;
  }

  function renderEntry(entry, room) {
    const watching = view && view.room === room.room;
    const key = JSON.stringify([room, watching, view && view.mode]);
    if (entry.key === key) return;
    entry.key = key;
    entry.root.dataset.kind = room.kind;
    entry.article.className = "room-card" + (room.escalation ? " room-card--escalated" : "");

    const parts = [];
    const title = element("h3", "room-card-title", label(room));
    title.id = entry.titleId;
    parts.push(title);

    const badges = element("p", "review-badges");
    if (room.escalation) {
      const state = room.escalation.state;
      badges.append(
        element(
          "span",
          "review-badge escalation-badge--" + state,
          state === "open"
            ? "Escalation: needs a moderator"
            : "Escalation taken on by " + (room.escalation.acknowledged_by || "a moderator"),
        ),
      );
    }
    if (room.urgent)
      badges.append(element("span", "review-badge room-badge--urgent", "Asked as urgent"));
    if (room.paused) {
      badges.append(
        element(
          "span",
          "review-badge room-badge--paused",
          "Paused" + (room.paused_by ? " by " + room.paused_by : ""),
        ),
      );
    }
    for (const moderator of Array.isArray(room.moderators) ? room.moderators : []) {
      const you = moderator.handle === me.handle;
      const mode = moderator.mode === "joined" ? "joined" : "observing";
      badges.append(
        element(
          "span",
          "review-badge room-badge--present",
          you
            ? mode === "joined"
              ? "You joined"
              : "You're observing"
            : moderator.handle + (mode === "joined" ? " joined" : " observing"),
        ),
      );
    }
    if (badges.childElementCount) parts.push(badges);

    const meta = element("p", "room-card-meta");
    if (room.kind === "group") {
      meta.append(
        "Group · led by " + ((room.facilitator && room.facilitator.handle) || "a supporter"),
      );
      if (Number.isInteger(room.members)) {
        meta.append(
          " · " +
            room.members +
            (Number.isInteger(room.max_members) ? " of " + room.max_members : "") +
            " taking part",
        );
      }
      if (room.ends_at) meta.append(" · until ", timeElement(room.ends_at));
    } else {
      meta.append("One-to-one chat · started ", timeElement(room.started_at));
      const age = ageText(room.started_at);
      if (age) meta.append(age === "just now" ? " (just now)" : " (" + age + " ago)");
      if (room.phase) meta.append(" · " + room.phase);
    }
    const last = ageText(room.last_message_at);
    meta.append(
      " · " +
        (room.last_message_at
          ? "last message " + (last === "just now" ? "just now" : last + " ago")
          : "no messages yet"),
    );
    parts.push(meta);
    entry.body.replaceChildren(...parts);

    const made = [];
    const observeButton = button(
      watching ? "Open below" : "Observe",
      watching ? "button button-quiet button-small" : "button button-small",
    );
    observeButton.dataset.act = "observe";
    observeButton.setAttribute("aria-label", (watching ? "Go to " : "Observe ") + label(room));
    made.push(observeButton);
    const joinButton = button("Join openly", "button button-quiet button-small");
    joinButton.dataset.act = "join";
    joinButton.setAttribute("aria-label", "Join " + label(room) + " openly");
    const joinedAlready = (room.moderators || []).some(
      (m) => m.handle === me.handle && m.mode === "joined",
    );
    if (!joinedAlready) made.push(joinButton);
    const raiseButton = button("Raise an escalation", "button button-quiet button-small");
    raiseButton.dataset.act = "raise";
    raiseButton.setAttribute("aria-label", "Raise an escalation for " + label(room));
    raiseButton.setAttribute(
      "aria-expanded",
      String(Boolean(entry.raiseForm && !entry.raiseForm.hidden)),
    );
    made.push(raiseButton);
    const hadFocus = entry.actions.contains(document.activeElement)
      ? document.activeElement.dataset.act
      : null;
    const row = element("div", "review-buttons");
    row.append(...made);
    entry.actions.replaceChildren(row);
    if (hadFocus) {
      const again = row.querySelector("[data-act='" + hadFocus + "']");
      if (again) again.focus();
    }
  }

  function entryStatus(entry, text, { problem = false } = {}) {
    entry.statusLine.textContent = text || "";
    entry.statusLine.classList.toggle("is-problem", Boolean(problem && text));
  }

  function onListClick(event) {
    const target = event.target.closest("[data-act]");
    if (!target || target.disabled) return;
    const root = target.closest(".room-entry");
    if (!root) return;
    const id = Number(root.dataset.room);
    const entry = entries.get(id);
    const room = rooms.get(id);
    if (!entry || !room) return;
    const act = target.dataset.act;
    if (act === "observe") openRoom(id, { label: label(room), kind: room.kind });
    else if (act === "join") joinOpenly(id, { label: label(room), kind: room.kind, from: entry });
    else if (act === "raise") toggleRaiseForm(entry);
  }

  // Raising an escalation for a room from the list.
  function toggleRaiseForm(entry) {
    if (!entry.raiseForm) {
      entry.raiseForm = raiseForm({
        onCancel: () => toggleRaiseForm(entry),
        onDone: (text) => {
          toggleRaiseForm(entry);
          entryStatus(entry, text);
        },
        onProblem: (text) => entryStatus(entry, text, { problem: true }),
        room: () => entry.id,
      });
      entry.raiseForm.hidden = true;
      entry.forms.append(entry.raiseForm);
    }
    entry.raiseForm.hidden = !entry.raiseForm.hidden;
    entry.key = "";
    renderRooms();
    if (!entry.raiseForm.hidden) entry.raiseForm.querySelector("textarea").focus();
    else {
      const opener = entry.actions.querySelector("[data-act='raise']");
      if (opener) opener.focus();
    }
  }

  function raiseForm({ onCancel, onDone, onProblem, room }) {
    const form = element("form", "review-form room-raise");
    form.noValidate = true;
    const noteId = newId("raise-note");
    const noteLabel = element("label", null, "Why are you raising it? (for the team)");
    noteLabel.htmlFor = noteId;
    const note = element("textarea");
    note.id = noteId;
    note.rows = 2;
    note.maxLength = 2000;
    const send = element("button", "button button-small", "Raise escalation");
    send.type = "submit";
    const cancel = button("Cancel", "button button-quiet button-small");
    const row = element("div", "review-buttons");
    row.append(send, cancel);
    form.append(noteLabel, note, row);
    cancel.addEventListener("click", onCancel);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      const text = await raiseEscalation(room(), note.value.trim(), onProblem);
      send.disabled = false;
      if (text) {
        note.value = "";
        onDone(text);
      }
    });
    return form;
  }

  // POST /api/moderation/escalations; the words to show, or null when it failed.
  async function raiseEscalation(roomId, note, onProblem) {
    try {
      const data = await conn.postJSON(escalationsUrl, { room: roomId, note });
      if (Console.escalations && data && data.item) Console.escalations.show(data.item);
      refreshSoon();
      const text =
        data && data.created === false
          ? "This room already had an escalation open: your note was added to it."
          : "Escalation raised. It's at the top of the page until someone takes it on.";
      announce(text);
      return text;
    } catch (error) {
      if (!conn.signedOut) onProblem(failureText(error, "The escalation wasn't raised."));
      return null;
    }
  }

  // The observe view -------------------------------------------------------------------------

  // view: { room, label, kind, mode: "observing" | "joined", pane, whispers, session }
  let view = null;

  function say(text, { problem = false } = {}) {
    els.status.textContent = text || "";
    els.status.classList.toggle("is-problem", Boolean(problem && text));
  }

  function openRoom(roomId, { label: name = "", kind = null, mode = null, focus = true } = {}) {
    const room = rooms.get(roomId);
    const joined =
      mode === "joined" ||
      (mode === null &&
        Boolean(
          room &&
          (room.moderators || []).some((m) => m.handle === me.handle && m.mode === "joined"),
        ));
    if (view && view.room === roomId) {
      if (joined && view.mode !== "joined") switchMode("joined");
      if (focus) focusView();
      return;
    }
    closeView({ quiet: true });
    view = {
      room: roomId,
      label: name || (room ? label(room) : "Room " + roomId),
      kind: kind || (room && room.kind) || null,
      mode: joined ? "joined" : "observing",
      pane: null,
      whispers: null,
      session: null,
      ended: false,
    };
    els.observe.hidden = false;
    els.observe.dataset.room = String(roomId);
    hideForms();
    say("");
    view.whispers = new Peerchat.Whispers(els.whispersBox, {
      connection: conn,
      room: roomId,
      headingLevel: 3,
      timeZone: app.dataset.timeZone,
      heading: "Notes with the supporters",
      label: "Write to the supporters",
      privacy: "Only staff can see these notes: the seeker never does.",
      empty: "No notes yet. Write to the room's supporters here; they can reply.",
      send: "Send note",
    });
    makePane();
    setAddress("#room-" + roomId);
    renderObserveControls();
    renderRooms();
    if (focus) focusView();
  }

  function makePane() {
    const observing = view.mode === "observing";
    view.pane = new Peerchat.RoomPane(els.paneBox, {
      connection: conn,
      room: view.room,
      name: view.label,
      headingLevel: 3,
      note: null,
      observe: observing,
      ids: {
        root: "observe-room",
        title: "observe-room-title",
        messages: "observe-messages",
        input: "observe-input",
        send: "observe-send",
      },
      emptyText: "No messages yet.",
      endedText: "This chat has ended. You can still read it here.",
      messageActions: messageActions,
      onJoined: (frame) => {
        if (!view || frame.room !== view.room) return;
        if (frame.kind) view.kind = frame.kind;
        if (frame.name) {
          view.label = frame.name;
          renderHeading();
        }
        renderObserveControls();
        refreshSoon(); // the list shows who is present now
      },
      onSession: (frame) => {
        if (!view || frame.room !== view.room) return;
        view.session = frame;
        view.ended = frame.state === "ended";
        renderObserveControls();
      },
      onEnded: () => {
        if (!view) return;
        view.ended = true;
        renderObserveControls();
      },
      onGone: () => {
        if (!view || view.leaving) return;
        say("You're no longer in this room.");
        renderObserveControls();
      },
      onFrame: (frame) => {
        if (!view || frame.room !== view.room || frame.type !== "error") return;
        if (frame.code === "forbidden")
          say(frame.detail || "Only moderators can observe rooms.", { problem: true });
      },
    });
    renderHeading();
  }

  function renderHeading() {
    if (!view) return;
    const paused = els.observe.dataset.paused === "true";
    const ended = els.observe.dataset.ended === "true";
    els.observeHeading.textContent =
      (view.mode === "joined" ? "In the room: " : "Observing: ") +
      view.label +
      (ended ? " (ended)" : paused ? " (paused)" : "");
    els.observeLead.textContent =
      view.mode === "joined"
        ? "You've joined openly: everyone in this room sees your messages as from " +
          me.handle +
          ". What you send passes the content filter like anyone's."
        : "You're reading this live. The people in it see that a moderator may be present, " +
          "never who. Opening it is recorded in the audit log.";
  }

  function focusView() {
    els.observe.scrollIntoView({ block: "start" });
    els.observeHeading.focus({ preventScroll: true });
  }

  function closeView({ quiet = false } = {}) {
    if (!view) return;
    const closing = view;
    view = null;
    if (closing.pane) closing.pane.destroy({ leave: true });
    if (closing.whispers) closing.whispers.destroy();
    els.observe.hidden = true;
    delete els.observe.dataset.room;
    hideForms();
    say("");
    if (/^#room-\d+$/.test(window.location.hash)) setAddress("");
    renderRooms();
    refreshSoon();
    if (!quiet) {
      const entry = entries.get(closing.room);
      const opener = entry && entry.actions.querySelector("[data-act='observe']");
      if (opener) opener.focus();
      else els.heading.focus();
    }
  }

  // Between observing (read-only) and joined (a member with a composer): a new pane.
  function switchMode(mode) {
    if (!view || view.mode === mode) return;
    view.mode = mode;
    if (view.pane) view.pane.destroy({ leave: mode === "joined" });
    view.pane = null;
    els.paneBox.replaceChildren();
    makePane();
    renderObserveControls();
    renderRooms();
  }

  function hideForms() {
    els.confirm.hidden = true;
    els.raiseForm.hidden = true;
    els.removeForm.hidden = true;
    setText(els.removeError, "");
    pendingConfirm = null;
    pendingRemove = null;
  }

  function renderObserveControls() {
    if (!view) return;
    const room = rooms.get(view.room);
    const chat = view.kind === "one_to_one" || (room && room.kind === "one_to_one");
    const session = view.session;
    const paused = session ? Boolean(session.paused) : Boolean(room && room.paused);
    const ended = view.ended || (session && session.state === "ended");
    const joined = view.mode === "joined";
    els.join.hidden = joined || ended;
    els.leave.hidden = !joined;
    els.pause.hidden = !chat || ended || paused;
    els.resume.hidden = !chat || ended || !paused;
    els.end.hidden = !chat || ended;
    els.raise.hidden = false;
    els.observe.dataset.mode = view.mode;
    els.observe.dataset.paused = String(paused && !ended);
    els.observe.dataset.ended = String(Boolean(ended));
    els.observeClose.textContent = joined ? "Close (stay in the room)" : "Stop observing";
    renderHeading();
  }

  // Joining openly and leaving ------------------------------------------------------------------

  async function joinOpenly(roomId, { label: name, kind, from } = {}) {
    if (conn.signedOut) return;
    if (!view || view.room !== roomId) openRoom(roomId, { label: name, kind, focus: false });
    els.join.disabled = true;
    try {
      await conn.postJSON(url + "/" + roomId + "/join", {});
      if (!view || view.room !== roomId) return;
      switchMode("joined");
      say("You've joined openly. The room has been told " + me.handle + " joined.");
      announce("You've joined the room openly.");
      refreshSoon();
      if (view.pane) view.pane.focus();
    } catch (error) {
      if (conn.signedOut) return;
      const text = failureText(error, "You couldn't join the room.");
      if (from && (!view || view.room !== roomId)) entryStatus(from, text, { problem: true });
      else say(text, { problem: true });
    } finally {
      els.join.disabled = false;
    }
  }

  function waitForLeft(roomId) {
    return new Promise((resolve) => {
      const timer = window.setTimeout(done, LEFT_WAIT_MS);
      const off = conn.on("left", (frame) => {
        if (frame.room === roomId && frame.reason === "removed") done();
      });
      function done() {
        window.clearTimeout(timer);
        off();
        resolve();
      }
    });
  }

  async function leaveOpenly() {
    if (!view || view.mode !== "joined" || conn.signedOut) return;
    const roomId = view.room;
    els.leave.disabled = true;
    view.leaving = true;
    try {
      const left = waitForLeft(roomId);
      await conn.postJSON(url + "/" + roomId + "/leave", {});
      await left; // the socket hears `left` first, so observing again is not undone by it
      if (!view || view.room !== roomId) return;
      view.leaving = false;
      if (view.ended) {
        closeView();
        return;
      }
      switchMode("observing");
      say("You've left the room. You're observing it again; the room was told you left.");
      refreshSoon();
      els.observeHeading.focus();
    } catch (error) {
      if (view) view.leaving = false;
      if (!conn.signedOut)
        say(failureText(error, "You couldn't leave the room."), { problem: true });
    } finally {
      els.leave.disabled = false;
    }
  }

  // Pause, resume, end: each asks first ---------------------------------------------------------

  const CONFIRM = {
    pause: {
      text:
        "Pause this chat? Neither the seeker nor the supporter can send until you resume it; " +
        "both can still read it.",
      yes: "Pause chat now",
      done: "Chat paused. Neither of them can send until you resume it.",
    },
    resume: {
      text: "Let the chat carry on?",
      yes: "Resume chat now",
      done: "Chat resumed: they can send messages again.",
    },
    end: {
      text:
        "End this chat for both of them? The seeker will be offered the feedback form, and " +
        "it can't be reopened.",
      yes: "End chat now",
      done: "Chat ended.",
    },
  };
  let pendingConfirm = null;

  function askConfirm(action) {
    if (!view) return;
    hideForms();
    pendingConfirm = action;
    els.confirmText.textContent = CONFIRM[action].text;
    els.confirmYes.textContent = CONFIRM[action].yes;
    els.confirmYes.dataset.action = action;
    els.confirmNote.value = "";
    els.confirm.hidden = false;
    els.confirmYes.focus();
  }

  async function onConfirm(event) {
    event.preventDefault();
    const action = pendingConfirm;
    if (!view || !action || conn.signedOut) return;
    const roomId = view.room;
    els.confirmYes.disabled = true;
    try {
      const data = await conn.postJSON(url + "/" + roomId + "/" + action, {
        note: els.confirmNote.value.trim(),
      });
      if (!view || view.room !== roomId) return;
      if (data && data.session) {
        view.session = { ...data.session, room: roomId };
        view.ended = data.session.state === "ended";
      }
      hideForms();
      renderObserveControls();
      say(CONFIRM[action].done);
      announce(CONFIRM[action].done);
      refreshSoon();
      const next = { pause: els.resume, resume: els.pause, end: els.observeHeading }[action];
      (next && !next.hidden ? next : els.observeHeading).focus();
    } catch (error) {
      if (!conn.signedOut) say(failureText(error, "That didn't go through."), { problem: true });
    } finally {
      els.confirmYes.disabled = false;
    }
  }

  function cancelConfirm() {
    const action = pendingConfirm;
    hideForms();
    const back = { pause: els.pause, resume: els.resume, end: els.end }[action];
    if (back && !back.hidden) back.focus();
  }

  // Raising an escalation from the view.
  function toggleViewRaise() {
    if (!view) return;
    const opening = els.raiseForm.hidden;
    hideForms();
    els.raiseForm.hidden = !opening;
    els.raise.setAttribute("aria-expanded", String(opening));
    if (opening) {
      els.raiseNote.value = "";
      els.raiseNote.focus();
    } else {
      els.raise.focus();
    }
  }

  async function onViewRaise(event) {
    event.preventDefault();
    if (!view) return;
    const submit = els.raiseForm.querySelector("[type='submit']");
    submit.disabled = true;
    const text = await raiseEscalation(view.room, els.raiseNote.value.trim(), (problem) =>
      say(problem, { problem: true }),
    );
    submit.disabled = false;
    if (!text) return;
    hideForms();
    els.raise.setAttribute("aria-expanded", "false");
    say(text);
    els.raise.focus();
  }

  // Removing a message ---------------------------------------------------------------------------

  let pendingRemove = null;

  function messageActions(frame) {
    if (!frame || frame.removed || !Number.isInteger(frame.seq)) return [];
    const sender = frame.sender || {};
    return [
      {
        label: "Remove",
        ariaLabel: "Remove message " + frame.seq + " from " + (sender.handle || "someone"),
        onClick: () => askRemove(frame),
      },
    ];
  }

  function askRemove(frame) {
    if (!view) return;
    hideForms();
    pendingRemove = frame;
    const sender = frame.sender || {};
    const who = (sender.handle || "someone") + (sender.role ? " (" + sender.role + ")" : "");
    const quote = element("blockquote", "remove-quote", frame.body || "");
    const lead = element(
      "p",
      null,
      "Remove message " +
        frame.seq +
        " from " +
        who +
        "? Everyone in the room will see " +
        "“A moderator removed this message” in its place.",
    );
    els.removeWhat.replaceChildren(lead, quote);
    els.removeReason.value = "";
    els.removeForm.hidden = false;
    els.removeReason.focus();
  }

  async function onRemove(event) {
    event.preventDefault();
    const frame = pendingRemove;
    if (!view || !frame || conn.signedOut) return;
    const reason = els.removeReason.value.trim();
    setText(els.removeError, "");
    if (!reason) {
      setText(els.removeError, "Give a short reason. Only moderators see it.");
      els.removeReason.focus();
      return;
    }
    const submit = els.removeForm.querySelector("[type='submit']");
    submit.disabled = true;
    try {
      await conn.postJSON(url + "/" + view.room + "/messages/" + frame.seq + "/remove", { reason });
      hideForms();
      const text = "Message " + frame.seq + " removed. The room sees that a moderator removed it.";
      say(text);
      announce(text);
      els.observeHeading.focus();
    } catch (error) {
      if (!conn.signedOut) setText(els.removeError, failureText(error, "It wasn't removed."));
    } finally {
      submit.disabled = false;
    }
  }

  function cancelRemove() {
    const frame = pendingRemove;
    hideForms();
    const node =
      frame &&
      document.querySelector(
        "#observe-messages [data-seq='" + frame.seq + "'] .message-actions button",
      );
    if (node) node.focus();
    else els.observeHeading.focus();
  }

  // The address: `#room-17` opens the room again after a reload ---------------------------------

  function setAddress(hash) {
    const target = window.location.pathname + window.location.search + hash;
    if (window.location.hash !== hash) window.history.replaceState(null, "", target);
  }

  function roomFromAddress() {
    const match = /^#room-(\d+)$/.exec(window.location.hash);
    return match ? Number(match[1]) : null;
  }

  // Escalation cards offer to observe their room (escalations.js asks) --------------------------

  Console.roomActions = (item) => {
    if (!item || item.state === "resolved" || !Number.isInteger(item.room)) return [];
    if (item.session && item.session.state !== "active") return [];
    // The same words whether or not the view is open already (then it just goes there).
    const observe = button("Observe the room", "button button-quiet button-small");
    observe.dataset.act = "observe-room";
    observe.addEventListener("click", () =>
      openRoom(item.room, { label: item.room_name, kind: item.room_kind }),
    );
    return [observe];
  };

  // Wiring ---------------------------------------------------------------------------------------

  els.list.addEventListener("click", onListClick);
  els.observeClose.addEventListener("click", () => closeView());
  els.join.addEventListener("click", () => view && joinOpenly(view.room));
  els.leave.addEventListener("click", leaveOpenly);
  els.pause.addEventListener("click", () => askConfirm("pause"));
  els.resume.addEventListener("click", () => askConfirm("resume"));
  els.end.addEventListener("click", () => askConfirm("end"));
  els.raise.addEventListener("click", toggleViewRaise);
  els.confirm.addEventListener("submit", onConfirm);
  els.confirmNo.addEventListener("click", cancelConfirm);
  els.raiseForm.addEventListener("submit", onViewRaise);
  els.raiseNo.addEventListener("click", toggleViewRaise);
  els.removeForm.addEventListener("submit", onRemove);
  els.removeNo.addEventListener("click", cancelRemove);

  conn.on("escalation", refreshSoon);
  conn.on("hello", (frame, { reconnected }) => {
    if (reconnected) loadRooms();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") loadRooms();
  });
  window.setInterval(loadRooms, REFRESH_EVERY_MS);
  window.addEventListener("hashchange", () => {
    const roomId = roomFromAddress();
    if (roomId !== null && (!view || view.room !== roomId)) openRoom(roomId);
  });

  renderRooms();
  loadRooms().then(() => {
    const roomId = roomFromAddress();
    if (roomId !== null) openRoom(roomId, { focus: true });
  });
})();
