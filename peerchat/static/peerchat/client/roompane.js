// Peerchat.RoomPane: one room's conversation (messages, composer, typing note) rendered into a
// container, on a Peerchat.Connection. Several panes can live on one page: each builds its own
// elements, with generated ids, and listens only to its own room's frames.
//
// Delivery guarantees kept here (DESIGN.md §6): the last seq seen; duplicates dropped; a gap in
// the live stream makes the connection re-join with `since`; outgoing messages carry a
// client_msg_id, wait in sessionStorage until acked, and are re-sent with the same id after any
// reconnect. Message bodies are plain text and only ever reach the page through textContent.
(function () {
  "use strict";

  const Peerchat = (window.Peerchat = window.Peerchat || {});
  const { element } = Peerchat.dom;

  const TYPING_SEND_EVERY_MS = 3000;
  const TYPING_SHOW_MS = 5000;
  const RESEND_AFTER_MS = 8000;
  const RATE_PAUSE_MS = 2000;
  const RECENTLY_SENT_MS = 5000;
  const ACKED_FRAME_WAIT_MS = 3000;
  const NOTICE_MS = 12000;
  const COUNTER_FROM_REMAINING = 200;
  const EARLIER_PAGE = 100;
  const HOLE_PAGE = 200;
  const NEAR_BOTTOM_PX = 96;
  const QUIET_REPLAY_MAX_MS = 3000;
  // "I need urgent help": how long the socket's answer may take before the same request goes
  // over HTTP, and how often a request that reached nobody is tried again.
  const ESCALATE_SOCKET_WAIT_MS = 5000;
  const ESCALATE_RETRY_MS = [3000, 6000, 12000, 20000, 30000];

  // Words ------------------------------------------------------------------------------------

  const numbers = new Intl.NumberFormat();
  const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const dayAndTime = new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "numeric",
    minute: "2-digit",
  });
  const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

  // Who a `message_removed` frame says removed the messages; anything else reads as "sender".
  const REMOVED_BY = new Set(["sender", "moderator", "retention"]);

  const TEXT = {
    empty: "No messages yet. Say hello whenever you're ready.",
    loading: "Loading messages…",
    none: "No messages.",
    gone: "You're no longer part of this conversation.",
    ended: "This chat has ended. You can still read it here.",
    removed: "Message removed by sender",
    removedByModerator: "A moderator removed this message",
    // The retention purge (docs/operations.md, "Data retention"): calm, and true for everyone.
    removedByRetention: "Older messages are cleared after a while, to protect privacy",
    muted: "Message from someone you muted",
    moderatorNote: "Moderators can see this chat to keep everyone safe.",
    showWarned: "Show message",
    warnedMine: "Others see this behind a content warning.",
    released: "A moderator has looked at this and shared it with the room.",
    resources: "Free help, any time",
    // The seeker's "I need urgent help" and the panel it opens (DESIGN.md §2: calm, no blame,
    // no alarm; the chat goes on).
    urgentButton: "I need urgent help",
    urgentHint:
      "Lets the team know you need help now, and shows free numbers you can call or text. " +
      "Your chat stays open.",
    helpHeading: "Free help, right now",
    helpHide: "Hide",
    helpHideName: "Hide free help",
    helpSending: "Letting the team know…",
    helpAsked:
      "Thank you for telling us. Someone from the team has been asked to help. You can keep " +
      "talking here. If you might be in danger right now, these are free and there any time.",
    helpRetrying:
      "We couldn't reach the team just now, so we'll keep trying. If you might be in danger " +
      "right now, please call or text one of these: they're free and there any time.",
    helpGone:
      "This chat isn't open any more. If you might be in danger right now, please call or " +
      "text one of these: they're free and there any time.",
    helpKeepTalking: "You can keep talking here whenever you're ready.",
    helpAfterDanger:
      "Someone from the team will check in. If you might be in danger right now, you can call " +
      "or text one of these: they're free and there any time. You can keep talking here.",
    helpShown: "Free numbers you can call or text are shown above the message box.",
    // Moderators in the room (DESIGN.md §1: the room shows that a moderator may be present).
    presence: "A moderator is here too.",
    presenceWhy: "As the room agreement says, they can join to help keep everyone safe.",
    observing: "You are observing — the people here see that a moderator may be present.",
    paused:
      "A moderator has paused this chat for a moment. You can still read it, and what you've " +
      "typed is kept until you can send again.",
    resumed: "The chat has carried on. You can send messages again.",
  };

  const NOTES = {
    masked: "Some contact details were hidden to help keep everyone safe.",
    held:
      "Only you can see this for now. A moderator will look at it soon and may share it " +
      "after that. You can keep talking.",
    blocked:
      "This message wasn't shared with the room. You can keep talking — and if you need " +
      "help right now, the free numbers on this page are there for you.",
  };

  // What others see in place of a message the filter put behind a reveal (its sender sees it).
  const WARNINGS = {
    graphic: "This message describes injury.",
    upsetting: "This message may be upsetting to read.",
  };

  // Said with the crisis resources under a message that was delivered, when the server's `ack`
  // brings resources without a note of its own (imminent danger: DESIGN.md §7).
  const DANGER_NOTE =
    "If you're in danger right now, you can call or text one of these. They're free and " +
    "there at any time.";

  // Crisis resources come from the deployment's settings; only these kinds of link are made.
  const RESOURCE_HREF = /^(tel:|sms:|mailto:|https:\/\/|http:\/\/)/i;

  function kindError(code, maxChars) {
    switch (code) {
      case "body_too_long":
        return (
          "That message is a bit long — messages can be up to " +
          numbers.format(maxChars || 2000) +
          " characters. You could split it into two."
        );
      case "body_empty":
        return "That message looks empty, so it wasn't sent.";
      case "invalid_field":
        return "That message couldn't be sent as it is. Please check it and try again.";
      case "room_not_found":
        return "This conversation isn't available any more, so the message wasn't sent.";
      case "room_ended":
      case "session_ended":
        return "This conversation has ended, so the message wasn't sent.";
      case "session_paused":
        return (
          "The chat is paused for a moment. This message will be sent as soon as it carries on."
        );
      case "read_only":
        return "You're observing this chat, so messages can't be sent from here.";
      case "group_closed":
        return (
          "The group isn't open right now. Your message will be sent as soon as the " +
          "facilitator opens it."
        );
      case "rate_limited":
        return (
          "You're sending quickly, so we've slowed things down a little. " +
          "Your messages will go through in a moment."
        );
      case "server_error":
        return "Something went wrong on our side. We'll keep trying.";
      default:
        return "Something didn't work just then. Please try again in a moment.";
    }
  }

  // A send that cannot succeed by trying again; the person gets the text back to edit.
  const FINAL_SEND_ERRORS = new Set([
    "body_too_long",
    "body_empty",
    "invalid_field",
    "room_not_found",
    "session_ended",
  ]);

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const today = new Date().toDateString() === date.toDateString();
    return (today ? timeOnly : dayAndTime).format(date);
  }

  // The server counts characters as code points (Python's len), not UTF-16 units.
  function charCount(text) {
    return Array.from(text).length;
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; getRandomValues does not.
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [
      hex.slice(0, 8),
      hex.slice(8, 12),
      hex.slice(12, 16),
      hex.slice(16, 20),
      hex.slice(20),
    ].join("-");
  }


  // Crisis resources from the server (`ack.resources`): a short list of links, built as text.
  function resourceList(resources, className = "message-resources", { colon = true } = {}) {
    const list = element("ul", className);
    list.setAttribute("aria-label", TEXT.resources);
    for (const resource of Array.isArray(resources) ? resources : []) {
      if (!resource || typeof resource.name !== "string" || !resource.name) continue;
      const href = typeof resource.href === "string" ? resource.href : "";
      const holder = RESOURCE_HREF.test(href) ? element("a") : element("span");
      if (holder.tagName === "A") holder.href = href;
      holder.append(element("span", "message-resource-name", resource.name));
      if (typeof resource.detail === "string" && resource.detail) {
        const detail = (colon ? ": " : " ") + resource.detail;
        holder.append(element("span", "message-resource-detail", detail));
      }
      const item = element("li");
      item.append(holder);
      list.append(item);
    }
    return list.childElementCount ? list : null;
  }

  // The private note under the person's own message, with the resources when there are any.
  function noteElements(text, resources) {
    const parts = [];
    if (text) parts.push(element("p", "message-note", text));
    const list = resourceList(resources);
    if (list) parts.push(list);
    return parts;
  }

  // "Kai (moderator)": a person's handle with their role, unless the handle says it already.
  function personName(who) {
    const handle = who.handle;
    const role = typeof who.role === "string" ? who.role : "";
    if (!role || role === "seeker" || handle.toLowerCase().includes("(" + role + ")")) {
      return handle;
    }
    return handle + " (" + role + ")";
  }

  function cleanResources(value) {
    return Array.isArray(value) ? value.filter((r) => r && typeof r === "object") : [];
  }

  // Pending messages: one list per signed-in person, shared by every pane of the tab ----------

  const stores = new Map();

  function pendingStore(handle) {
    const key = "peerchat.pending.v1." + handle;
    let store = stores.get(key);
    if (store) return store;
    store = {
      key,
      items: loadPending(key),
      panes: new Set(), // every pane of the tab using this list
      // Save, and show the change in every pane of the item's room.
      changed(item) {
        this.save();
        for (const pane of this.panes) {
          if (pane.room === item.room) pane._syncPending(item);
        }
      },
      save() {
        const waiting = this.items
          .filter(isUnsent)
          .map((item) => ({ id: item.id, room: item.room, body: item.body, at: item.at }));
        try {
          if (waiting.length) window.sessionStorage.setItem(key, JSON.stringify(waiting));
          else window.sessionStorage.removeItem(key);
        } catch (error) {
          // Storage can be full or switched off; the message still waits in memory.
        }
      },
    };
    stores.set(key, store);
    return store;
  }

  // Not stored yet: on its way ("sending") or kept until a group opens ("waiting").
  function isUnsent(item) {
    return item.state === "sending" || item.state === "waiting";
  }

  function loadPending(key) {
    try {
      const list = JSON.parse(window.sessionStorage.getItem(key) || "[]");
      if (!Array.isArray(list)) return [];
      return list
        .filter(
          (item) =>
            item &&
            typeof item.id === "string" &&
            Number.isInteger(item.room) &&
            typeof item.body === "string",
        )
        .map((item) => ({ ...item, state: "sending", sentAt: 0 }));
    } catch (error) {
      return [];
    }
  }

  // Where an item of the message list stands: a message at its seq, a notice ("Kai joined")
  // just after the message it followed.
  function positionOf(node) {
    if (node.dataset.seq !== undefined) return Number(node.dataset.seq);
    return Number(node.dataset.after || 0) + 0.5;
  }

  let paneCount = 0;

  class RoomPane {
    /**
     * container: the element the pane is appended to.
     * options (see docs/client.md): connection (required), room (required), name, kind,
     *   messagesUrl, escalateUrl, headingLevel, note, ids, visible, join, observe, urgentHelp,
     *   resources, messageActions, endedText, emptyText, keepName, onJoined, onSession,
     *   onFrame, onActivity, onGone, onEnded.
     */
    constructor(container, options) {
      if (!options || !options.connection || !Number.isInteger(Number(options.room))) {
        throw new Error("RoomPane needs { connection, room }");
      }
      this.conn = options.connection;
      this.room = Number(options.room);
      this.name = options.name || "Conversation";
      this.kind = options.kind || null;
      this.options = options;
      this.messagesUrl = options.messagesUrl || "/api/v1/rooms/" + this.room + "/messages";
      this.escalateUrl = options.escalateUrl || "/api/v1/rooms/" + this.room + "/escalate";
      // A moderator watching read-only: `observe` instead of `join`, no composer.
      this.observe = options.observe === true;
      this.moderatorPresent = false;
      this.paused = false;
      // The free-help panel: what it shows, and whether the person hid it.
      this.help = { shown: false, note: "", resources: [], state: "" };
      this.escalation = null; // the last answer to `escalate` (socket or HTTP)
      this._escalating = null; // { note, attempt, timer } while "I need urgent help" is on its way
      this._escalateWaiters = new Set();
      this._events = []; // quiet notices in the message list: { after: seq, text }
      this.visible = options.visible !== false;
      this.unread = 0;
      this.gone = false;
      this.closedText = null;
      this.readOnly = false;
      this.readOnlyText = null;
      this.session = null;
      this.group = null;
      this.muted = new Set();
      this.revealed = new Set(); // seqs of muted people's messages shown on request
      this.revealedWarnings = new Set(); // seqs of messages behind a content warning, shown
      this.typers = new Map(); // handle -> time their "typing" expires
      this.typingSentAt = 0;
      this.lastSentAt = 0;
      this.loadingEarlier = false;
      this.destroyed = false;
      this._joinedOnce = false;
      this._timers = new Set();
      this._quietTimer = null;
      this._quietUntil = 0;
      this._noticeTimer = null;
      this._store = pendingStore(this.conn.handle || "");
      this._store.panes.add(this);
      this._resetHistory();

      paneCount += 1;
      this._uid = "peerchat-pane-" + paneCount;
      this._build(container);
      this._wire();
      if (this.observe) this.setReadOnly(true, TEXT.observing);
      this._renderAll();
      if (options.join !== false) this._join();
      if (this.conn.ready) this._resendAll();
    }

    // Public API -------------------------------------------------------------------------------

    /** Show the pane (resets its unread count) or hide it; hidden panes keep receiving. */
    setVisible(visible) {
      const was = this.visible;
      this.visible = Boolean(visible);
      this.root.hidden = !this.visible;
      if (this.visible) {
        this.unread = 0;
        if (!was) this._scrollToBottom();
      }
    }

    show() {
      this.setVisible(true);
    }

    hide() {
      this.setVisible(false);
    }

    /** Move focus into the pane: the composer with a mouse, the title on touch screens. */
    focus() {
      const fine = window.matchMedia("(pointer: fine)").matches;
      const target = fine && !this.el.composer.hidden ? this.el.input : this.el.title;
      target.focus();
    }

    /** The heading, and whom the composer writes to ("Message to …", default: `name`). */
    setName(name, recipient) {
      if (!name) return;
      this.name = name;
      this.el.title.textContent = name;
      this.el.label.textContent = "Message to " + (recipient || name);
    }

    /** The chat has ended (or `null`: it has not): no composer, `text` in its place. */
    setClosed(text) {
      this.closedText = text === null || text === undefined ? null : String(text);
      this._renderChrome();
    }

    /** Read-only (e.g. a moderator observing): no composer, an optional `text` instead. */
    setReadOnly(readOnly, text) {
      this.readOnly = Boolean(readOnly);
      this.readOnlyText = this.readOnly && text ? String(text) : null;
      this._renderChrome();
    }

    /** The person is no longer a member: stop joining, fail what waits to be sent. */
    setGone() {
      if (this.gone) return;
      this.gone = true;
      this.conn.forget(this.room);
      this.typers.clear();
      for (const item of this._pending()) {
        if (!isUnsent(item)) continue;
        item.state = "failed";
        item.note = kindError("room_ended");
        this._store.changed(item);
      }
      this._renderTyping();
      this._renderChrome();
      this._hook("onGone", this);
    }

    /** Member again (the room is listed again): carry on from the last seq we have. */
    reopen() {
      if (!this.gone) return;
      this.gone = false;
      this._join();
      this._renderChrome();
    }

    /**
     * Ask for urgent help in this room (`escalate`, with an optional note for staff). Goes over
     * the socket, or over HTTP when the socket is not open or does not answer in time.
     * Resolves to the answer ({ escalation, new, note, resources }); rejects with an Error
     * carrying `code` when neither way worked. The answer also goes through `onFrame` as an
     * `escalated` frame, however it came.
     */
    async escalate(note = "") {
      const text = typeof note === "string" ? note : "";
      if (this.conn.send({ type: "escalate", room: this.room, note: text })) {
        try {
          return await this._escalatedAnswer();
        } catch (error) {
          if (error && error.code && error.code !== "timeout" && error.code !== "server_error") {
            throw error; // refused (not a member, a note too long): HTTP would say the same
          }
        }
      }
      const answer = await this.conn.postJSON(this.escalateUrl, { note: text });
      const frame = { ...(answer || {}), type: "escalated", room: this.room };
      this._handleFrame(frame);
      return frame;
    }

    /** Show the free-help panel (the crisis resources, with a kind note); focus it if asked. */
    showHelp({ note = null, resources = null, focus = false } = {}) {
      if (note !== null) this.help.note = String(note || "");
      const list = cleanResources(resources);
      if (list.length) this.help.resources = list;
      else if (!this.help.resources.length) this.help.resources = this._fallbackResources();
      this.help.shown = true;
      this._renderHelp();
      if (focus) {
        this.el.helpHeading.focus({ preventScroll: true });
        this.el.help.scrollIntoView({ block: "nearest" });
      } else {
        const said = this.help.note ? this.help.note + " " : "";
        Peerchat.dom.say(this.el.announce, said + TEXT.helpShown);
      }
    }

    /** Hide the free-help panel (it comes back with the next answer, or the button). */
    hideHelp({ focus = false } = {}) {
      if (!this.help.shown) return;
      this.help.shown = false;
      this._renderHelp();
      if (!focus) return;
      const target = !this.el.urgent.hidden
        ? this.el.urgent
        : !this.el.composer.hidden && !this.el.input.disabled
          ? this.el.input
          : this.el.title;
      target.focus();
    }

    /** Re-draw every message (e.g. after what `messageActions` offers has changed). */
    refreshMessages() {
      for (const seq of this.messages.keys()) this._refreshMessage(seq);
    }

    /** Hide the messages of these handles behind a "show" button (group mutes). */
    setMuted(handles) {
      const list = Array.isArray(handles) ? handles.filter((h) => typeof h === "string") : [];
      const before = this.muted;
      const next = new Set(list);
      const touched = new Set([...before, ...next].filter((h) => before.has(h) !== next.has(h)));
      this.muted = next;
      if (!touched.size) return;
      for (const handle of next) this.typers.delete(handle);
      this._renderTyping();
      for (const [seq, frame] of this.messages) {
        if (frame.sender && touched.has(frame.sender.handle)) this._refreshMessage(seq);
      }
    }

    /** Stop listening; with { leave: true } (the default) also stop receiving the room. */
    destroy({ leave = true } = {}) {
      if (this.destroyed) return;
      this.destroyed = true;
      for (const off of this._offs) off();
      for (const timer of this._timers) window.clearTimeout(timer);
      window.clearTimeout(this._quietTimer);
      window.clearTimeout(this._noticeTimer);
      if (this._escalating) window.clearTimeout(this._escalating.timer);
      this._escalating = null;
      this._store.panes.delete(this);
      if (leave) this.conn.leave(this.room);
      this.root.remove();
    }

    /**
     * Give the pane's parts fixed ids (a page whose tests or links need them), or `null` to go
     * back to generated ones. Parts: root, title, log, messages, input, send, composer, hint,
     * counter, typing, notice, loadEarlier, jump, logEmpty, closed, urgent, help,
     * helpHeading, presence, paused.
     */
    setIds(map) {
      for (const [part, node] of Object.entries(this.el)) {
        if (["label", "announce", "urgentHint", "roomNote"].includes(part)) continue;
        const id = (map && map[part]) || this._generatedIds[part];
        if (id) node.id = id;
        else node.removeAttribute("id");
      }
      this._linkIds();
    }

    showNotice(text) {
      this.el.notice.textContent = text;
      window.clearTimeout(this._noticeTimer);
      this._noticeTimer = window.setTimeout(() => {
        this.el.notice.textContent = "";
      }, NOTICE_MS);
    }

    /** How many messages of this room still wait for the server's answer. */
    unsentCount() {
      return this._pending().filter(isUnsent).length;
    }

    // Building ---------------------------------------------------------------------------------

    _build(container) {
      const uid = this._uid;
      const level = Math.min(6, Math.max(1, Number(this.options.headingLevel) || 2));
      this._generatedIds = {
        title: uid + "-title",
        input: uid + "-input",
        hint: uid + "-hint",
        counter: uid + "-counter",
        help: uid + "-help",
        helpHeading: uid + "-help-heading",
        paused: uid + "-paused",
      };
      const root = element("section", "pane");
      root.dataset.room = String(this.room);
      root.hidden = !this.visible;

      const header = element("div", "pane-header");
      const title = element("h" + level, "room-title", this.name);
      title.tabIndex = -1;
      header.append(title);
      // "I need urgent help": in the header, so it never scrolls away with the messages.
      const urgent = element("button", "button urgent-button", TEXT.urgentButton);
      urgent.type = "button";
      urgent.hidden = true;
      // Only the description of the button: hidden, so it is not read twice.
      const urgentHint = element("span", null, TEXT.urgentHint);
      urgentHint.id = uid + "-urgent-hint";
      urgentHint.hidden = true;
      urgent.setAttribute("aria-describedby", urgentHint.id);
      // Panes without it (staff pages) do not carry it at all.
      if (this.options.urgentHelp) header.append(urgent, urgentHint);
      const note = this.options.note === undefined ? TEXT.moderatorNote : this.options.note;
      const roomNote = element("p", "room-note", note || "");
      roomNote.hidden = !note;
      header.append(roomNote);
      const presence = element("p", "room-presence");
      presence.hidden = true;
      presence.append(
        element("strong", "room-presence-title", TEXT.presence),
        " ",
        element("span", "room-presence-why", TEXT.presenceWhy),
      );
      header.append(presence);

      const log = element("div", "log");
      log.setAttribute("role", "log");
      log.setAttribute("aria-live", "polite");
      log.setAttribute("aria-relevant", "additions");
      log.tabIndex = 0;
      const loadEarlier = element("button", "load-earlier", "Show earlier messages");
      loadEarlier.type = "button";
      loadEarlier.hidden = true;
      const logEmpty = element("p", "log-empty");
      logEmpty.hidden = true;
      const messages = element("ol", "messages");
      log.append(loadEarlier, logEmpty, messages);

      const jump = element("button", "jump-latest", "New messages ");
      jump.type = "button";
      jump.hidden = true;
      const arrow = element("span", null, "↓");
      arrow.setAttribute("aria-hidden", "true");
      jump.append(arrow);

      const typing = element("p", "typing");
      typing.setAttribute("aria-live", "polite");
      const notice = element("p", "notice");
      notice.setAttribute("role", "status");
      // Said to screen readers only (the panel and the pause are on screen already).
      const announce = element("p", "visually-hidden");
      announce.setAttribute("aria-live", "polite");

      // Free help: the crisis resources with a kind note, between the messages and the
      // composer, so the conversation stays in view.
      const help = element("section", "help-panel");
      help.hidden = true;
      const helpTop = element("div", "help-panel-top");
      const helpHeading = element(
        "h" + Math.min(6, level + 1),
        "help-panel-heading",
        TEXT.helpHeading,
      );
      helpHeading.tabIndex = -1;
      const helpHide = element("button", "link-button help-panel-hide", TEXT.helpHide);
      helpHide.type = "button";
      helpHide.setAttribute("aria-label", TEXT.helpHideName);
      helpTop.append(helpHeading, helpHide);
      const helpNote = element("p", "help-panel-note");
      const helpList = element("div", "help-panel-list");
      const helpMore = element("p", "help-panel-more", TEXT.helpKeepTalking);
      // The numbers first: when space is short they stay in view, and the words scroll.
      help.append(helpTop, helpList, helpNote, helpMore);

      const paused = element("p", "room-paused", TEXT.paused);
      paused.hidden = true;
      paused.tabIndex = -1;

      const composer = element("form", "composer");
      composer.noValidate = true;
      const label = element("label", "visually-hidden", "Message to " + this.name);
      const input = element("textarea");
      input.name = "body";
      input.rows = 1;
      input.placeholder = "Write a message…";
      input.autocomplete = "off";
      input.setAttribute("enterkeyhint", "send");
      const send = element("button", "button send-button", "Send");
      send.type = "submit";
      send.disabled = true;
      const hint = element("p", "composer-hint", "Enter sends · Shift+Enter adds a new line");
      const counter = element("p", "composer-counter");
      counter.hidden = true;
      composer.append(label, input, send, hint, counter);

      const closed = element("p", "room-closed");
      closed.hidden = true;

      root.append(header, log, jump, typing, notice, announce, help, paused, composer, closed);
      this.root = root;
      this.header = header;
      this.el = {
        root,
        title,
        urgent,
        urgentHint,
        roomNote,
        presence,
        announce,
        help,
        helpHeading,
        helpHide,
        helpNote,
        helpList,
        helpMore,
        paused,
        log,
        messages,
        loadEarlier,
        logEmpty,
        jump,
        typing,
        notice,
        composer,
        label,
        input,
        send,
        hint,
        counter,
        closed,
      };
      this.setIds(this.options.ids || null);
      container.append(root);
    }

    _linkIds() {
      const el = this.el;
      el.root.setAttribute("aria-labelledby", el.title.id);
      el.log.setAttribute("aria-labelledby", el.title.id);
      el.label.htmlFor = el.input.id;
      el.input.setAttribute("aria-describedby", el.hint.id + " " + el.counter.id);
      el.help.setAttribute("aria-labelledby", el.helpHeading.id);
      el.urgent.setAttribute("aria-controls", el.help.id);
    }

    _wire() {
      const el = this.el;
      el.composer.addEventListener("submit", (event) => {
        event.preventDefault();
        this._submit();
      });
      el.input.addEventListener("keydown", (event) => {
        // Enter sends, Shift+Enter is a new line; never interrupt an input method's composition.
        if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) {
          return;
        }
        event.preventDefault();
        this._submit();
      });
      el.input.addEventListener("input", () => this._onComposerInput());
      el.loadEarlier.addEventListener("click", () => this._loadEarlier());
      el.jump.addEventListener("click", () => {
        this._scrollToBottom();
        if (!el.composer.hidden) el.input.focus();
      });
      el.log.addEventListener("scroll", () => {
        if (!el.jump.hidden && this._isNearBottom()) el.jump.hidden = true;
      });
      el.messages.addEventListener("click", (event) => this._onMessagesClick(event));
      el.urgent.addEventListener("click", () => this._askForHelp());
      el.helpHide.addEventListener("click", () => this.hideHelp({ focus: true }));
      el.help.addEventListener("keydown", (event) => {
        if (event.key === "Escape") this.hideHelp({ focus: true });
      });

      const conn = this.conn;
      this._offs = [
        conn.on("frame", (frame) => this._onFrame(frame)),
        conn.on("hello", () => {
          this._resendAll();
          this._updateComposer();
          // Help asked for while nothing got through: try again now the socket is back.
          if (this._escalating && this._escalating.failed) this._tryEscalate();
        }),
        conn.on("lost", () => {
          this.typers.clear();
          this._renderTyping();
        }),
        conn.on("signed_out", () => this._updateComposer()),
        conn.on("rate_limited", () => this._onRateLimited()),
        conn.on("tick", (now) => this._tick(now)),
      ];
    }

    _hook(name, ...args) {
      const hook = this.options[name];
      if (typeof hook === "function") hook(...args);
    }

    _later(fn, ms) {
      const timer = window.setTimeout(() => {
        this._timers.delete(timer);
        if (!this.destroyed) fn();
      }, ms);
      this._timers.add(timer);
    }

    _join() {
      this.conn.join(this.room, () => this.last, { observe: this.observe });
    }

    // State ------------------------------------------------------------------------------------

    _resetHistory() {
      this.last = 0; // highest seq received over the socket, in order
      this.syncedTo = 0; // the room's last seq when the server answered our latest join
      this.replayLeft = 0;
      this.floor = null; // every message above this seq is loaded; null until the first join
      this.messages = new Map(); // seq -> message frame
      this.notes = new Map(); // seq -> a private note for the sender (masked details)
    }

    _pending() {
      return this._store.items.filter((item) => item.room === this.room);
    }

    _findPending(clientMsgId) {
      if (!clientMsgId) return undefined;
      return this._store.items.find((item) => item.id === clientMsgId && item.room === this.room);
    }

    _removePending(item) {
      const index = this._store.items.indexOf(item);
      if (index >= 0) this._store.items.splice(index, 1);
      this._store.changed(item);
    }

    // The item changed (or went) in the tab's list, maybe through another pane of this room.
    _syncPending(item) {
      if (this._store.items.includes(item)) {
        this._renderPending(item);
        return;
      }
      const node = this._pendingElementOf(item.id);
      if (node) node.remove();
    }

    _sendPending(item) {
      const frame = { type: "send", room: item.room, client_msg_id: item.id, body: item.body };
      if (this.conn.send(frame)) {
        item.sentAt = Date.now();
        this.lastSentAt = item.sentAt;
      }
    }

    // After a reconnect (or a reload), send again what was never acknowledged; skip what another
    // pane of the tab has already sent on this socket.
    _resendAll() {
      for (const item of this._pending()) {
        if (item.state === "sending" && item.sentAt < this.conn.connectedAt)
          this._sendPending(item);
      }
    }

    _isMine(frame) {
      return Boolean(frame.sender && frame.sender.handle === this.conn.handle);
    }

    _isJoined() {
      return this.conn.joinState(this.room) === "joined";
    }

    // A gap in the live stream: ask for everything after the last seq we have.
    _resync() {
      if (this._isJoined()) this.conn.rejoin(this.room);
    }

    // Once per chat: later `session` frames (feedback given, a re-join) change nothing here.
    _ended() {
      if (this.closedText !== null) return;
      this.setClosed(this.options.endedText || TEXT.ended);
      this._hook("onEnded", this);
    }

    // Server frames ----------------------------------------------------------------------------

    _onFrame(frame) {
      if (this.destroyed) return;
      if (frame.type === "error") {
        this._onError(frame);
        return;
      }
      if (frame.room !== this.room) return;
      this._handleFrame(frame);
    }

    _handleFrame(frame) {
      switch (frame.type) {
        case "joined":
          this._onJoined(frame);
          break;
        case "message":
          this._onMessage(frame);
          break;
        case "ack":
          this._onAck(frame);
          break;
        case "left":
          if (frame.reason === "removed") this.setGone();
          break;
        case "typing":
          this._onTyping(frame);
          break;
        case "session":
          this._onSession(frame);
          break;
        case "muted":
          this.setMuted(frame.handles);
          break;
        case "group":
          this._onGroup(frame);
          break;
        case "message_removed":
          this._onMessageRemoved(frame);
          break;
        case "escalated":
          this._onEscalated(frame);
          break;
        case "resources":
          // Their supporter or a moderator asked for help for this chat: show where help is,
          // without taking the chat away.
          if (!this.observe) this.showHelp({ note: frame.note || "", resources: frame.resources });
          break;
        case "presence":
          this._onPresence(frame);
          break;
        default:
          break;
      }
      this._hook("onFrame", frame, this);
    }

    _onJoined(frame) {
      if (frame.last_seq < frame.since) {
        // The server knows fewer messages than we have seen (its data was restored from an
        // older copy): forget ours and start the room again, or new ones would look old.
        this._resetHistory();
        this._renderAll();
        this.conn.rejoin(this.room);
        return;
      }
      this._joinedOnce = true;
      if (frame.name && !this.options.keepName) this.setName(frame.name);
      if (frame.kind) this.kind = frame.kind;
      this.syncedTo = frame.last_seq;
      this.replayLeft = frame.replayed || 0;
      if (frame.since === 0) {
        this.floor = frame.limited && frame.first_seq ? frame.first_seq - 1 : 0;
      } else if (frame.limited && frame.first_seq) {
        // More was missed than one replay holds: fetch the middle part over HTTP.
        this._fillHole(frame.since, frame.first_seq - 1);
      }
      if (Array.isArray(frame.muted)) this.setMuted(frame.muted);
      if (typeof frame.moderator_present === "boolean") {
        this._setModeratorPresent(frame.moderator_present, { quiet: true });
      }
      this._onHeld(Array.isArray(frame.held) ? frame.held : []);
      if (frame.group && typeof frame.group === "object") this._onGroup(frame.group);
      if (this.replayLeft > 0) this._quietUntilReplayed();
      this._renderChrome();
      if (frame.session && typeof frame.session === "object") {
        this._onSession({ ...frame.session, room: this.room });
      }
      this._hook("onJoined", frame, this);
    }

    // `joined.held`: this person's own messages still waiting for a moderator (after a reload
    // they are not in the tab's store). What is no longer listed was decided meanwhile: shared
    // (its message comes with the replay and settles it) or kept back.
    _onHeld(list) {
      const listed = new Set();
      for (const entry of list) {
        if (!entry || typeof entry.client_msg_id !== "string" || typeof entry.body !== "string") {
          continue;
        }
        const state = entry.status === "blocked" ? "blocked" : "held";
        const id = entry.client_msg_id.toLowerCase();
        listed.add(id);
        const note = typeof entry.note === "string" && entry.note ? entry.note : null;
        let item = this._store.items.find(
          (candidate) => candidate.room === this.room && candidate.id.toLowerCase() === id,
        );
        if (item && item.state === state && item.note === note) continue;
        if (!item) {
          const at = Date.parse(entry.sent_at);
          item = { id: entry.client_msg_id, room: this.room, body: entry.body, sentAt: 0 };
          item.at = Number.isNaN(at) ? Date.now() : at;
          this._store.items.push(item);
        }
        item.state = state;
        item.note = note;
        item.resources = cleanResources(entry.resources || item.resources);
        this._store.changed(item);
      }
      for (const item of this._pending()) {
        const waiting = item.state === "held" || item.state === "blocked";
        if (waiting && !listed.has(item.id.toLowerCase())) {
          this._removePending(item);
        }
      }
    }

    _onMessage(frame) {
      if (!Number.isInteger(frame.seq)) return;
      const replayed = frame.seq <= this.syncedTo;
      if (replayed && this.replayLeft > 0) this.replayLeft -= 1;
      if (frame.seq <= this.last || this.messages.has(frame.seq)) return; // a duplicate
      if (!replayed) {
        // The replay is over once anything newer arrives.
        this.last = Math.max(this.last, this.syncedTo);
        if (frame.seq > this.last + 1) {
          this._resync();
          return;
        }
      }
      this.last = frame.seq;
      this._addMessage(frame, !replayed);
    }

    _onAck(frame) {
      const note = typeof frame.note === "string" && frame.note ? frame.note : null;
      const resources = cleanResources(frame.resources);
      if (Number.isInteger(frame.seq) && (frame.status === "masked" || note || resources.length)) {
        // Delivered, with something only the sender is told: contact details hidden, a
        // content warning, or (imminent danger) where help is, without alarm.
        let text = note;
        if (!text) text = frame.status === "masked" ? NOTES.masked : DANGER_NOTE;
        this.notes.set(frame.seq, { text, resources });
        this._refreshMessage(frame.seq);
        // Someone who may be in danger: the same free help as "I need urgent help" gives,
        // beside the conversation, which carries on.
        // Its note is under the message already; the panel says it briefly.
        if (frame.escalate === true) this.showHelp({ note: TEXT.helpAfterDanger, resources });
      }
      const item = this._findPending(frame.client_msg_id);
      if (!item) return; // its message arrived first and settled it
      if (frame.status === "held" || frame.status === "blocked") {
        item.state = frame.status;
        item.note = note;
        item.resources = resources;
        this._store.changed(item);
        return;
      }
      if (Number.isInteger(frame.seq) && this.messages.has(frame.seq)) {
        this._removePending(item);
        return;
      }
      item.state = "sent";
      this._store.changed(item);
      if (Number.isInteger(frame.seq)) {
        // The broadcast normally follows at once; if it went missing, fetch it by seq.
        this._later(() => {
          if (!this._store.items.includes(item)) return;
          if (this.last < frame.seq) this._resync();
          else this._fetchOne(frame.seq);
        }, ACKED_FRAME_WAIT_MS);
      }
    }

    _onError(frame) {
      const item = this._findPending(frame.client_msg_id);
      if (frame.code === "rate_limited") return; // see _onRateLimited
      if (!item && frame.room !== this.room) return;
      if (item && (frame.code === "group_closed" || frame.code === "session_paused")) {
        // Kept, and sent with the same id once the group opens (a `group` frame) or the chat
        // carries on (a `session` frame with `paused: false`).
        item.state = "waiting";
        item.waitFor = frame.code === "group_closed" ? "group" : "pause";
        item.note = kindError(frame.code);
        this._store.changed(item);
        if (frame.code === "session_paused") this._setPaused(true);
      } else if (item && frame.code === "read_only") {
        item.state = "failed";
        item.note = kindError(frame.code);
        this._store.changed(item);
      } else if (!item && !frame.client_msg_id) {
        // Not about a message: the answer to `escalate` (refused, or failed on the server), or
        // to a `typing`, `whisper` or `join` (whispers show their own; the rest pass).
        if (this._escalateWaiters.size) this._escalatedFailed(frame);
      } else if (item && FINAL_SEND_ERRORS.has(frame.code)) {
        item.state = "failed";
        item.note = kindError(frame.code, this.conn.limits.body_max_chars);
        this._store.changed(item);
      } else if (!item && frame.code !== "not_joined" && frame.code !== "room_not_found") {
        this.showNotice(kindError(frame.code));
      }
      // Any other refusal of a send is passing: it is re-sent with the same id until acked.
      if (frame.code === "session_ended") this._ended();
      else if (frame.code === "room_not_found") this.setGone();
      this._hook("onFrame", frame, this);
    }

    _onRateLimited() {
      const now = Date.now();
      if (now - this.lastSentAt > RECENTLY_SENT_MS) return;
      if (this.visible) this.showNotice(kindError("rate_limited"));
      // Try again after a short pause rather than at the next re-send round.
      for (const item of this._pending()) {
        if (item.state === "sending") {
          item.sentAt = Math.min(item.sentAt, now - RESEND_AFTER_MS + RATE_PAUSE_MS);
        }
      }
    }

    _onTyping(frame) {
      if (!frame.handle || frame.handle === this.conn.handle || this.muted.has(frame.handle))
        return;
      this.typers.set(frame.handle, Date.now() + TYPING_SHOW_MS);
      this._renderTyping();
    }

    _onSession(frame) {
      this.session = frame;
      if (frame.state === "ended") this._ended();
      if (typeof frame.paused === "boolean") this._setPaused(frame.paused && frame.state !== "ended");
      this._hook("onSession", frame, this);
    }

    // A moderator paused the chat (or let it carry on): the composer waits, keeping its text.
    _setPaused(paused) {
      const was = this.paused;
      this.paused = Boolean(paused);
      if (was !== this.paused) {
        this._renderChrome();
        if (this.paused) Peerchat.dom.say(this.el.announce, TEXT.paused);
        else if (this._joinedOnce) this.showNotice(TEXT.resumed);
      }
      if (this.paused) return;
      for (const item of this._pending()) {
        if (item.state !== "waiting" || item.waitFor !== "pause") continue;
        item.state = "sending";
        item.waitFor = null;
        this._store.changed(item);
        this._sendPending(item);
      }
    }

    _onGroup(frame) {
      this.group = frame;
      if (frame.open !== true) return;
      for (const item of this._pending()) {
        if (item.state !== "waiting" || item.waitFor === "pause") continue;
        item.state = "sending";
        this._store.changed(item);
        this._sendPending(item);
      }
    }

    _onMessageRemoved(frame) {
      if (!Array.isArray(frame.seqs)) return;
      for (const seq of frame.seqs) {
        const message = this.messages.get(seq);
        if (!message || message.removed) continue;
        const by = REMOVED_BY.has(frame.by) ? frame.by : "sender";
        this.messages.set(seq, { ...message, body: "", removed: true, removed_by: by });
        this.notes.delete(seq);
        this._refreshMessage(seq);
      }
    }

    _addMessage(frame, live) {
      this.messages.set(frame.seq, frame);
      const mine = this._isMine(frame);
      const item = this._findPending(frame.client_msg_id);
      if (item && mine) {
        // A message held for review arrives once a moderator shares it: it settles here.
        if ((item.state === "held" || item.state === "blocked") && !this.notes.has(frame.seq)) {
          const masked = frame.status === "masked" ? " " + NOTES.masked : "";
          this.notes.set(frame.seq, { text: TEXT.released + masked, resources: [] });
        }
        this._removePending(item);
      }
      if (frame.sender && this.typers.delete(frame.sender.handle)) this._renderTyping();
      const stick = mine || this._isNearBottom();
      this._insertMessageElement(frame);
      this.el.logEmpty.hidden = true;
      if (this.visible) {
        if (stick) this._scrollToBottom();
        else if (live) this.el.jump.hidden = false;
      } else if (live && !mine) {
        this.unread += 1;
        this._hook("onActivity", this, frame);
      }
    }

    // Moderators in the room ---------------------------------------------------------------------

    _onPresence(frame) {
      if (typeof frame.moderator_present === "boolean") {
        this._setModeratorPresent(frame.moderator_present, { quiet: Boolean(frame.joined) });
      }
      // Only a moderator who takes part openly is named; an observer never is.
      for (const [key, verb] of [
        ["joined", "joined the chat"],
        ["left", "left the chat"],
      ]) {
        const who = frame[key];
        if (who && typeof who.handle === "string" && who.handle) {
          this._addEvent(personName(who) + " " + verb);
        }
      }
    }

    _setModeratorPresent(present, { quiet = false } = {}) {
      const was = this.moderatorPresent;
      this.moderatorPresent = Boolean(present);
      if (was === this.moderatorPresent) return;
      this._renderChrome();
      if (this.moderatorPresent && !quiet && !this.observe) {
        Peerchat.dom.say(this.el.announce, TEXT.presence + " " + TEXT.presenceWhy);
      }
    }

    // A quiet line in the message list, after the newest message.
    _addEvent(text) {
      const event = { after: this.last, text };
      this._events.push(event);
      const stick = this._isNearBottom();
      const list = this.el.messages;
      const node = this._eventElement(event);
      let before = null;
      for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
        if (child.dataset.pending || positionOf(child) > positionOf(node)) before = child;
        else break;
      }
      list.insertBefore(node, before);
      this.el.logEmpty.hidden = true;
      if (stick && this.visible) this._scrollToBottom();
    }

    _eventElement(event) {
      const node = element("li", "message-event", event.text);
      node.dataset.after = String(event.after);
      return node;
    }

    // Asking for urgent help, and the free-help panel ----------------------------------------------

    _askForHelp() {
      if (this.observe) return;
      const onItsWay = this._escalating && !this._escalating.failed;
      if (!onItsWay) {
        if (this._escalating) window.clearTimeout(this._escalating.timer);
        this._escalating = { note: "", attempt: 0, timer: null, failed: false };
        this.help.state = "sending";
      }
      // The numbers come at once; the team's answer follows.
      this.showHelp({ focus: true });
      if (!onItsWay) this._tryEscalate();
    }

    async _tryEscalate() {
      const asking = this._escalating;
      if (!asking || this.destroyed) return;
      window.clearTimeout(asking.timer);
      asking.failed = false;
      try {
        await this.escalate(asking.note);
        if (this._escalating === asking) this._escalating = null;
      } catch (error) {
        if (this._escalating !== asking || this.destroyed) return;
        if (this.conn.signedOut || (error && error.code === "room_not_found")) {
          this._escalating = null;
          this.help.state = "gone";
          this._renderHelp();
          return;
        }
        asking.failed = true;
        this.help.state = "retrying";
        this._renderHelp();
        const wait = ESCALATE_RETRY_MS[Math.min(asking.attempt, ESCALATE_RETRY_MS.length - 1)];
        asking.attempt += 1;
        asking.timer = window.setTimeout(() => this._tryEscalate(), wait);
      }
    }

    // The socket's answer to `escalate`: an `escalated` frame for this room, an error, or nothing.
    _escalatedAnswer() {
      return new Promise((resolve, reject) => {
        const waiter = { resolve, reject, timer: null };
        waiter.timer = window.setTimeout(() => {
          this._escalateWaiters.delete(waiter);
          const error = new Error("No answer");
          error.code = "timeout";
          reject(error);
        }, ESCALATE_SOCKET_WAIT_MS);
        this._escalateWaiters.add(waiter);
      });
    }

    _escalatedFailed(frame) {
      if (frame.code === "not_joined") return;
      const error = new Error(frame.detail || frame.code);
      error.code = frame.code;
      for (const waiter of this._escalateWaiters) {
        window.clearTimeout(waiter.timer);
        waiter.reject(error);
      }
      this._escalateWaiters.clear();
    }

    _onEscalated(frame) {
      this.escalation = frame;
      for (const waiter of this._escalateWaiters) {
        window.clearTimeout(waiter.timer);
        waiter.resolve(frame);
      }
      this._escalateWaiters.clear();
      if (this._escalating && this._escalating.timer) window.clearTimeout(this._escalating.timer);
      this._escalating = null;
      const resources = cleanResources(frame.resources);
      // A seeker's page answers with the panel (the same words however often it is pressed);
      // staff pages show the escalation's state their own way (`onFrame`).
      if (this.options.urgentHelp || resources.length) {
        this.help.state = "";
        this.showHelp({ note: frame.note || TEXT.helpAsked, resources, focus: false });
      }
    }

    _fallbackResources() {
      return cleanResources(this.options.resources);
    }

    _renderHelp() {
      const el = this.el;
      const help = this.help;
      el.help.hidden = !help.shown;
      this.root.dataset.help = help.shown ? "shown" : "hidden";
      if (!help.shown) return;
      let note = help.note || TEXT.helpAsked;
      if (help.state === "sending") note = TEXT.helpSending;
      else if (help.state === "retrying") note = TEXT.helpRetrying;
      else if (help.state === "gone") note = TEXT.helpGone;
      if (el.helpNote.textContent !== note) el.helpNote.textContent = note;
      el.help.dataset.state = help.state || "shown";
      const list = resourceList(help.resources, "help-panel-resources", { colon: false });
      el.helpList.replaceChildren(...(list ? [list] : []));
      // The server's notes already say the chat goes on; our own words need saying here.
      el.helpMore.hidden = /keep talking/i.test(note) || help.state === "gone";
    }

    // HTTP paging ------------------------------------------------------------------------------

    _fetchMessages(after, limit) {
      const glue = this.messagesUrl.includes("?") ? "&" : "?";
      return this.conn.getJSON(this.messagesUrl + glue + "after=" + after + "&limit=" + limit);
    }

    async _fillHole(after, upTo) {
      let cursor = after;
      try {
        while (cursor < upTo && !this.destroyed) {
          const data = await this._fetchMessages(cursor, Math.min(HOLE_PAGE, upTo - cursor));
          this._quietly(() => {
            for (const frame of data.messages) {
              if (frame.seq <= upTo && !this.messages.has(frame.seq))
                this._addMessage(frame, false);
            }
          });
          if (!data.messages.length || data.next_after <= cursor) break;
          cursor = data.next_after;
        }
      } catch (error) {
        if (!this.conn.signedOut) {
          this.showNotice(
            "Some earlier messages couldn't be loaded just now. Reloading the page will try again.",
          );
        }
      }
    }

    async _fetchOne(seq) {
      try {
        const data = await this._fetchMessages(seq - 1, 1);
        for (const frame of data.messages) {
          if (frame.seq === seq && !this.messages.has(seq)) this._addMessage(frame, false);
        }
      } catch (error) {
        // The next re-join brings it.
      }
    }

    async _loadEarlier() {
      if (!(this.floor > 0) || this.loadingEarlier) return;
      const el = this.el;
      this.loadingEarlier = true;
      el.loadEarlier.disabled = true;
      el.loadEarlier.textContent = "Loading earlier messages…";
      const after = Math.max(0, this.floor - EARLIER_PAGE);
      try {
        const data = await this._fetchMessages(after, this.floor - after);
        const fromBottom = el.log.scrollHeight - el.log.scrollTop;
        this._quietly(() => {
          for (const frame of data.messages) {
            if (!this.messages.has(frame.seq)) {
              this.messages.set(frame.seq, frame);
              this._insertMessageElement(frame);
            }
          }
        });
        el.log.scrollTop = el.log.scrollHeight - fromBottom;
        this.floor = after;
      } catch (error) {
        if (!this.conn.signedOut) {
          this.showNotice("We couldn't load earlier messages just now. Please try again.");
        }
      } finally {
        this.loadingEarlier = false;
        el.loadEarlier.disabled = false;
        el.loadEarlier.textContent = "Show earlier messages";
        this._renderChrome();
        if (el.loadEarlier.hidden && document.activeElement === document.body) el.log.focus();
      }
    }

    // Rendering --------------------------------------------------------------------------------

    _renderAll() {
      const ordered = Array.from(this.messages.values()).sort((a, b) => a.seq - b.seq);
      const items = ordered.map((frame) => this._messageElement(frame));
      for (const event of this._events) {
        const node = this._eventElement(event);
        const at = items.findIndex((other) => positionOf(other) > positionOf(node));
        items.splice(at < 0 ? items.length : at, 0, node);
      }
      this._quietly(() => {
        this.el.messages.replaceChildren(
          ...items,
          ...this._pending().map((item) => this._pendingElement(item)),
        );
      });
      this.el.jump.hidden = true;
      this._renderChrome();
      this._renderTyping();
      this._scrollToBottom();
    }

    // The parts around the messages: empty state, paging, composer or closed note.
    _renderChrome() {
      const el = this.el;
      const hasAny =
        this.messages.size > 0 || this._pending().length > 0 || this._events.length > 0;
      el.logEmpty.hidden = hasAny;
      const canTalk = !this.gone && this.closedText === null && !this.readOnly;
      el.logEmpty.textContent = !(this._joinedOnce || this.gone)
        ? TEXT.loading
        : canTalk
          ? this.options.emptyText || TEXT.empty
          : TEXT.none;
      el.loadEarlier.hidden = !(this.floor > 0);
      const closedText = this.gone
        ? TEXT.gone
        : this.closedText !== null
          ? this.closedText
          : this.readOnly
            ? this.readOnlyText
            : null;
      const noComposer = this.gone || this.closedText !== null || this.readOnly;
      const hadFocus = el.composer.contains(document.activeElement);
      el.composer.hidden = noComposer;
      el.closed.hidden = !closedText;
      el.closed.textContent = closedText || "";
      if (noComposer) {
        el.typing.textContent = "";
        if (hadFocus) el.title.focus();
      }
      // Paused by a moderator: the composer keeps its text but cannot send until it carries on.
      // Moderators who joined openly may still write (to say why).
      const paused = this._pausedForMe() && !noComposer;
      el.paused.hidden = !paused;
      if (el.input.disabled !== paused) {
        el.input.disabled = paused;
        if (paused && hadFocus) el.paused.focus();
      }
      const open = !this.gone && this.closedText === null && !this.observe;
      el.urgent.hidden = !(this.options.urgentHelp && open);
      // For the people being looked after; a moderator's own panes do not need telling.
      el.presence.hidden = !(this.moderatorPresent && !this.observe && !this._staffReader());
      // The marker says what the general note says, and more: one of them is enough.
      el.roomNote.hidden = !el.roomNote.textContent || !el.presence.hidden;
      this.root.dataset.paused = String(paused);
      this.root.dataset.state = this.gone
        ? "gone"
        : this.closedText !== null
          ? "closed"
          : this.readOnly
            ? "read-only"
            : "open";
      this._updateComposer();
    }

    _messageElement(frame) {
      const mine = this._isMine(frame);
      const sender = frame.sender || {};
      const item = element("li", mine ? "message message--mine" : "message message--theirs");
      item.dataset.seq = String(frame.seq);
      const time = element("time", "message-time", formatTime(frame.sent_at));
      time.dateTime = frame.sent_at || "";
      const date = new Date(frame.sent_at);
      if (!Number.isNaN(date.getTime())) time.title = fullDate.format(date);

      if (frame.removed) {
        // Its sender deleted their data, a moderator took it out, or it was older than the
        // service keeps messages: it keeps its place, without words or name, without blame.
        item.classList.add("message--removed");
        const meta = element("p", "message-meta");
        meta.append(time);
        const text =
          frame.removed_by === "moderator"
            ? TEXT.removedByModerator
            : frame.removed_by === "retention"
              ? TEXT.removedByRetention
              : TEXT.removed;
        item.append(meta, element("p", "message-body", text));
        return item;
      }
      if (!mine && this.muted.has(sender.handle) && !this.revealed.has(frame.seq)) {
        item.classList.add("message--muted");
        item.tabIndex = -1;
        const body = element("p", "message-body", TEXT.muted + " — ");
        const show = element("button", "link-button message-reveal", "show");
        show.type = "button";
        show.dataset.reveal = String(frame.seq);
        body.append(show);
        item.append(body);
        return item;
      }

      const meta = element("p", "message-meta");
      meta.append(element("span", "message-sender", mine ? "You" : sender.handle || "Someone"));
      const named = String(sender.handle || "").includes("(" + sender.role + ")");
      if (!mine && (sender.role === "supporter" || sender.role === "moderator") && !named) {
        meta.append(element("span", "message-role", sender.role));
      }
      if (sender.role === "moderator") item.classList.add("message--moderator");
      meta.append(time);
      const warning = typeof frame.content_warning === "string" ? frame.content_warning : "";
      if (warning && !mine && !this.revealedWarnings.has(frame.seq)) {
        // Behind a content warning: the reader chooses whether to read it, message by message.
        item.classList.add("message--warned");
        item.tabIndex = -1;
        const body = element("p", "message-body", (WARNINGS[warning] || WARNINGS.upsetting) + " ");
        const show = element("button", "link-button message-reveal", TEXT.showWarned);
        show.type = "button";
        show.dataset.reveal = String(frame.seq);
        show.dataset.revealKind = "warning";
        body.append(show);
        item.append(meta, body);
        return item;
      }
      item.append(meta, element("p", "message-body", frame.body));
      this._appendActions(item, frame);
      if (!mine) return item;
      // Only the sender sees why the filter changed anything: the server's words if the ack
      // brought them, else ours.
      const aside = this.notes.get(frame.seq);
      const note = aside ? aside.text : NOTES[frame.status];
      item.append(...noteElements(note, aside && aside.resources));
      if (warning && !(aside && aside.text)) {
        item.append(element("p", "message-note message-note--quiet", TEXT.warnedMine));
      }
      return item;
    }

    // What the page offers to do with a message (`messageActions`), e.g. a moderator's "Remove".
    _appendActions(item, frame) {
      const make = this.options.messageActions;
      if (typeof make !== "function") return;
      let actions = [];
      try {
        actions = make(frame, this) || [];
      } catch (error) {
        window.setTimeout(() => {
          throw error;
        });
        return;
      }
      const row = element("p", "message-actions message-tools");
      for (const action of Array.isArray(actions) ? actions : []) {
        if (!action || !action.label || typeof action.onClick !== "function") continue;
        const control = element("button", "link-button", String(action.label));
        control.type = "button";
        if (action.ariaLabel) control.setAttribute("aria-label", String(action.ariaLabel));
        control.addEventListener("click", (event) => action.onClick(frame, event, this));
        row.append(control);
      }
      if (row.childElementCount) item.append(row);
    }

    _onMessagesClick(event) {
      const reveal = event.target.closest("[data-reveal]");
      if (!reveal) return;
      const seq = Number(reveal.dataset.reveal);
      if (reveal.dataset.revealKind === "warning") this.revealedWarnings.add(seq);
      else this.revealed.add(seq);
      this._refreshMessage(seq);
      const node = this._messageNode(seq);
      if (node) {
        node.tabIndex = -1;
        node.focus();
      }
    }

    _messageNode(seq) {
      return this.el.messages.querySelector("[data-seq='" + seq + "']");
    }

    _refreshMessage(seq) {
      if (!this.messages.has(seq)) return;
      const old = this._messageNode(seq);
      if (old) old.replaceWith(this._messageElement(this.messages.get(seq)));
    }

    // Keep the list in seq order, with messages still on their way after every numbered one.
    _insertMessageElement(frame) {
      const list = this.el.messages;
      const node = this._messageElement(frame);
      let before = null;
      for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
        if (child.dataset.pending || positionOf(child) > frame.seq) before = child;
        else break;
      }
      list.insertBefore(node, before);
    }

    _pendingElementOf(id) {
      return this.el.messages.querySelector("[data-pending='" + CSS.escape(id) + "']");
    }

    _pendingElement(item) {
      const node = element("li", "message message--mine message--pending");
      node.dataset.pending = item.id;
      node.dataset.state = item.state;
      const meta = element("p", "message-meta");
      meta.append(element("span", "message-sender", "You"));
      node.append(meta, element("p", "message-body", item.body));
      if (item.state === "sending") node.append(element("p", "message-state", "Sending…"));
      else if (item.state === "sent") node.append(element("p", "message-state", "Sent"));
      else if (item.state === "held" || item.state === "blocked") {
        // Only its sender sees it: the server's kind note (or ours), and where help is.
        node.append(...noteElements(item.note || NOTES[item.state], item.resources));
      } else if (item.state === "waiting" || item.state === "failed") {
        node.append(element("p", "message-note", item.note));
        node.append(this._pendingActions(item));
      }
      return node;
    }

    // What the person can do with a message that was not sent: take it back to edit, or drop it.
    _pendingActions(item) {
      const actions = element("p", "message-actions");
      const input = this.el.input;
      if (item.state === "failed" && !this.el.composer.hidden) {
        const edit = element("button", "link-button", "Edit and send again");
        edit.type = "button";
        edit.addEventListener("click", () => {
          input.value = input.value ? item.body + "\n" + input.value : item.body;
          this._removePending(item);
          this._updateComposer();
          this._fitComposer();
          input.focus();
        });
        actions.append(edit);
      }
      const remove = element(
        "button",
        "link-button",
        item.state === "waiting" ? "Don't send" : "Remove",
      );
      remove.type = "button";
      remove.addEventListener("click", () => {
        this._removePending(item);
        this._renderChrome();
        (this.el.composer.hidden ? this.el.log : input).focus();
      });
      actions.append(remove);
      return actions;
    }

    _renderPending(item) {
      const old = this._pendingElementOf(item.id);
      const node = this._pendingElement(item);
      if (old) old.replaceWith(node);
      else this.el.messages.append(node);
      this.el.logEmpty.hidden = true;
    }

    _renderTyping() {
      const names = Array.from(this.typers.keys());
      let text = "";
      if (names.length === 1) text = names[0] + " is typing…";
      else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
      else if (names.length > 2) text = "Several people are typing…";
      if (this.el.typing.textContent !== text) this.el.typing.textContent = text;
    }

    _isNearBottom() {
      const log = this.el.log;
      return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
    }

    _scrollToBottom() {
      this.el.log.scrollTop = this.el.log.scrollHeight;
      this.el.jump.hidden = true;
    }

    // Screen readers hear new messages through the log; a replay of history is added quietly.
    _quiet(on) {
      this.el.log.setAttribute("aria-busy", on ? "true" : "false");
      this.el.log.setAttribute("aria-live", on ? "off" : "polite");
    }

    _quietly(change) {
      this._quiet(true);
      try {
        change();
      } finally {
        this._quietSoon();
      }
    }

    // Speak again shortly after the last quiet change, once any replay is over (or overdue).
    _quietSoon() {
      window.clearTimeout(this._quietTimer);
      this._quietTimer = window.setTimeout(() => {
        if (this.replayLeft > 0 && Date.now() < this._quietUntil) this._quietSoon();
        else this._quiet(false);
      }, 300);
    }

    _quietUntilReplayed() {
      this._quiet(true);
      this._quietUntil = Date.now() + QUIET_REPLAY_MAX_MS;
      this._quietSoon();
    }

    // The composer -----------------------------------------------------------------------------

    _canSend() {
      return !(
        this.gone ||
        this.closedText !== null ||
        this.readOnly ||
        this._pausedForMe() ||
        this.conn.signedOut
      );
    }

    _staffReader() {
      return this.conn.role === "moderator" || this.conn.role === "admin";
    }

    // A pause stops the seeker and the supporter; moderators in the room may still write.
    _pausedForMe() {
      return this.paused && !this._staffReader();
    }

    _updateComposer() {
      const el = this.el;
      const text = el.input.value;
      const max = this.conn.limits.body_max_chars;
      // text.length counts UTF-16 units, never fewer than code points: a cheap first check.
      const remaining = text.length < max - COUNTER_FROM_REMAINING ? max : max - charCount(text);
      el.send.disabled = !text.trim() || remaining < 0 || !this._canSend();
      if (remaining <= COUNTER_FROM_REMAINING) {
        el.counter.hidden = false;
        el.counter.classList.toggle("is-over", remaining < 0);
        el.counter.textContent =
          remaining >= 0
            ? numbers.format(remaining) + (remaining === 1 ? " character" : " characters") + " left"
            : numbers.format(-remaining) +
              " over the " +
              numbers.format(max) +
              "-character limit — please shorten it a little";
      } else if (!el.counter.hidden) {
        el.counter.hidden = true;
        el.counter.textContent = "";
      }
    }

    _submit() {
      const el = this.el;
      const body = el.input.value;
      if (!this._canSend() || !body.trim()) return;
      if (charCount(body) > this.conn.limits.body_max_chars) {
        this.showNotice(kindError("body_too_long", this.conn.limits.body_max_chars));
        return;
      }
      const item = {
        id: newId(),
        room: this.room,
        body,
        at: Date.now(),
        state: "sending",
        sentAt: 0,
      };
      this._store.items.push(item);
      this._store.changed(item);
      el.input.value = "";
      this._updateComposer();
      this._fitComposer();
      this._scrollToBottom();
      this._sendPending(item);
    }

    // Browsers without CSS `field-sizing` get the textarea grown by hand (CSSOM, allowed by CSP).
    _fitComposer() {
      if (window.CSS && CSS.supports && CSS.supports("field-sizing", "content")) return;
      const input = this.el.input;
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight + 4, 160) + "px";
    }

    _onComposerInput() {
      this._updateComposer();
      this._fitComposer();
      const now = Date.now();
      if (
        this._isJoined() &&
        this._canSend() &&
        this.el.input.value.trim() &&
        now - this.typingSentAt >= TYPING_SEND_EVERY_MS &&
        this.conn.send({ type: "typing", room: this.room })
      ) {
        this.typingSentAt = now;
        this.lastSentAt = now;
      }
    }

    // Once a second (the connection's tick): typing expiry and unacknowledged sends.
    _tick(now) {
      if (this.destroyed) return;
      let changed = false;
      for (const [handle, until] of this.typers) {
        if (until <= now) changed = this.typers.delete(handle) || changed;
      }
      if (changed) this._renderTyping();
      if (!this.conn.ready) return;
      for (const item of this._pending()) {
        if (item.state === "sending" && now - item.sentAt >= RESEND_AFTER_MS)
          this._sendPending(item);
      }
    }

    // For the page -----------------------------------------------------------------------------

    /** Rooms with messages of this person still waiting to be sent (from this tab's storage). */
    static pendingRooms(handle) {
      const rooms = new Set();
      for (const item of pendingStore(handle).items) {
        if (isUnsent(item)) rooms.add(item.room);
      }
      return Array.from(rooms);
    }

    /** Forget every unsent message (signed out); returns how many there were. */
    static discardPending(handle) {
      const store = pendingStore(handle);
      const unsent = store.items.filter(isUnsent).length;
      for (const item of store.items) item.state = "dropped";
      store.items.length = 0;
      try {
        window.sessionStorage.removeItem(store.key);
      } catch (error) {
        // Nothing stored, nothing to clear.
      }
      return unsent;
    }
  }

  RoomPane.kindError = kindError;
  RoomPane.TEXT = TEXT;
  RoomPane.NOTES = NOTES;

  Peerchat.RoomPane = RoomPane;
})();
