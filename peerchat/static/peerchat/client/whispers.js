// Peerchat.Whispers: the private "Moderator notes" thread of one room, between its supporters
// and the moderators present in it, on a Peerchat.Connection. Seekers never receive whispers
// (the server sends them to each staff member's own sockets), and this component is only put
// on staff pages. The supporter's page shows it beside each chat; the moderators' console
// reuses it in its observe view.
//
// It shows `joined.whispers` (the newest, when the room is joined or observed) and live
// `whisper` frames, and sends `{"type":"whisper","room":ID,"body":TEXT}` (answered with
// `whisper_sent`; the whisper itself comes back as a `whisper` frame to everyone, its author
// included). Bodies are plain text, set only through textContent.
(function () {
  "use strict";

  const Peerchat = (window.Peerchat = window.Peerchat || {});
  const { element } = Peerchat.dom;

  const SEND_WAIT_MS = 8000;
  const KEEP_MAX = 200;
  const BODY_MAX_CHARS = 2000;

  const TEXT = {
    heading: "Moderator notes",
    privacy: "Only staff can see this — the person you're supporting can't.",
    empty: "No notes yet. A moderator can write to you here, and you to them.",
    label: "Write to the moderators",
    placeholder: "A short note…",
    send: "Send note",
    sending: "Sending…",
    offline: "You're offline just now. Your note is kept here: send it once we've reconnected.",
    failed: "That note wasn't sent. Please try again in a moment.",
    sent: "Note sent.",
    you: "You",
  };

  const ERRORS = {
    body_empty: "Write a few words first.",
    body_too_long: "That's a bit long for a note: please shorten it.",
    not_observing: "Observe or join this chat first, so you see the replies.",
    room_not_found: "This chat isn't available any more.",
    forbidden: "Notes here are for the team looking after this chat.",
    rate_limited: "Lots is happening at once. Please wait a moment, then try again.",
  };

  let count = 0;

  class Whispers {
    /**
     * container: the element the thread is appended to.
     * options: connection (required), room (required), headingLevel (3), heading, privacy,
     *   label, placeholder, empty (texts), timeZone (for times; default the browser's),
     *   onWhisper(whisper, { mine, live }, whispers): after each new whisper is shown.
     */
    constructor(container, options) {
      if (!options || !options.connection || !Number.isInteger(Number(options.room))) {
        throw new Error("Whispers needs { connection, room }");
      }
      this.conn = options.connection;
      this.room = Number(options.room);
      this.options = options;
      this.text = { ...TEXT, ...pick(options, Object.keys(TEXT)) };
      this.whispers = new Map(); // id -> whisper frame
      this.destroyed = false;
      this._sending = null; // { body, timer } while a note waits for `whisper_sent`
      this._time = Peerchat.dom.timeFormat(options.timeZone, {
        hour: "2-digit",
        minute: "2-digit",
      });
      this._dayTime = Peerchat.dom.timeFormat(options.timeZone, {
        weekday: "short",
        day: "numeric",
        month: "short",
        hour: "2-digit",
        minute: "2-digit",
      });
      this._day = Peerchat.dom.timeFormat(options.timeZone, { dateStyle: "short" });
      count += 1;
      this._uid = "peerchat-whispers-" + count;
      this._build(container);
      this._render();
      const conn = this.conn;
      this._offs = [
        conn.on("joined", (frame) => {
          if (frame.room === this.room && Array.isArray(frame.whispers)) {
            this.add(frame.whispers, { live: false });
          }
        }),
        conn.on("whisper", (frame) => {
          if (frame.room === this.room) this.add([frame], { live: true });
        }),
        conn.on("whisper_sent", (frame) => {
          if (frame.room === this.room) this._sent(frame);
        }),
        conn.on("error", (frame) => {
          if (frame.room === this.room && this._sending && !frame.client_msg_id) {
            this._failed(ERRORS[frame.code] || frame.detail || this.text.failed);
          }
        }),
        conn.on("rate_limited", () => {
          if (this._sending) this._failed(ERRORS.rate_limited);
        }),
      ];
    }

    /** How many whispers are shown. */
    get count() {
      return this.whispers.size;
    }

    /** Show these whisper frames (from `joined.whispers`, a `whisper` frame, or an API). */
    add(frames, { live = true } = {}) {
      const fresh = [];
      for (const frame of Array.isArray(frames) ? frames : []) {
        if (!frame || !Number.isInteger(frame.id) || this.whispers.has(frame.id)) continue;
        if (typeof frame.body !== "string") continue;
        this.whispers.set(frame.id, frame);
        fresh.push(frame);
      }
      if (!fresh.length) return;
      // Keep the newest; the list stays in the order they were written.
      const ordered = this._ordered();
      for (const old of ordered.slice(0, Math.max(0, ordered.length - KEEP_MAX))) {
        this.whispers.delete(old.id);
      }
      this._render();
      for (const frame of fresh) {
        const mine = this._isMine(frame);
        if (mine && this._sending && frame.body === this._sending.body.trim()) this._sent(frame);
        if (typeof this.options.onWhisper === "function") {
          this.options.onWhisper(frame, { mine, live }, this);
        }
      }
    }

    /** Put the cursor in the reply box. */
    focus() {
      this.el.input.focus();
    }

    destroy() {
      if (this.destroyed) return;
      this.destroyed = true;
      for (const off of this._offs) off();
      if (this._sending) window.clearTimeout(this._sending.timer);
      this.root.remove();
    }

    // Building -----------------------------------------------------------------------------------

    _build(container) {
      const uid = this._uid;
      const level = Math.min(6, Math.max(1, Number(this.options.headingLevel) || 3));
      const root = element("section", "whispers");
      root.dataset.room = String(this.room);
      const heading = element("h" + level, "whispers-heading", this.text.heading);
      heading.id = uid + "-heading";
      heading.tabIndex = -1;
      root.setAttribute("aria-labelledby", heading.id);
      const privacy = element("p", "whispers-private", this.text.privacy);
      privacy.id = uid + "-private";
      root.setAttribute("aria-describedby", privacy.id);

      const empty = element("p", "whispers-empty", this.text.empty);
      const list = element("ol", "whispers-list");
      list.setAttribute("role", "log");
      list.setAttribute("aria-live", "polite");
      list.setAttribute("aria-labelledby", heading.id);

      const form = element("form", "whispers-form");
      form.noValidate = true;
      const label = element("label", "whispers-label", this.text.label);
      const input = element("textarea", "whispers-input");
      input.id = uid + "-input";
      input.name = "body";
      input.rows = 2;
      input.maxLength = BODY_MAX_CHARS;
      input.placeholder = this.text.placeholder;
      label.htmlFor = input.id;
      const status = element("p", "whispers-status");
      status.id = uid + "-status";
      status.setAttribute("role", "status");
      input.setAttribute("aria-describedby", privacy.id + " " + status.id);
      const send = element("button", "button button-small whispers-send", this.text.send);
      send.type = "submit";
      const actions = element("p", "whispers-actions");
      actions.append(send);
      form.append(label, input, actions, status);

      root.append(heading, privacy, empty, list, form);
      container.append(root);
      this.root = root;
      this.el = { root, heading, privacy, empty, list, form, label, input, send, status };

      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this._send();
      });
      input.addEventListener("keydown", (event) => {
        // Ctrl+Enter (or Cmd+Enter) sends; Enter alone is a new line in a note.
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          this._send();
        }
      });
    }

    _ordered() {
      return Array.from(this.whispers.values()).sort((a, b) => {
        const byTime = String(a.sent_at || "").localeCompare(String(b.sent_at || ""));
        return byTime || a.id - b.id;
      });
    }

    _render() {
      const items = this._ordered().map((frame) => this._item(frame));
      this.el.list.replaceChildren(...items);
      this.el.list.hidden = items.length === 0;
      this.el.empty.hidden = items.length > 0;
      this.el.list.scrollTop = this.el.list.scrollHeight;
    }

    _item(frame) {
      const mine = this._isMine(frame);
      const from = frame.from || {};
      const item = element("li", mine ? "whisper whisper--mine" : "whisper");
      item.dataset.id = String(frame.id);
      const meta = element("p", "whisper-meta");
      meta.append(element("span", "whisper-from", mine ? this.text.you : from.handle || "Staff"));
      if (!mine && from.role && !String(from.handle || "").includes("(" + from.role + ")")) {
        meta.append(element("span", "whisper-role", from.role));
      }
      const date = new Date(frame.sent_at);
      if (!Number.isNaN(date.getTime())) {
        const today = this._day.format(date) === this._day.format(new Date());
        const time = element(
          "time",
          "whisper-time",
          (today ? this._time : this._dayTime).format(date),
        );
        time.dateTime = frame.sent_at;
        meta.append(time);
      }
      item.append(meta, element("p", "whisper-body", frame.body));
      return item;
    }

    _isMine(frame) {
      return Boolean(frame.from && frame.from.handle && frame.from.handle === this.conn.handle);
    }

    // Sending ------------------------------------------------------------------------------------

    _send() {
      if (this._sending) return;
      const body = this.el.input.value;
      if (!body.trim()) {
        this._say(ERRORS.body_empty);
        this.el.input.focus();
        return;
      }
      if (!this.conn.send({ type: "whisper", room: this.room, body })) {
        this._say(this.text.offline);
        return;
      }
      this._sending = {
        body,
        timer: window.setTimeout(() => this._failed(this.text.failed), SEND_WAIT_MS),
      };
      this.el.send.disabled = true;
      this.el.send.textContent = this.text.sending;
      this._say("");
    }

    // Sent: the note leaves the box (it is in the list, or soon will be).
    _sent(frame) {
      const sending = this._sending;
      if (!sending) return;
      window.clearTimeout(sending.timer);
      this._sending = null;
      if (this.el.input.value === sending.body) this.el.input.value = "";
      this.el.send.disabled = false;
      this.el.send.textContent = this.text.send;
      this._say(this.text.sent);
      if (frame && frame.type === "whisper_sent" && frame.whisper) this.add([frame.whisper]);
    }

    // Not sent: the words stay in the box to try again.
    _failed(text) {
      const sending = this._sending;
      if (!sending) return;
      window.clearTimeout(sending.timer);
      this._sending = null;
      this.el.send.disabled = false;
      this.el.send.textContent = this.text.send;
      this._say(text);
    }

    _say(text) {
      this.el.status.textContent = text || "";
    }
  }

  function pick(source, keys) {
    const out = {};
    for (const key of keys) {
      if (typeof source[key] === "string" && source[key]) out[key] = source[key];
    }
    return out;
  }

  Whispers.TEXT = TEXT;
  Peerchat.Whispers = Whispers;
})();
