// The supporter's page: their shift, the queue in counts, their chats side by side, and the
// handover notes they owe.
//
// The socket is a Peerchat.Connection and each chat a Peerchat.RoomPane (client/connection.js
// and client/roompane.js, loaded first). This file adds what a supporter needs around them: the
// shift panel (GET /api/v1/staff/status, POST /api/v1/staff/shift), the live queue overview
// (`staff_queue`), one pane per chat with its controls (phase, safety plan, earlier notes, hand
// over, end), asking a moderator for urgent help and following that escalation, the private
// "Moderator notes" with the moderators (client/whispers.js), debriefs due and the pause after a
// hard chat, the handover note after a chat ends, and making a new chat impossible to miss.
// Everything the server sends is shown with textContent; nothing here builds HTML from data.
(function () {
  "use strict";

  const app = document.getElementById("staff");
  const Peerchat = window.Peerchat;
  const { element, button, say, plural } = Peerchat.dom;
  const setText = Peerchat.dom.showText;
  const newId = Peerchat.dom.idMaker("staff");
  if (!app || !("WebSocket" in window) || !Peerchat || !Peerchat.Connection || !Peerchat.RoomPane)
    return;
  const Whispers = Peerchat.Whispers || null;

  const STATUS_POLL_MS = 30000;
  const STATUS_RETRY_MS = 10000;
  const NOTE_MAX_CHARS = 2000;
  const CHIME_KEY = "peerchat.staff.chime";
  const BASE_TITLE = document.title;

  const byId = (id) => document.getElementById(id);
  const els = {
    status: byId("connection-status"),
    announceNow: byId("announce-now"),
    announce: byId("announce"),
    shiftPanel: byId("shift-panel"),
    shiftHeading: byId("shift-heading"),
    shiftState: byId("shift-state"),
    shiftTimes: byId("shift-times"),
    shiftCapacity: byId("shift-capacity"),
    shiftPaused: byId("shift-paused"),
    shiftDebriefs: byId("shift-debriefs"),
    shiftDebriefsBook: byId("shift-debriefs-book"),
    shiftSchedule: byId("shift-schedule"),
    shiftTraining: byId("shift-training"),
    shiftReminder: byId("shift-reminder"),
    shiftError: byId("shift-error"),
    shiftErrorBook: byId("shift-error-book"),
    shiftButton: byId("shift-button"),
    chime: byId("chime-toggle"),
    queueWaiting: byId("queue-waiting"),
    queueWaitingItem: byId("queue-waiting-item"),
    queueUrgent: byId("queue-urgent"),
    queueUrgentItem: byId("queue-urgent-item"),
    queueOldest: byId("queue-oldest"),
    queueOldestUrgent: byId("queue-oldest-urgent"),
    queueOldestUrgentItem: byId("queue-oldest-urgent-item"),
    queueOnShift: byId("queue-on-shift"),
    queueFree: byId("queue-free"),
    pageNotice: byId("page-notice"),
    switcher: byId("chat-switcher"),
    switcherList: byId("chat-switcher-list"),
    chatsEmpty: byId("chats-empty"),
    grid: byId("pane-grid"),
    newChats: byId("new-chats"),
    newChatsList: byId("new-chats-list"),
    notesDue: byId("notes-due"),
    notesDueList: byId("notes-due-list"),
    signedOut: byId("signed-out"),
    signedOutHeading: byId("signed-out-heading"),
    dialogTemplate: byId("dialog-template"),
  };

  const me = { handle: app.dataset.handle, role: app.dataset.role };
  const urls = {
    status: app.dataset.statusUrl,
    shift: app.dataset.shiftUrl,
    schedule: app.dataset.scheduleUrl,
    targets: app.dataset.targetsUrl,
    sessions: app.dataset.sessionsUrl,
    rooms: app.dataset.roomsUrl,
  };
  const topics = parseJSON(app.dataset.topics, {});
  const planLabels = parseJSON(app.dataset.planLabels, {});
  const wide = window.matchMedia("(min-width: 48rem)");

  function parseJSON(text, fallback) {
    try {
      const value = JSON.parse(text || "");
      return value && typeof value === "object" ? value : fallback;
    } catch (error) {
      return fallback;
    }
  }

  // Words and times -----------------------------------------------------------------------------

  // The browser's own way of writing times, as the chat panes write them.
  const locale = undefined;

  // Times are shown in the service's time zone (DESIGN.md §9), falling back to the browser's.
  const formatter = (options) => Peerchat.dom.timeFormat(app.dataset.timeZone, options);

  const timeFormat = formatter({ hour: "2-digit", minute: "2-digit" });
  const dayTimeFormat = formatter({
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  const dayFormat = formatter({ weekday: "short", day: "numeric", month: "short" });
  const weekdayTimeFormat = formatter({ weekday: "short", hour: "2-digit", minute: "2-digit" });
  const dateOnlyFormat = new Intl.DateTimeFormat(locale, {
    day: "numeric",
    month: "long",
    year: "numeric",
    timeZone: "UTC",
  });

  function parseTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function sameDay(a, b) {
    return dayFormat.format(a) === dayFormat.format(b);
  }

  // "20:00", or "Tue 3 Dec, 20:00" when it is not today.
  function whenText(iso) {
    const date = parseTime(iso);
    if (!date) return "";
    return sameDay(date, new Date()) ? timeFormat.format(date) : dayTimeFormat.format(date);
  }

  function rangeText(startIso, endIso) {
    const start = parseTime(startIso);
    const end = parseTime(endIso);
    if (!start || !end) return "";
    const startText = whenText(startIso);
    const endText = sameDay(start, end) ? timeFormat.format(end) : dayTimeFormat.format(end);
    return startText + " to " + endText;
  }

  function dateText(isoDate) {
    const date = parseTime(isoDate + "T00:00:00Z");
    return date ? dateOnlyFormat.format(date) : isoDate;
  }

  function waitText(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return "under a minute";
    const minutes = Math.floor(s / 60);
    if (minutes < 60) return minutes + (minutes === 1 ? " minute" : " minutes");
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return hours + " h" + (rest ? " " + rest + " min" : "");
  }


  function listText(items) {
    if (items.length <= 1) return items.join("");
    return items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
  }


  function announceNow(text) {
    say(els.announceNow, text);
  }

  function announce(text) {
    say(els.announce, text);
  }

  function pageNotice(text, { focus = false } = {}) {
    els.pageNotice.textContent = text || "";
    if (focus && text) els.pageNotice.focus();
  }

  // The connection --------------------------------------------------------------------------------

  const conn = new Peerchat.Connection({
    socketPath: app.dataset.socketPath,
    handle: me.handle,
    role: me.role,
    statusElement: els.status,
  });

  // State ---------------------------------------------------------------------------------------

  let status = null; // the last GET /api/v1/staff/status
  let statusSeq = 0; // answers to older requests are dropped
  let statusTimer = null;
  let shiftBusy = false;
  let queue = null; // the last `staff_queue` frame
  let queueAt = 0; // when it arrived (its waits grow from then on)

  const chats = new Map(); // room -> chat (see addChat)
  let currentRoom = null; // the chat shown on a phone
  let unseenWhileAway = false;

  // Shift panel ---------------------------------------------------------------------------------

  async function refreshStatus() {
    window.clearTimeout(statusTimer);
    statusTimer = null;
    if (conn.signedOut) return;
    const seq = ++statusSeq;
    try {
      const data = await conn.getJSON(urls.status);
      if (seq === statusSeq) applyStatus(data);
    } catch (error) {
      if (conn.signedOut) return;
      if (!status) {
        els.shiftState.textContent =
          "We couldn't load your shift just now. We'll keep trying by ourselves.";
      }
      window.clearTimeout(statusTimer);
      statusTimer = window.setTimeout(refreshStatus, STATUS_RETRY_MS);
      return;
    }
    if (conn.signedOut) return;
    window.clearTimeout(statusTimer);
    statusTimer = window.setTimeout(refreshStatus, STATUS_POLL_MS);
  }

  function applyStatus(data) {
    if (!data || typeof data !== "object" || conn.signedOut) return;
    const first = status === null;
    status = data;
    statusSeq += 1; // anything asked before this answer is older than it
    app.dataset.view = "ready";
    renderShift();
    for (const session of Array.isArray(data.sessions) ? data.sessions : []) {
      if (!session || !Number.isInteger(session.room)) continue;
      const chat = chats.get(session.room);
      if (!chat) {
        // On the first load these are the chats the supporter already had; a chat that
        // appears later came while the `assigned` frame was missed (a reconnect, say).
        addChat(session, { isNew: !first });
      } else if (!chat.ended && !chat.sessionSeen) {
        updateSession(chat, session);
      }
    }
    renderNotesDue();
    renderChats();
  }

  function renderShift() {
    if (!status) return;
    const on = Boolean(status.on_shift);
    const training = status.training || { ok: true, missing: [], expiring: [] };
    const missing = Array.isArray(training.missing) ? training.missing : [];
    const expiring = Array.isArray(training.expiring) ? training.expiring : [];
    els.shiftPanel.dataset.onShift = String(on);
    const pausedUntil = status.paused_until;

    let state;
    if (on && status.taking_chats) {
      state = "You're on shift. New chats come to you as places free up.";
    } else if (on && pausedUntil) {
      state = "You're on shift, and paused for a little while.";
    } else if (on) {
      state = "You're on shift, but not taking new chats just now.";
    } else {
      state = "You're off shift. No new chats will come to you.";
    }
    els.shiftState.textContent = state;

    const shift = on ? status.shift : status.scheduled_now;
    const range = shift ? rangeText(shift.starts_at, shift.ends_at) : "";
    setText(els.shiftTimes, range ? (on ? "Shift: " : "Scheduled now: ") + range : "");

    const capacity = Number(status.capacity) || 0;
    const active = Number(status.active) || 0;
    let load = active + " of " + plural(capacity, "chat", "chats");
    if (on && capacity && active >= capacity) load += ": full, so new chats wait for a free place";
    setText(els.shiftCapacity, load);

    setText(
      els.shiftPaused,
      pausedUntil
        ? "No new chats until " +
            whenText(pausedUntil) +
            " — take a breather. Your chats carry on, and your supervisor is there if " +
            "talking it through would help."
        : "",
    );
    renderDebriefs();

    let schedule = "";
    if (!on && !status.scheduled_now) {
      schedule = status.next_shift_at
        ? "You don't have a shift scheduled now. Your next shift starts " +
          whenText(status.next_shift_at) +
          "."
        : "You don't have a shift scheduled now. Ask your coordinator if you think you should.";
    }
    setText(els.shiftSchedule, schedule);

    const gate = status.gate || { blocks: [], warnings: [] };
    const supervision = status.supervision || {};
    const overdue = (gate.blocks || []).find((block) => block.code === "supervision_overdue");
    const held = [];
    if (missing.length) {
      held.push(
        element(
          "p",
          null,
          "Before you can take chats, this training needs renewing: " + listText(missing) + ".",
        ),
        element(
          "p",
          null,
          "That's there to look after you as well as the people you support. Your coordinator " +
            "can help you book it.",
        ),
      );
    }
    if (overdue && !on) {
      // Said before they press "Start shift", with the way to sort it out.
      const link = element("a", null, "Book a time on your schedule");
      link.href = urls.schedule;
      const linkLine = element("p");
      linkLine.append(link);
      held.push(element("p", null, overdue.detail), linkLine);
    }
    els.shiftTraining.replaceChildren(...held);
    els.shiftTraining.hidden = held.length === 0;

    const reminders = [];
    if (expiring.length) {
      reminders.push(
        "A gentle reminder: " +
          listText(
            expiring.map((item) => item.module + " runs out on " + dateText(item.expires_on)),
          ) +
          ". Book a refresher when you can.",
      );
    }
    if (supervision.state === "due_soon") {
      reminders.push(
        supervision.booked_at
          ? "Your supervision is booked for " + whenText(supervision.booked_at) + "."
          : "Your supervision is due by " +
              whenText(supervision.due_at) +
              ": book a time on your schedule so your shifts can carry on.",
      );
    }
    setText(els.shiftReminder, reminders.join(" "));

    const buttonEl = els.shiftButton;
    buttonEl.hidden = false;
    buttonEl.disabled = shiftBusy;
    if (!shiftBusy) buttonEl.textContent = on ? "End shift" : "Start shift";
    buttonEl.classList.toggle("button-quiet", on);
  }

  // Debriefs with a supervisor after an escalation: when each is due, overdue ones flagged.
  function renderDebriefs() {
    const due = status && Array.isArray(status.debriefs_due) ? status.debriefs_due : [];
    const items = due
      .filter((item) => item && parseTime(item.due_by))
      .sort((a, b) => String(a.due_by).localeCompare(String(b.due_by)))
      .map((item) => {
        // "Tue 14:00" within the week, the date as well beyond it.
        const due = parseTime(item.due_by);
        const near = Math.abs(due.getTime() - Date.now()) < 6 * 86400000;
        const when = (near ? weekdayTimeFormat : dayTimeFormat).format(due);
        const li = element("li", "shift-debrief");
        li.dataset.escalation = String(item.escalation);
        // The worker books the earliest fitting time; until then a supervisor is asked for one.
        const booked = parseTime(item.booked_at);
        const next = booked
          ? " — booked for " + dayTimeFormat.format(booked) + (item.with ? " with " + item.with : "")
          : " — we're finding you a time with a supervisor";
        if (item.overdue) {
          li.classList.add("shift-debrief--overdue");
          li.append(
            element("strong", "shift-debrief-flag", "Overdue"),
            " · Debrief was due by " + when + next,
          );
        } else {
          li.append("Debrief due by " + when + next);
        }
        return li;
      });
    const text = items.map((li) => li.textContent).join("|");
    if (els.shiftDebriefs.dataset.text !== text) {
      els.shiftDebriefs.dataset.text = text;
      els.shiftDebriefs.replaceChildren(...items);
    }
    els.shiftDebriefs.hidden = items.length === 0;
    if (els.shiftDebriefsBook) {
      const unbooked = due.some((item) => !item.booked_at);
      els.shiftDebriefsBook.hidden = items.length === 0;
      els.shiftDebriefsBook.querySelector("a").textContent = unbooked
        ? "Book a time on your schedule"
        : "See or move it on your schedule";
    }
  }

  async function onShiftButton() {
    if (shiftBusy || !status || conn.signedOut) return;
    const ending = Boolean(status.on_shift);
    const open = Array.from(chats.values()).filter((chat) => !chat.ended).length;
    if (ending && open > 0) {
      confirmEndShift(open);
      return;
    }
    await changeShift(ending ? "end" : "start");
  }

  function confirmEndShift(open) {
    openDialog({
      title: "End your shift?",
      opener: els.shiftButton,
      confirmText: "End shift",
      cancelText: "Stay on shift",
      danger: true,
      focusCancel: true,
      build(body) {
        body.append(
          element(
            "p",
            null,
            (open === 1 ? "Your chat carries on" : "Your " + open + " chats carry on") +
              ": you can finish " +
              (open === 1 ? "it" : "them") +
              " as usual.",
          ),
          element("p", null, "No new chats will come to you once you're off shift."),
        );
      },
      async onConfirm(dialog) {
        dialog.close();
        await changeShift("end");
      },
    });
  }

  async function changeShift(action) {
    if (shiftBusy) return;
    shiftBusy = true;
    els.shiftError.textContent = "";
    if (els.shiftErrorBook) els.shiftErrorBook.hidden = true;
    els.shiftButton.disabled = true;
    els.shiftButton.textContent =
      action === "start" ? "Starting your shift…" : "Ending your shift…";
    try {
      const data = await conn.postJSON(urls.shift, { action });
      shiftBusy = false;
      applyStatus(data);
      announce(
        action === "start"
          ? data && data.taking_chats
            ? "You're on shift. New chats will appear on this page by themselves."
            : "You're on shift."
          : "You're off shift. Your open chats carry on; no new ones will come.",
      );
    } catch (error) {
      if (conn.signedOut) return;
      // A gate that is shut (training, supervision) or no shift now: the reason as it is.
      const reasoned = ["training_required", "supervision_overdue", "no_shift_now"];
      els.shiftError.textContent = reasoned.includes(error.code)
        ? error.detail || error.message
        : (error.detail || "We couldn't change your shift just now.") + " Please try again.";
      // Overdue supervision is sorted by booking a time: the way there, next to the reason.
      if (els.shiftErrorBook) els.shiftErrorBook.hidden = error.code !== "supervision_overdue";
      refreshStatus(); // the reason (training, schedule) shows in the panel too
    } finally {
      shiftBusy = false;
      renderShift();
      if (!els.shiftButton.hidden && document.activeElement === document.body) {
        els.shiftButton.focus();
      }
    }
  }

  // Queue overview: counts only ----------------------------------------------------------------

  function onStaffQueue(frame) {
    if (queue && Number(frame.version) < Number(queue.version)) return;
    queue = frame;
    queueAt = Date.now();
    renderQueue();
  }

  function renderQueue() {
    if (!queue) return;
    const waiting = Number(queue.waiting) || 0;
    const urgent = Number(queue.urgent) || 0;
    const grown = (Date.now() - queueAt) / 1000;
    setQueueText(els.queueWaiting, String(waiting));
    setQueueText(els.queueUrgent, String(urgent));
    els.queueWaitingItem.dataset.busy = String(waiting > 0);
    els.queueUrgentItem.dataset.urgent = String(urgent > 0);
    setQueueText(
      els.queueOldest,
      waiting ? waitText((Number(queue.oldest_wait_seconds) || 0) + grown) : "none",
    );
    els.queueOldestUrgentItem.hidden = urgent === 0;
    setQueueText(
      els.queueOldestUrgent,
      urgent ? waitText((Number(queue.oldest_urgent_wait_seconds) || 0) + grown) : "",
    );
    setQueueText(els.queueOnShift, String(Number(queue.on_shift) || 0));
    setQueueText(els.queueFree, String(Number(queue.free_places) || 0));
  }

  function setQueueText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // Chats ---------------------------------------------------------------------------------------

  function seekerName(session) {
    return (session && session.seeker && session.seeker.handle) || "Someone";
  }

  /**
   * A chat on the page: its RoomPane plus the supporter's controls around it.
   * options.isNew: it has just come (highlight and announce); options.ended: a chat that has
   * already ended (opened from "notes to write").
   */
  function addChat(session, { isNew = false, ended = false } = {}) {
    const room = session.room;
    if (chats.has(room)) return chats.get(room);
    const chat = {
      room,
      session: { ...session },
      name: seekerName(session),
      isNew: false,
      ended: false,
      noteSaved: false,
      transferring: false,
      transferredFrom: session.transferred_from ? session.transferred_from.handle : null,
      sessionSeen: false, // a session frame came over the socket (newer than the status)
      joinedLast: 0,
      unseen: 0,
      phasePosting: false,
      phaseWanted: null,
      planOpen: false,
      planLoaded: false,
      softShown: false,
      escalation: null, // the room's escalation as its supporters see it (or null)
      escalationAt: 0, // when we learnt it opened, if the server did not say
      asking: false, // "Ask a moderator for urgent help" is on its way
      whispers: null, // the Moderator notes (Peerchat.Whispers)
      unseenWhispers: 0,
      pane: null,
      ui: null,
    };
    chats.set(room, chat);
    const showIt = wide.matches || currentRoom === null || currentChatEnded();
    chat.pane = new Peerchat.RoomPane(els.grid, {
      connection: conn,
      room,
      name: chat.name,
      headingLevel: 3,
      note: null,
      visible: showIt,
      endedText: "This chat has ended. You can still read it here.",
      emptyText: "No messages yet. You could say hello and let them know you're here.",
      keepName: true, // the seeker's handle, not the room's name
      onJoined(frame) {
        chat.joinedLast = Math.max(chat.joinedLast, Number(frame.last_seq) || 0);
        // `joined.escalation` is there while one is unresolved; without it, none is.
        if (frame.escalation && typeof frame.escalation === "object") {
          setEscalation(chat, frame.escalation);
        } else if (chat.escalation && chat.escalation.state !== "resolved") {
          setEscalation(chat, { ...chat.escalation, state: "resolved" });
        }
      },
      onSession(frame) {
        chat.sessionSeen = true;
        updateSession(chat, frame);
      },
      onEnded(pane) {
        chatEnded(chat, { session: pane.session });
      },
      onGone() {
        window.setTimeout(() => chatGone(chat), 0);
      },
      onFrame(frame) {
        onChatFrame(chat, frame);
      },
    });
    if (!wide.matches && showIt) currentRoom = room;
    buildChatControls(chat);
    buildWhispers(chat);
    if (ended || session.state === "ended") chatEnded(chat, { session, quiet: true });
    updateSession(chat, session);
    loadNotes(chat);
    if (isNew) markNew(chat);
    renderChats();
    return chat;
  }

  function currentChatEnded() {
    const chat = chats.get(currentRoom);
    return !chat || chat.ended;
  }

  // The header of a pane: who, what about, how urgent, phase, and what the supporter can do.
  function buildChatControls(chat) {
    const pane = chat.pane;
    const root = pane.root;
    root.classList.add("staff-pane");
    const extra = element("div", "pane-extra");

    const newBadge = element("p", "pane-new-badge", "New chat");
    newBadge.hidden = true;

    const meta = element("p", "pane-meta");
    const urgent = element("p", "pane-urgent");
    urgent.append(
      element("strong", null, "Urgent"),
      ": they said they're not sure they're safe, or not safe, right now",
    );
    urgent.hidden = true;
    const continuity = element("p", "pane-continuity");
    continuity.hidden = true;
    const soft = element("p", "pane-soft-limit");
    soft.hidden = true;

    // Phase: a segmented control (radio buttons: arrow keys move between them).
    const phase = element("fieldset", "phase-control");
    const legend = element("legend", "phase-legend", "Phase");
    phase.append(legend);
    const phaseInputs = {};
    for (const [value, label] of [
      ["opening", "Opening"],
      ["talking", "Talking"],
      ["closing", "Closing"],
    ]) {
      const wrap = element("label", "segment");
      const input = element("input", "segment-input");
      input.type = "radio";
      input.name = "phase-" + chat.room;
      input.value = value;
      input.addEventListener("change", () => {
        if (input.checked) wantPhase(chat, value);
      });
      wrap.append(input, element("span", "segment-label", label));
      phase.append(wrap);
      phaseInputs[value] = input;
    }

    // Asking a moderator for urgent help: a short optional note, then the escalation's state.
    const escalation = element("p", "pane-escalation");
    escalation.setAttribute("role", "status");
    escalation.hidden = true;
    const askId = newId("ask");
    const ask = button("Ask a moderator for urgent help", "button button-small pane-ask-button");
    ask.setAttribute("aria-expanded", "false");
    ask.setAttribute("aria-controls", askId);
    const askForm = element("form", "pane-ask-form");
    askForm.id = askId;
    askForm.noValidate = true;
    askForm.hidden = true;
    const askNoteId = newId("ask-note");
    const askHelpId = newId("ask-help");
    const askLabel = element(
      "label",
      "pane-ask-label",
      "Anything the moderator should know? (optional)",
    );
    askLabel.htmlFor = askNoteId;
    const askHelp = element(
      "p",
      "field-help pane-ask-help",
      "Staff only: " + chat.name + " won't see this. They'll be shown free numbers they can " +
        "call or text, and you can keep talking.",
    );
    askHelp.id = askHelpId;
    const askNote = element("textarea", "pane-ask-note");
    askNote.id = askNoteId;
    askNote.rows = 2;
    askNote.maxLength = NOTE_MAX_CHARS;
    askNote.setAttribute("aria-describedby", askHelpId);
    const askError = element("p", "form-error pane-ask-error");
    askError.setAttribute("role", "alert");
    askError.hidden = true;
    const askActions = element("p", "pane-ask-actions");
    const askSend = element("button", "button button-small", "Ask now");
    askSend.type = "submit";
    const askCancel = button("Cancel", "button button-small button-quiet");
    askActions.append(askSend, askCancel);
    askForm.append(askLabel, askHelp, askNote, askError, askActions);

    const tools = element("div", "pane-tools");
    const planButton = button("Safety plan shared: view", "button button-small pane-plan-button");
    planButton.hidden = true;
    const planId = newId("plan");
    planButton.setAttribute("aria-expanded", "false");
    planButton.setAttribute("aria-controls", planId);
    const handOver = button("Hand over", "button button-small button-quiet");
    const end = button("End chat", "button button-small button-quiet button-end");
    const notesToggle = button("Moderator notes", "button button-small button-quiet");
    notesToggle.hidden = !Whispers;
    notesToggle.setAttribute("aria-expanded", "false");
    tools.append(ask, planButton, handOver, notesToggle, end);
    const whispersBox = element("div", "pane-whispers");
    whispersBox.id = newId("whispers");
    whispersBox.hidden = true;
    notesToggle.setAttribute("aria-controls", whispersBox.id);

    const plan = element("section", "pane-plan");
    plan.id = planId;
    plan.hidden = true;
    const planHeading = element("h4", "pane-plan-heading", "Safety plan from " + chat.name);
    planHeading.id = newId("plan-heading");
    planHeading.tabIndex = -1;
    plan.setAttribute("aria-labelledby", planHeading.id);
    const planBody = element("div", "pane-plan-body");
    plan.append(planHeading, planBody);

    const notes = element("details", "pane-notes");
    const notesSummary = element("summary", null, "Earlier notes");
    const notesBody = element("div", "pane-notes-body");
    notesBody.append(element("p", "pane-notes-loading", "Loading earlier notes…"));
    notes.append(notesSummary, notesBody);
    notes.hidden = true;

    pane.el.title.after(newBadge);
    extra.append(meta, urgent, escalation, continuity, soft, phase, tools, askForm);
    extra.append(whispersBox, plan, notes);
    pane.header.append(extra);

    // The handover note takes the composer's place once the chat has ended.
    const noteBox = element("div", "handover-box");
    noteBox.hidden = true;
    pane.el.closed.after(noteBox);

    planButton.addEventListener("click", () => togglePlan(chat));
    ask.addEventListener("click", () => toggleAsk(chat));
    askCancel.addEventListener("click", () => closeAsk(chat, { focus: true }));
    askForm.addEventListener("submit", (event) => {
      event.preventDefault();
      askModerator(chat);
    });
    askNote.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        askModerator(chat);
      }
    });
    askForm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closeAsk(chat, { focus: true });
    });
    notesToggle.addEventListener("click", () => toggleWhispers(chat));
    handOver.addEventListener("click", () => openHandOver(chat));
    end.addEventListener("click", () => confirmEndChat(chat));
    // The supporter has looked at a new chat once they are in it.
    root.addEventListener("focusin", () => acknowledgeSoon(chat));
    root.addEventListener("click", () => acknowledgeSoon(chat));

    chat.ui = {
      extra,
      newBadge,
      meta,
      urgent,
      continuity,
      soft,
      phase,
      phaseInputs,
      tools,
      escalation,
      ask,
      askForm,
      askNote,
      askError,
      askSend,
      notesToggle,
      whispersBox,
      planButton,
      handOver,
      end,
      plan,
      planHeading,
      planBody,
      notes,
      notesSummary,
      notesBody,
      noteBox,
    };
  }

  function updateSession(chat, frame) {
    if (!frame || typeof frame !== "object") return;
    const before = chat.session || {};
    const session = { ...before, ...frame };
    chat.session = session;
    if (frame.transferred_from && frame.transferred_from.handle) {
      chat.transferredFrom = frame.transferred_from.handle;
    }
    if (session.seeker && session.seeker.handle && session.seeker.handle !== chat.name) {
      chat.name = session.seeker.handle;
      chat.pane.setName(chat.name);
      chat.ui.planHeading.textContent = "Safety plan from " + chat.name;
    }
    const ui = chat.ui;

    const parts = [];
    const topic = session.topic ? topics[session.topic] || session.topic : "";
    parts.push(topic ? "Topic: " + topic : "No topic chosen");
    if (session.started_at) parts.push("started " + whenText(session.started_at));
    setText(ui.meta, parts.join(" · "));
    ui.urgent.hidden = !session.urgent;
    chat.pane.root.classList.toggle("staff-pane--urgent", Boolean(session.urgent));

    setText(ui.continuity, continuityText(chat, session));

    if (!chat.phasePosting && chat.phaseWanted === null) {
      const input = ui.phaseInputs[session.phase];
      if (input && !input.checked) input.checked = true;
    }

    const wasShared = Boolean(before.safety_plan_shared);
    const shared = Boolean(session.safety_plan_shared);
    if (frame.safety_plan_shared !== undefined && shared !== wasShared && before.room) {
      planSharingChanged(chat, shared);
    } else {
      ui.planButton.hidden = !shared || chat.ended;
    }
    if (session.state === "ended") chatEnded(chat, { session });
    renderSwitcher();
  }

  function continuityText(chat, session) {
    if (chat.transferredFrom) {
      return (
        "Handed over to you by " +
        chat.transferredFrom +
        ". Their note is under Earlier notes. " +
        (session.continuity === "same" ? "They had asked for you by name." : "")
      ).trim();
    }
    switch (session.continuity) {
      case "same":
        return "They asked to talk with you again.";
      case "not_on_shift":
        return "They asked for the supporter they talked with before, who isn't on shift now.";
      case "wait_expired":
        return "They asked for the supporter they talked with before, who wasn't free in time.";
      default:
        return "";
    }
  }

  function onChatFrame(chat, frame) {
    if (frame.type === "escalated" && frame.escalation) {
      // Our own "Ask a moderator for urgent help" (over the socket or HTTP).
      if (frame.new) chat.escalationAt = Date.now();
      setEscalation(chat, { ...(chat.escalation || {}), ...frame.escalation });
      refreshStatusSoon(); // the pause and the debrief that come with it
      return;
    }
    if (frame.type === "escalation_status" && frame.escalation) {
      const before = chat.escalation;
      setEscalation(chat, frame.escalation);
      if (!before || before.id !== frame.escalation.id || frame.escalation.state === "resolved") {
        refreshStatusSoon();
      }
      return;
    }
    if (frame.type === "safety_plan") {
      const shared = Boolean(frame.shared);
      const was = Boolean(chat.session.safety_plan_shared);
      chat.session = { ...chat.session, safety_plan_shared: shared };
      if (shared !== was) planSharingChanged(chat, shared);
      else if (shared && (chat.planOpen || chat.planLoaded)) loadPlan(chat); // edited
      return;
    }
    if (frame.type === "message" && frame.sender && frame.sender.handle !== me.handle) {
      // Live (not replayed) messages from the seeker the supporter has not seen yet.
      if (Number(frame.seq) > chat.joinedLast && !frame.removed) {
        chat.joinedLast = Number(frame.seq);
        if (!chat.pane.visible || document.visibilityState !== "visible") {
          chat.unseen += 1;
          if (document.visibilityState !== "visible") unseenWhileAway = true;
          renderSwitcher();
          updateTitle();
        }
      }
    }
  }

  // Urgent help from a moderator (DESIGN.md §8) ---------------------------------------------------

  function toggleAsk(chat) {
    if (chat.ui.askForm.hidden) openAsk(chat);
    else closeAsk(chat, { focus: true });
  }

  function openAsk(chat) {
    const ui = chat.ui;
    ui.askForm.hidden = false;
    ui.ask.setAttribute("aria-expanded", "true");
    ui.askError.hidden = true;
    ui.askNote.focus();
  }

  function closeAsk(chat, { focus }) {
    const ui = chat.ui;
    if (ui.askForm.hidden) return;
    ui.askForm.hidden = true;
    ui.ask.setAttribute("aria-expanded", "false");
    if (focus && !ui.ask.hidden) ui.ask.focus();
  }

  async function askModerator(chat) {
    if (chat.asking || chat.ended) return;
    const ui = chat.ui;
    chat.asking = true;
    ui.askSend.disabled = true;
    ui.askSend.textContent = "Asking…";
    ui.askError.hidden = true;
    try {
      await chat.pane.escalate(ui.askNote.value.trim());
      ui.askNote.value = "";
      closeAsk(chat, { focus: true });
      announce("A moderator has been asked to help with your chat with " + chat.name + ".");
    } catch (error) {
      if (conn.signedOut) return;
      ui.askError.textContent =
        (error && error.code === "invalid_field" && error.detail) ||
        "We couldn't reach a moderator just now. Please try again in a moment.";
      ui.askError.hidden = false;
      ui.askNote.focus();
    } finally {
      chat.asking = false;
      ui.askSend.disabled = false;
      ui.askSend.textContent = "Ask now";
    }
  }

  function setEscalation(chat, escalation) {
    if (!escalation || typeof escalation !== "object") return;
    const before = chat.escalation;
    // Steps only go forward for one escalation (an HTTP answer and a frame can cross).
    const order = { open: 0, acknowledged: 1, resolved: 2 };
    if (
      before &&
      before.id === escalation.id &&
      (order[escalation.state] || 0) < (order[before.state] || 0)
    ) {
      return;
    }
    if (!before || before.id !== escalation.id) {
      if (!escalation.opened_at) chat.escalationAt = chat.escalationAt || Date.now();
    }
    chat.escalation = { ...(before && before.id === escalation.id ? before : {}), ...escalation };
    renderEscalation(chat, Date.now());
    renderSwitcher();
    const changed = !before || before.id !== escalation.id || before.state !== escalation.state;
    if (changed && escalation.state === "acknowledged") {
      announce(escalationText(chat, Date.now()) + " (your chat with " + chat.name + ")");
    }
  }

  function escalationText(chat, now) {
    const escalation = chat.escalation;
    if (!escalation) return "";
    switch (escalation.state) {
      case "open": {
        const opened = parseTime(escalation.opened_at);
        const since = opened ? opened.getTime() : chat.escalationAt || now;
        return "Waiting for a moderator… asked " + agoText(now - since);
      }
      case "acknowledged":
        return (escalation.acknowledged_by || "A moderator") + " has taken this on.";
      case "resolved":
        return "Resolved. Thank you for asking for help.";
      default:
        return "";
    }
  }

  function agoText(ms) {
    const seconds = Math.max(0, ms / 1000);
    return seconds < 60 ? "under a minute ago" : waitText(seconds) + " ago";
  }

  function renderEscalation(chat, now) {
    const ui = chat.ui;
    const state = chat.escalation ? chat.escalation.state : "";
    setText(ui.escalation, escalationText(chat, now));
    ui.escalation.dataset.state = state;
    chat.pane.root.classList.toggle(
      "staff-pane--escalated",
      state === "open" || state === "acknowledged",
    );
  }

  let statusSoonTimer = null;

  function refreshStatusSoon() {
    window.clearTimeout(statusSoonTimer);
    statusSoonTimer = window.setTimeout(refreshStatus, 400);
  }

  // Moderator notes: a private thread with the moderators (staff only) ----------------------------

  function buildWhispers(chat) {
    if (!Whispers) return;
    chat.whispers = new Whispers(chat.ui.whispersBox, {
      connection: conn,
      room: chat.room,
      headingLevel: 4,
      timeZone: app.dataset.timeZone,
      onWhisper(whisper, { mine, live }) {
        renderNotesToggle(chat);
        if (mine || !live) return;
        // A moderator wrote: open the notes so it is seen, and say so.
        if (chat.ui.whispersBox.hidden) openWhispers(chat, { focus: false });
        if (!chat.pane.visible || document.visibilityState !== "visible") {
          chat.unseenWhispers += 1;
          renderSwitcher();
        }
        announce("A moderator wrote a note about your chat with " + chat.name + ".");
      },
    });
    renderNotesToggle(chat);
  }

  function renderNotesToggle(chat) {
    if (!chat.whispers) return;
    const n = chat.whispers.count;
    setText(chat.ui.notesToggle, n ? "Moderator notes (" + n + ")" : "Moderator notes");
  }

  function toggleWhispers(chat) {
    if (chat.ui.whispersBox.hidden) openWhispers(chat, { focus: true });
    else {
      chat.ui.whispersBox.hidden = true;
      chat.ui.notesToggle.setAttribute("aria-expanded", "false");
      chat.ui.notesToggle.focus();
    }
  }

  function openWhispers(chat, { focus }) {
    chat.ui.whispersBox.hidden = false;
    chat.ui.notesToggle.setAttribute("aria-expanded", "true");
    chat.unseenWhispers = 0;
    if (focus && chat.whispers) chat.whispers.focus();
  }

  // New chats: impossible to miss -------------------------------------------------------------

  function markNew(chat) {
    chat.isNew = true;
    chat.ui.newBadge.hidden = false;
    chat.pane.root.classList.add("staff-pane--new");
    announceNow(
      "New chat with " +
        chat.name +
        (chat.session.urgent ? ". Urgent: they said they're not sure they're safe right now." : ""),
    );
    chime();
    // On a phone the new chat is brought forward unless another chat is being talked in.
    if (!wide.matches && (currentRoom === null || currentChatEnded())) selectChat(chat.room);
    renderChats();
  }

  // Acknowledging takes the banner away, which moves the page: never between a press and its
  // release, or the click would land somewhere else.
  let pointerIsDown = false;
  const waitingAcks = new Set();

  function acknowledgeSoon(chat) {
    if (!chat.isNew) return;
    if (pointerIsDown) waitingAcks.add(chat);
    else acknowledge(chat);
  }

  document.addEventListener("pointerdown", () => (pointerIsDown = true), true);
  for (const type of ["pointerup", "pointercancel"]) {
    document.addEventListener(
      type,
      () => {
        pointerIsDown = false;
        window.setTimeout(() => {
          for (const chat of waitingAcks) acknowledge(chat);
          waitingAcks.clear();
        }, 0);
      },
      true,
    );
  }

  function acknowledge(chat) {
    if (!chat.isNew) return;
    chat.isNew = false;
    chat.ui.newBadge.hidden = true;
    chat.pane.root.classList.remove("staff-pane--new");
    renderSwitcher();
    updateTitle();
  }

  function updateTitle() {
    let fresh = 0;
    let unseen = 0;
    for (const chat of chats.values()) {
      if (chat.isNew) fresh += 1;
      unseen += chat.unseen;
    }
    const count = fresh + unseen;
    let title = BASE_TITLE;
    if (fresh) title = "(" + count + ") New chat · " + BASE_TITLE;
    else if (count) title = "(" + count + ") " + BASE_TITLE;
    if (document.title !== title) document.title = title;
  }

  // A short, soft two-note chime made with the Web Audio API (no sound files), only when the
  // supporter has turned it on.
  let audio = null;

  function audioContext() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) {
      try {
        audio = new Context();
      } catch (error) {
        return null;
      }
    }
    if (audio.state === "suspended") audio.resume().catch(() => {});
    return audio;
  }

  function chime() {
    if (!els.chime.checked) return;
    const ctx = audioContext();
    if (!ctx) return;
    const start = ctx.currentTime + 0.02;
    [523.25, 659.25].forEach((frequency, index) => {
      const at = start + index * 0.18;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.08, at + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.5);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.55);
    });
  }

  function setupChime() {
    let on = false;
    try {
      on = window.localStorage.getItem(CHIME_KEY) === "on";
    } catch (error) {
      on = false;
    }
    els.chime.checked = on;
    els.chime.addEventListener("change", () => {
      try {
        window.localStorage.setItem(CHIME_KEY, els.chime.checked ? "on" : "off");
      } catch (error) {
        // Not remembered; it still works on this page.
      }
      if (els.chime.checked) chime(); // what it sounds like (and unlocks audio on this page)
    });
    // Browsers let audio start only after the person has done something on the page.
    const unlock = () => {
      if (els.chime.checked) audioContext();
    };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
  }

  // Phase ---------------------------------------------------------------------------------------

  function wantPhase(chat, value) {
    chat.phaseWanted = value;
    if (!chat.phasePosting) postPhase(chat);
  }

  async function postPhase(chat) {
    chat.phasePosting = true;
    try {
      while (chat.phaseWanted !== null && !chat.ended) {
        const phase = chat.phaseWanted;
        chat.phaseWanted = null;
        try {
          const data = await conn.postJSON(urls.sessions + chat.room + "/phase", { phase });
          chat.session = { ...chat.session, ...data };
        } catch (error) {
          if (conn.signedOut) return;
          chat.pane.showNotice(
            (error.detail || "We couldn't change the phase just now.") + " Please try again.",
          );
        }
      }
    } finally {
      chat.phasePosting = false;
      const input = chat.ui.phaseInputs[chat.session.phase];
      if (input && !input.checked) input.checked = true;
    }
  }

  // Soft time limit: a gentle suggestion, nothing is cut off.
  function renderSoftLimit(chat, now) {
    if (chat.ended) {
      chat.ui.soft.hidden = true;
      return;
    }
    const limit = parseTime(chat.session.soft_limit_at);
    const started = parseTime(chat.session.started_at);
    if (!limit || !started || now < limit.getTime()) {
      chat.ui.soft.hidden = true;
      return;
    }
    const minutes = Math.max(1, Math.floor((now - started.getTime()) / 60000));
    const text =
      plural(minutes, "minute", "minutes") + " in — a good time to start closing gently";
    setText(chat.ui.soft, text);
    if (!chat.softShown) {
      chat.softShown = true;
      announce("Your chat with " + chat.name + " is " + text + ".");
    }
  }

  // Safety plan ---------------------------------------------------------------------------------

  function planSharingChanged(chat, shared) {
    const ui = chat.ui;
    if (shared) {
      ui.planButton.hidden = chat.ended;
      ui.planButton.classList.add("is-fresh");
      announce(chat.name + " shared their safety plan with you.");
      if (chat.planOpen || chat.planLoaded) loadPlan(chat);
    } else {
      ui.planButton.hidden = true;
      ui.planButton.classList.remove("is-fresh");
      closePlan(chat, { clear: true });
      if (!chat.ended) announce(chat.name + " stopped sharing their safety plan.");
    }
  }

  function togglePlan(chat) {
    if (chat.planOpen) {
      closePlan(chat, { clear: false });
      chat.ui.planButton.focus();
      return;
    }
    chat.planOpen = true;
    chat.ui.plan.hidden = false;
    chat.ui.planButton.setAttribute("aria-expanded", "true");
    chat.ui.planButton.textContent = "Hide safety plan";
    chat.ui.planButton.classList.remove("is-fresh");
    if (!chat.planLoaded) chat.ui.planBody.replaceChildren(element("p", null, "Loading…"));
    loadPlan(chat);
  }

  function closePlan(chat, { clear }) {
    chat.planOpen = false;
    chat.ui.plan.hidden = true;
    chat.ui.planButton.setAttribute("aria-expanded", "false");
    chat.ui.planButton.textContent = "Safety plan shared: view";
    if (clear) {
      chat.planLoaded = false;
      chat.ui.planBody.replaceChildren();
    }
  }

  async function loadPlan(chat) {
    let data;
    try {
      data = await conn.getJSON(urls.sessions + chat.room + "/safety-plan");
    } catch (error) {
      if (conn.signedOut) return;
      if (error.status === 404) {
        chat.session = { ...chat.session, safety_plan_shared: false };
        chat.ui.planButton.hidden = true;
        closePlan(chat, { clear: true });
        chat.pane.showNotice("The safety plan isn't shared with you any more.");
      } else if (chat.planOpen) {
        chat.ui.planBody.replaceChildren(
          element("p", null, "We couldn't load the safety plan just now. Please try again."),
        );
      }
      return;
    }
    if (!chat.session.safety_plan_shared) return; // withdrawn meanwhile
    chat.planLoaded = true;
    const list = element("dl", "plan-fields");
    let any = false;
    for (const [field, label] of Object.entries(planLabels)) {
      const value = typeof data[field] === "string" ? data[field] : "";
      if (!value.trim()) continue;
      any = true;
      list.append(element("dt", null, label), element("dd", "plan-text", value));
    }
    const parts = [any ? list : element("p", null, "The plan is empty just now.")];
    if (data.updated_at) {
      parts.push(element("p", "plan-updated", "Last changed " + whenText(data.updated_at)));
    }
    chat.ui.planBody.replaceChildren(...parts);
  }

  // Earlier notes (staff only) -------------------------------------------------------------------

  async function loadNotes(chat) {
    const ui = chat.ui;
    let data;
    try {
      data = await conn.getJSON(urls.sessions + chat.room + "/notes");
    } catch (error) {
      if (conn.signedOut || !chats.has(chat.room)) return;
      if (error.status === 404) {
        ui.notes.hidden = true; // no longer this supporter's chat
        return;
      }
      ui.notes.hidden = false;
      ui.notesSummary.textContent = "Earlier notes";
      const retry = button("Try again", "link-button");
      retry.addEventListener("click", () => {
        ui.notesBody.replaceChildren(element("p", null, "Loading earlier notes…"));
        loadNotes(chat);
      });
      ui.notesBody.replaceChildren(element("p", null, "We couldn't load them just now. "), retry);
      return;
    }
    const notes = data && Array.isArray(data.notes) ? data.notes : [];
    ui.notes.hidden = false;
    if (!notes.length) {
      ui.notesSummary.textContent = "Earlier notes: none";
      ui.notesBody.replaceChildren(
        element("p", null, "No notes from earlier chats with " + chat.name + "."),
      );
      return;
    }
    ui.notesSummary.textContent = "Earlier notes (" + notes.length + ")";
    const list = element("ul", "note-list");
    for (const note of notes) {
      const item = element("li", "note-item");
      const bits = [note.author || "A supporter"];
      if (note.kind === "transfer") bits.push("handover" + (note.to ? " to " + note.to : ""));
      else bits.push("after the chat");
      if (note.created_at) bits.push(whenText(note.created_at));
      if (note.this_chat) bits.push("this chat");
      item.append(
        element("p", "note-meta", bits.join(" · ")),
        element("p", "note-body", note.body),
      );
      list.append(item);
    }
    ui.notesBody.replaceChildren(list);
    // Handed over: the note is what the supporter needs first.
    if (chat.transferredFrom) ui.notes.open = true;
  }

  // Ending, handing over, the handover note -------------------------------------------------------

  const END_REASONS = {
    seeker_ended: (name) => name + " ended the chat.",
    supporter_ended: () => "You ended the chat.",
    seeker_gone: (name) => name + "'s page didn't come back, so the chat ended.",
    seeker_deleted: (name) => name + " deleted their data, so the chat ended.",
    moderator_ended: () => "A moderator ended the chat.",
  };

  function confirmEndChat(chat) {
    if (chat.ended) return;
    openDialog({
      title: "End your chat with " + chat.name + "?",
      opener: chat.ui.end,
      confirmText: "End chat",
      cancelText: "Keep talking",
      danger: true,
      focusCancel: true,
      build(body) {
        body.append(
          element(
            "p",
            null,
            "They'll see that the chat has ended, and they can ask for support again at any time.",
          ),
        );
        if (chat.session.phase !== "closing") {
          body.append(
            element(
              "p",
              null,
              "If you haven't yet, it can help to move to Closing and say goodbye first.",
            ),
          );
        }
        body.append(element("p", null, "You'll be asked for a short handover note afterwards."));
      },
      async onConfirm(dialog) {
        dialog.busy(true, "Ending…");
        chat.endingByMe = true; // the `session` frame may come before the answer
        try {
          const data = await conn.postJSON(urls.sessions + chat.room + "/end", {});
          dialog.close({ restoreFocus: false });
          chatEnded(chat, { session: data, byMe: true });
        } catch (error) {
          chat.endingByMe = false;
          if (conn.signedOut) return dialog.close();
          dialog.busy(false);
          dialog.error(
            (error.detail || "We couldn't end the chat just now.") + " Please try again.",
          );
        }
      },
    });
  }

  function chatEnded(chat, { session = null, byMe = false, quiet = false } = {}) {
    if (session && typeof session === "object") chat.session = { ...chat.session, ...session };
    if (chat.ended) {
      if (byMe) focusNote(chat);
      return;
    }
    if (chat.endingByMe) byMe = true;
    chat.ended = true;
    chat.phaseWanted = null;
    const reason = END_REASONS[chat.session.end_reason];
    const said = reason ? reason(chat.name) : "This chat has ended.";
    chat.pane.setClosed(said + " You can still read it here.");
    const ui = chat.ui;
    ui.phase.hidden = true;
    ui.tools.hidden = true;
    closeAsk(chat, { focus: false });
    // The notes with the moderators stay within reach after the chat.
    if (chat.whispers) ui.tools.after(ui.notesToggle);
    ui.soft.hidden = true;
    ui.planButton.hidden = true;
    closePlan(chat, { clear: true });
    chat.pane.root.classList.add("staff-pane--ended");
    acknowledge(chat);
    renderNoteForm(chat);
    renderChats();
    if (!quiet) refreshStatus(); // a place is free again
    if (byMe) {
      // Unless the confirmation is still open (the answer is on its way): then once it closes.
      if (!document.querySelector("dialog.staff-dialog[open]")) focusNote(chat);
    } else if (!quiet) {
      announce("Your chat with " + chat.name + " has ended. A short handover note is due.");
    }
  }

  function focusNote(chat) {
    const input = chat.ui.noteBox.querySelector("textarea");
    if (input) input.focus();
  }

  function renderNoteForm(chat, { text = "" } = {}) {
    const box = chat.ui.noteBox;
    box.hidden = false;
    const form = element("form", "handover-form");
    form.noValidate = true;
    const inputId = newId("note");
    const errorId = newId("note-error");
    const label = element(
      "label",
      "handover-label",
      "Short note for the team: what helped, anything the next supporter should know. Staff only.",
    );
    label.htmlFor = inputId;
    const input = element("textarea", "handover-input");
    input.id = inputId;
    input.name = "body";
    input.rows = 3;
    input.maxLength = NOTE_MAX_CHARS;
    input.value = text;
    input.setAttribute("aria-describedby", errorId);
    const error = element("p", "form-error handover-error");
    error.id = errorId;
    error.setAttribute("role", "alert");
    error.hidden = true;
    const actions = element("p", "handover-actions");
    const save = element("button", "button", "Save note");
    save.type = "submit";
    actions.append(save);
    form.append(label, input, error, actions);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (save.disabled) return;
      const body = input.value.trim();
      if (!body) {
        error.textContent = "Write a few words first: even one line helps the next supporter.";
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      save.disabled = true;
      save.textContent = "Saving…";
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      try {
        await conn.postJSON(urls.sessions + chat.room + "/handover", { body });
        chat.noteSaved = true;
        chat.noteText = body;
        if (status && Array.isArray(status.notes_due)) {
          status.notes_due = status.notes_due.filter((item) => item.room !== chat.room);
        }
        renderNoteSaved(chat);
        renderNotesDue();
        renderChats();
        announce("Note saved. Thank you.");
      } catch (failure) {
        if (conn.signedOut) return;
        save.disabled = false;
        save.textContent = "Save note";
        error.textContent =
          (failure.detail || "We couldn't save the note just now.") + " Please try again.";
        error.hidden = false;
      }
    });
    box.replaceChildren(form);
  }

  function renderNoteSaved(chat) {
    const box = chat.ui.noteBox;
    const saved = element(
      "p",
      "handover-saved",
      "Note saved. Thank you for looking after " + chat.name + ".",
    );
    const actions = element("p", "handover-actions");
    const edit = button("Edit note", "button button-quiet");
    const dismiss = button("Close this chat", "button");
    edit.addEventListener("click", () => {
      renderNoteForm(chat, { text: chat.noteText || "" });
      focusNote(chat);
    });
    dismiss.addEventListener("click", () => dismissChat(chat));
    actions.append(edit, dismiss);
    box.replaceChildren(saved, actions);
    dismiss.focus();
  }

  function dismissChat(chat) {
    removeChat(chat);
    focusAfterRemoval();
  }

  function focusAfterRemoval() {
    const next = visibleChats()[0];
    if (next) next.pane.el.title.focus();
    else byId("chats-heading").focus();
  }

  function openHandOver(chat) {
    if (chat.ended) return;
    let targets = [];
    let chosen = null;
    let fields = null;
    openDialog({
      title: "Hand over your chat with " + chat.name,
      opener: chat.ui.handOver,
      confirmText: "Hand over",
      cancelText: "Cancel",
      build(body, dialog) {
        fields = body;
        loadTargets(dialog);
      },
      async onConfirm(dialog) {
        if (!targets.length) return;
        const picked = fields.querySelector("input[name='handover-to']:checked");
        const note = fields.querySelector("textarea");
        chosen = picked ? picked.value : null;
        if (!chosen) {
          dialog.error("Choose who should take the chat.");
          const first = fields.querySelector("input[name='handover-to']");
          if (first) first.focus();
          return;
        }
        if (!note.value.trim()) {
          dialog.error(
            "Write a short note for " + chosen + ": it's how they'll know where things are.",
          );
          note.setAttribute("aria-invalid", "true");
          note.focus();
          return;
        }
        note.removeAttribute("aria-invalid");
        dialog.busy(true, "Handing over…");
        chat.transferring = true;
        try {
          await conn.postJSON(urls.sessions + chat.room + "/transfer", {
            to: chosen,
            note: note.value.trim(),
          });
          dialog.close({ restoreFocus: false });
          removeChat(chat);
          pageNotice(
            "Your chat with " + chat.name + " was handed over to " + chosen + ". Thank you.",
            { focus: true },
          );
          refreshStatus();
        } catch (error) {
          chat.transferring = false;
          if (conn.signedOut) return dialog.close();
          dialog.busy(false);
          dialog.error(
            (error.detail || "We couldn't hand the chat over just now.") + " Please try again.",
          );
          if (error.code === "supporter_unavailable") loadTargets(dialog);
          if (error.code === "session_ended") {
            dialog.close({ restoreFocus: false });
            chatEnded(chat, { byMe: false });
          }
          if (chat.pane.gone) removeChat(chat);
        }
      },
    });

    async function loadTargets(dialog) {
      dialog.confirmButton.hidden = true;
      fields.replaceChildren(element("p", null, "Checking who's free…"));
      let data;
      try {
        data = await conn.getJSON(urls.targets);
      } catch (error) {
        if (conn.signedOut) return;
        fields.replaceChildren(element("p", null, "We couldn't check who's free just now."));
        fields.append(againButton(dialog));
        return;
      }
      targets = data && Array.isArray(data.supporters) ? data.supporters : [];
      if (!targets.length) {
        fields.replaceChildren(
          element(
            "p",
            null,
            "Nobody else on shift has a free place right now. You could ask a moderator " +
              "for help, or check again in a moment.",
          ),
          againButton(dialog),
        );
        return;
      }
      const previousNote = dialog.node.querySelector("textarea");
      const keep = previousNote ? previousNote.value : "";
      const group = element("fieldset", "handover-targets");
      group.append(element("legend", null, "Who should take it?"));
      for (const target of targets) {
        const label = element("label", "handover-target");
        const input = element("input");
        input.type = "radio";
        input.name = "handover-to";
        input.value = target.handle;
        if (targets.length === 1 || target.handle === chosen) input.checked = true;
        const free = Number(target.free) || 0;
        label.append(
          input,
          " ",
          element("span", "handover-target-name", target.handle),
          " ",
          element(
            "span",
            "handover-target-detail",
            "(" +
              (target.level || "supporter") +
              ", " +
              plural(free, "free place", "free places") +
              ")",
          ),
        );
        group.append(label);
      }
      const noteId = newId("transfer-note");
      const helpId = newId("transfer-help");
      const noteLabel = element("label", "handover-label", "Handover note (staff only)");
      noteLabel.htmlFor = noteId;
      const help = element(
        "p",
        "field-help",
        "What you've talked about, how they are, anything to be careful of. " +
          chat.name +
          " won't see this.",
      );
      help.id = helpId;
      const note = element("textarea", "handover-input");
      note.id = noteId;
      note.rows = 4;
      note.maxLength = NOTE_MAX_CHARS;
      note.value = keep;
      note.setAttribute("aria-describedby", helpId);
      fields.replaceChildren(group, noteLabel, help, note);
      dialog.confirmButton.hidden = false;
      const firstInput = group.querySelector("input:checked") || group.querySelector("input");
      if (firstInput) firstInput.focus();
    }

    function againButton(dialog) {
      const again = button("Check again", "button button-quiet");
      again.addEventListener("click", () => loadTargets(dialog));
      return again;
    }
  }

  // Someone else took this chat, or the room is gone: it leaves the page.
  function chatGone(chat) {
    if (chat.transferring || !chats.has(chat.room)) return;
    if (chat.ended) {
      // An ended chat still keeps its note form; only an open one is taken away.
      return;
    }
    removeChat(chat);
    pageNotice(
      "Your chat with " +
        chat.name +
        " is no longer with you: it was handed over or closed elsewhere.",
    );
  }

  function removeChat(chat) {
    if (!chats.has(chat.room)) return;
    chats.delete(chat.room);
    if (chat.whispers) chat.whispers.destroy();
    chat.pane.destroy({ leave: !chat.pane.gone });
    if (currentRoom === chat.room) {
      currentRoom = null;
      const next = visibleChats()[0];
      if (next && !wide.matches) selectChat(next.room);
    }
    renderChats();
    renderNotesDue();
  }

  // Notes still to write (chats that ended before this page was opened) -----------------------

  function renderNotesDue() {
    const due = status && Array.isArray(status.notes_due) ? status.notes_due : [];
    const items = due
      .filter((item) => item && Number.isInteger(item.room) && !chats.has(item.room))
      .map((item) => {
        const li = element("li", "notes-due-item");
        const name = (item.seeker && item.seeker.handle) || "Someone";
        const text = element("p", "notes-due-text");
        text.append(element("strong", null, name));
        if (item.ended_at) text.append(" · ended " + whenText(item.ended_at));
        const write = button("Write note", "button button-small");
        write.setAttribute("aria-label", "Write note for your chat with " + name);
        write.addEventListener("click", () => {
          const chat = addChat(
            { room: item.room, seeker: { handle: name }, state: "ended", ended_at: item.ended_at },
            { ended: true },
          );
          selectChat(chat.room, { focus: false });
          focusNote(chat);
        });
        li.append(text, write);
        return li;
      });
    els.notesDueList.replaceChildren(...items);
    els.notesDue.hidden = items.length === 0;
  }

  // Layout: side by side on a wide screen, one at a time with a switcher on a phone --------------

  function visibleChats() {
    return Array.from(chats.values());
  }

  function selectChat(room, { focus = false } = {}) {
    const chat = chats.get(room);
    if (!chat) return;
    if (!wide.matches) {
      for (const other of chats.values()) {
        if (other !== chat && other.pane.visible) other.pane.hide();
      }
      currentRoom = room;
    }
    chat.pane.show();
    chat.unseen = 0;
    chat.unseenWhispers = 0;
    renderChats();
    if (focus) {
      chat.pane.focus();
      if (wide.matches) chat.pane.root.scrollIntoView({ block: "nearest" });
    }
  }

  function applyLayout() {
    if (wide.matches) {
      for (const chat of chats.values()) {
        if (!chat.pane.visible) chat.pane.show();
      }
    } else {
      if (!chats.has(currentRoom)) currentRoom = chats.size ? chats.keys().next().value : null;
      for (const chat of chats.values()) chat.pane.setVisible(chat.room === currentRoom);
    }
    for (const chat of chats.values()) {
      if (chat.pane.visible && document.visibilityState === "visible") chat.unseen = 0;
    }
  }

  function renderChats() {
    applyLayout();
    const count = chats.size;
    let empty = "";
    if (!count) {
      if (!status) empty = "Loading your chats…";
      else if (status.on_shift && status.taking_chats)
        empty =
          "No chats just now. When someone is matched with you, their chat appears here by " +
          "itself: you don't need to refresh.";
      else if (status.on_shift) empty = "No chats just now.";
      else empty = "Start your shift to take chats.";
    }
    setText(els.chatsEmpty, empty);
    app.dataset.chats = String(count);
    renderSwitcher();
    updateTitle();
  }

  // The switcher and the banner keep their buttons from one render to the next (only what is
  // in them changes), so a press is never lost to a re-render, and focus stays put.
  const switchButtons = new Map(); // room -> <li> with its button
  const goButtons = new Map(); // room -> <li> of the banner

  function keyed(list, cache, rooms, make) {
    for (const [room, item] of cache) {
      if (!rooms.includes(room)) {
        item.remove();
        cache.delete(room);
      }
    }
    rooms.forEach((room, index) => {
      let item = cache.get(room);
      if (!item) {
        item = make(room);
        cache.set(room, item);
      }
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
  }

  function separator() {
    return element("span", "visually-hidden", ", ");
  }

  function renderSwitcher() {
    const list = visibleChats();
    els.switcher.hidden = list.length < 2;
    keyed(
      els.switcherList,
      switchButtons,
      list.map((chat) => chat.room),
      (room) => {
        const li = element("li");
        const item = element("button", "switch-button");
        item.type = "button";
        item.dataset.switchRoom = String(room);
        li.append(item);
        return li;
      },
    );
    for (const chat of list) {
      const item = switchButtons.get(chat.room).firstElementChild;
      const shown = !wide.matches && chat.room === currentRoom;
      if (shown) item.setAttribute("aria-current", "true");
      else item.removeAttribute("aria-current");
      const parts = [element("span", "switch-name", chat.name)];
      if (chat.isNew) parts.push(element("span", "switch-badge switch-badge--new", "New chat"));
      if (chat.unseen) {
        parts.push(
          element("span", "switch-badge", plural(chat.unseen, "unread message", "unread messages")),
        );
      }
      if (chat.session.urgent && !chat.ended) {
        parts.push(element("span", "switch-badge switch-badge--urgent", "Urgent"));
      }
      const escalated = chat.escalation && chat.escalation.state;
      if (escalated === "open" || escalated === "acknowledged") {
        parts.push(
          element(
            "span",
            "switch-badge switch-badge--urgent",
            escalated === "open" ? "Moderator asked" : "Moderator helping",
          ),
        );
      }
      if (chat.unseenWhispers) {
        parts.push(element("span", "switch-badge", "Moderator note"));
      }
      if (chat.ended) {
        parts.push(
          element(
            "span",
            "switch-badge switch-badge--ended",
            chat.noteSaved ? "Ended" : "Ended: note due",
          ),
        );
      }
      const text = parts.map((part) => part.textContent).join("|");
      if (item.dataset.text !== text) {
        item.dataset.text = text;
        // Commas between the parts for screen readers ("Quiet Otter, New chat, Urgent").
        item.replaceChildren(
          ...parts.flatMap((part, index) => (index ? [separator(), part] : [part])),
        );
      }
    }
    renderNewChats();
  }

  // The banner at the top of the screen: every new chat not looked at yet.
  function renderNewChats() {
    const fresh = visibleChats().filter((chat) => chat.isNew);
    keyed(
      els.newChatsList,
      goButtons,
      fresh.map((chat) => chat.room),
      (room) => {
        const chat = chats.get(room);
        const li = element("li", "new-chats-item");
        const text = element("p", "new-chats-text");
        text.append(element("strong", null, "New chat"), " with " + chat.name);
        if (chat.session.urgent) {
          text.append(separator(), element("span", "switch-badge switch-badge--urgent", "Urgent"));
        }
        const go = button("Go to chat", "button button-small");
        go.dataset.goRoom = String(room);
        go.setAttribute("aria-label", "Go to your new chat with " + chat.name);
        li.append(text, go);
        return li;
      },
    );
    els.newChats.hidden = fresh.length === 0;
  }

  // Dialogs (confirmations and the hand-over form) ----------------------------------------------

  function openDialog({
    title,
    opener,
    confirmText,
    cancelText,
    danger = false,
    focusCancel = false,
    build,
    onConfirm,
  }) {
    const node = els.dialogTemplate.content.firstElementChild.cloneNode(true);
    const form = node.querySelector("form");
    form.noValidate = true;
    const heading = node.querySelector(".staff-dialog-title");
    const body = node.querySelector(".staff-dialog-body");
    const errorEl = node.querySelector(".staff-dialog-error");
    const confirm = node.querySelector(".staff-dialog-confirm");
    const cancel = node.querySelector(".staff-dialog-cancel");
    heading.id = newId("dialog-title");
    heading.textContent = title;
    node.setAttribute("aria-labelledby", heading.id);
    confirm.textContent = confirmText;
    cancel.textContent = cancelText;
    if (danger) confirm.classList.add("button-danger");
    let busy = false;
    let restore = true;
    const dialog = {
      node,
      confirmButton: confirm,
      error(text) {
        errorEl.textContent = text;
        errorEl.hidden = !text;
      },
      busy(on, text) {
        busy = on;
        confirm.disabled = on;
        cancel.disabled = on;
        confirm.textContent = on && text ? text : confirmText;
        if (on) dialog.error("");
      },
      close({ restoreFocus = true } = {}) {
        restore = restoreFocus;
        busy = false;
        if (node.open) node.close();
        else node.remove();
      },
    };
    form.addEventListener("submit", (event) => {
      const submitter = event.submitter;
      if (submitter && submitter.value === "cancel") {
        if (busy) event.preventDefault();
        return; // method="dialog" closes it
      }
      event.preventDefault();
      if (busy) return;
      dialog.error("");
      onConfirm(dialog);
    });
    node.addEventListener("cancel", (event) => {
      if (busy) event.preventDefault(); // Escape while something is on its way
    });
    node.addEventListener("close", () => {
      node.remove();
      if (restore && opener && opener.isConnected && !opener.closest("[hidden]")) opener.focus();
    });
    if (build) build(body, dialog);
    document.body.append(node);
    node.showModal();
    if (focusCancel) cancel.focus();
    return dialog;
  }

  // Signed out ----------------------------------------------------------------------------------

  function showSignedOut() {
    window.clearTimeout(statusTimer);
    Peerchat.RoomPane.discardPending(me.handle);
    for (const dialog of document.querySelectorAll("dialog.staff-dialog")) dialog.remove();
    app.dataset.view = "signed-out";
    els.signedOut.hidden = false;
    // The header's account and page links no longer apply.
    for (const nav of document.querySelectorAll(".site-header .account")) nav.hidden = true;
    document.title = BASE_TITLE;
    els.signedOutHeading.focus();
  }

  // Wiring --------------------------------------------------------------------------------------

  els.shiftButton.addEventListener("click", onShiftButton);
  els.switcherList.addEventListener("click", (event) => {
    const target = event.target.closest("[data-switch-room]");
    if (!target) return;
    selectChat(Number(target.dataset.switchRoom), { focus: true });
  });
  els.newChatsList.addEventListener("click", (event) => {
    const target = event.target.closest("[data-go-room]");
    if (!target) return;
    selectChat(Number(target.dataset.goRoom), { focus: true });
  });
  wide.addEventListener("change", () => renderChats());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || conn.signedOut) return;
    if (unseenWhileAway) {
      unseenWhileAway = false;
      renderChats();
    }
    refreshStatus();
  });
  const signOutForm = document.querySelector("[data-sign-out]");
  if (signOutForm) {
    signOutForm.addEventListener("submit", () => Peerchat.RoomPane.discardPending(me.handle));
  }
  setupChime();

  conn.on("hello", () => refreshStatus()); // chats may have come (or gone) meanwhile
  conn.on("staff_queue", onStaffQueue);
  conn.on("assigned", (frame) => {
    if (!Number.isInteger(frame.room)) return;
    const chat = chats.get(frame.room);
    if (chat) {
      if (frame.transferred_from) chat.transferredFrom = frame.transferred_from.handle;
      updateSession(chat, { ...frame, type: "session" });
      return;
    }
    addChat({ ...frame, type: "session" }, { isNew: true });
    refreshStatus(); // capacity and load
  });
  conn.on("tick", (now) => {
    for (const chat of chats.values()) {
      renderSoftLimit(chat, now);
      if (chat.escalation && chat.escalation.state === "open") renderEscalation(chat, now);
    }
    renderQueue();
  });
  conn.on("signed_out", showSignedOut);

  conn.watch("staff_queue");
  conn.start();
  refreshStatus();
})();
