// Peerchat.Connection: the page's one socket to /ws/v1/ (protocol v1, docs/protocol.md).
//
// It connects, signs in with the page's session cookie, reconnects by itself with backoff and
// jitter, checks that a quiet socket still answers (ping/pong), and after every reconnect
// re-joins the rooms it was asked to join (each with `since` = the last seq its owner has) and
// re-watches the topics it was asked to watch. Pages and panes listen with `on(type, handler)`:
// every server frame is an event named by its `type`, plus a few events of the connection's own
// (see docs/client.md). Nothing here touches message bodies.
(function () {
  "use strict";

  const Peerchat = (window.Peerchat = window.Peerchat || {});

  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_CAP_MS = 10000;
  const IDLE_PING_AFTER_MS = 20000;
  const PONG_WAIT_MS = 8000;
  const RATE_PAUSE_MS = 2000;
  // Closed for having too many sockets open: wait this long (plus up to half again) before
  // trying again, so tabs that are each refused do not take turns knocking.
  const TOO_MANY_WAIT_MS = 30000;
  const TICK_MS = 1000;
  const CLOSE_NOT_AUTHENTICATED = 4401;
  const CLOSE_SESSION_ENDED = 4403;
  const CLOSE_TOO_MANY_CONNECTIONS = 4409;
  const CLOSE_TOO_MANY_FRAMES = 4429;

  const STATUS_TEXT = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    offline: "Offline — your messages will be sent when we reconnect",
    "too-many": "Open in too many tabs or windows — close one or two and we'll reconnect shortly",
    "signed-out": "Signed out",
  };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  class Connection {
    /**
     * options:
     *   socketPath     path of the endpoint (default "/ws/v1/"; pages pass data-socket-path)
     *   handle, role   who the page was rendered for; a hello for someone else reloads the page
     *   statusElement  optional element kept up to date with the status text and data-state
     *   onOtherUser    optional function(helloFrame) instead of the reload
     */
    constructor(options = {}) {
      this.socketPath = options.socketPath || "/ws/v1/";
      this.handle = options.handle || null;
      this.role = options.role || null;
      this.statusElement = options.statusElement || null;
      this.onOtherUser = options.onOtherUser || null;
      this.limits = { body_max_chars: 2000, frame_max_bytes: 32768, replay: 200 };
      this.status = "connecting";
      this.ready = false; // the server said hello to a signed-in user on this socket
      this.signedOut = false;
      this.everConnected = false;
      this.rateLimitedUntil = 0;
      this.connectedAt = 0; // when the current socket was signed in
      this._holdUntil = 0; // no reconnect before this (after 4409)

      this._socket = null;
      this._attempt = 0;
      this._reconnectTimer = null;
      this._tickTimer = null;
      this._lastFrameAt = 0;
      this._pingSentAt = 0;
      this._started = false;
      this._handlers = new Map(); // event name -> Set of functions
      this._rooms = new Map(); // room id -> { since: () => seq, state: wanted|joining|joined }
      this._topics = new Set();
      this._listeners = [];
    }

    // Events -----------------------------------------------------------------------------------

    /** Call `handler` for every event `type`; returns a function that stops it. */
    on(type, handler) {
      if (!this._handlers.has(type)) this._handlers.set(type, new Set());
      this._handlers.get(type).add(handler);
      return () => this.off(type, handler);
    }

    off(type, handler) {
      const set = this._handlers.get(type);
      if (set) set.delete(handler);
    }

    _emit(type, ...args) {
      const set = this._handlers.get(type);
      if (!set) return;
      for (const handler of Array.from(set)) {
        try {
          handler(...args);
        } catch (error) {
          // One listener's mistake must not stop the others, nor the connection.
          window.setTimeout(() => {
            throw error;
          });
        }
      }
    }

    // Life cycle -------------------------------------------------------------------------------

    /** Open the socket and keep it open until the person is signed out or stop() is called. */
    start() {
      if (this._started) return this;
      this._started = true;
      this._listen(window, "online", () => this.reconnectNow());
      this._listen(window, "offline", () => {
        if (this.signedOut) return;
        this._setStatus("offline");
        this.checkAlive();
      });
      this._listen(document, "visibilitychange", () => {
        if (document.visibilityState === "visible") this.reconnectNow();
      });
      this._listen(window, "pageshow", (event) => {
        if (event.persisted) this.reconnectNow();
      });
      this._tickTimer = window.setInterval(() => this._tick(), TICK_MS);
      this._setStatus("connecting");
      this._connect();
      return this;
    }

    _listen(target, type, fn) {
      target.addEventListener(type, fn);
      this._listeners.push([target, type, fn]);
    }

    /** Close for good, without calling it a sign-out (a page being taken down). */
    stop() {
      this._started = false;
      window.clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      window.clearInterval(this._tickTimer);
      for (const [target, type, fn] of this._listeners) target.removeEventListener(type, fn);
      this._listeners = [];
      this._dropSocket();
    }

    /** The person is no longer signed in (an HTTP 401, a sign-out form): stop and say so. */
    markSignedOut(reason = "signed_out") {
      if (this.signedOut) return;
      this.signedOut = true;
      window.clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      this._dropSocket();
      this._setStatus("signed-out");
      this._emit("signed_out", { reason });
    }

    /** Try at once instead of at the next step of the backoff (network back, tab visible). */
    reconnectNow() {
      if (this.signedOut || !this._started || Date.now() < this._holdUntil) return;
      if (this._socket && this.ready) {
        this.checkAlive();
        return;
      }
      // A socket still connecting may have been started while offline: replace it.
      this._dropSocket();
      this._connect();
    }

    /** Ask the application to answer; a socket that stays silent is replaced. */
    checkAlive() {
      if (!this.ready || this._pingSentAt) return;
      if (this._write({ type: "ping", nonce: String(Date.now()) })) this._pingSentAt = Date.now();
    }

    // Sending ----------------------------------------------------------------------------------

    /** Send a frame now; false when there is no signed-in socket (nothing is queued). */
    send(frame) {
      // Typing notes are the first thing to give up while the server asks us to slow down.
      if (frame && frame.type === "typing" && Date.now() < this.rateLimitedUntil) return false;
      return this._write(frame);
    }

    _write(frame) {
      const socket = this._socket;
      if (!socket || !this.ready || socket.readyState !== WebSocket.OPEN) return false;
      try {
        socket.send(JSON.stringify(frame));
        return true;
      } catch (error) {
        return false;
      }
    }

    // Rooms and topics -------------------------------------------------------------------------

    /**
     * Join a room now (if connected) and again after every reconnect. `since` is a function
     * returning the highest seq the caller already has for the room (or a number). With
     * `{ observe: true }` the frame is `observe` (moderators watching read-only), not `join`.
     */
    join(roomId, since, { observe = false } = {}) {
      const read = typeof since === "function" ? since : () => Number(since) || 0;
      // An observer (a moderator, read-only) sends `observe` instead of `join`, every time.
      const room = { since: read, state: "wanted", observe: Boolean(observe) };
      this._rooms.set(roomId, room);
      if (this.ready) this._sendJoin(roomId, room);
    }

    /** Join again from the caller's current `since` (to fill a gap, or start a room afresh). */
    rejoin(roomId) {
      const room = this._rooms.get(roomId);
      if (!room) return;
      room.state = "wanted";
      if (this.ready) this._sendJoin(roomId, room);
    }

    /** Stop receiving the room on this socket (membership does not change). */
    leave(roomId) {
      if (!this._rooms.delete(roomId)) return;
      this._write({ type: "leave", room: roomId });
    }

    /** Forget the room without telling the server (it is gone: removed, not found). */
    forget(roomId) {
      this._rooms.delete(roomId);
    }

    isJoined(roomId) {
      const room = this._rooms.get(roomId);
      return Boolean(room && room.state === "joined" && this.ready);
    }

    joinState(roomId) {
      const room = this._rooms.get(roomId);
      return room ? room.state : "none";
    }

    /** Watch a topic ("queue", "staff_queue") now and after every reconnect. */
    watch(topic) {
      if (this._topics.has(topic)) return;
      this._topics.add(topic);
      this._write({ type: "watch", topic });
    }

    unwatch(topic) {
      if (!this._topics.delete(topic)) return;
      this._write({ type: "unwatch", topic });
    }

    _sendJoin(roomId, room) {
      let since = 0;
      try {
        since = Math.max(0, Number(room.since()) || 0);
      } catch (error) {
        since = 0;
      }
      const type = room.observe ? "observe" : "join";
      if (this._write({ type, room: roomId, since })) room.state = "joining";
    }

    // HTTP helpers -----------------------------------------------------------------------------

    /** GET JSON from this site; a 401 or 403 marks the page signed out. */
    async getJSON(url) {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      return this._json(response);
    }

    /** POST JSON with the CSRF token; resolves to the body, rejects with {status, code, detail}. */
    async postJSON(url, body) {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: JSON.stringify(body || {}),
      });
      return this._json(response);
    }

    async _json(response) {
      let data = null;
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
      if (response.ok) return data;
      const signedOut =
        response.status === 401 ||
        (response.status === 403 && data && data.error === "not_authenticated");
      if (signedOut) this.markSignedOut("http");
      const failure = new Error((data && data.detail) || "HTTP " + response.status);
      failure.status = response.status;
      failure.code = data && data.error;
      failure.detail = data && data.detail;
      throw failure;
    }

    // The socket -------------------------------------------------------------------------------

    _socketUrl() {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      return scheme + "//" + window.location.host + this.socketPath;
    }

    _connect() {
      window.clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      if (this.signedOut || this._socket || !this._started) return;
      if (!this.everConnected) this._setStatus("connecting");
      let ws;
      try {
        ws = new WebSocket(this._socketUrl());
      } catch (error) {
        this._scheduleReconnect();
        return;
      }
      this._socket = ws;
      ws.onmessage = (event) => {
        if (this._socket === ws) this._onFrame(event.data);
      };
      ws.onclose = (event) => {
        if (this._socket === ws) this._socketLost(event.code);
      };
      // A failed socket also gets a close event; reconnecting is decided there.
      ws.onerror = () => {};
    }

    _socketLost(code) {
      this._socket = null;
      this.ready = false;
      this._pingSentAt = 0;
      for (const room of this._rooms.values()) room.state = "wanted";
      this._emit("lost", { code });
      if (code === CLOSE_NOT_AUTHENTICATED || code === CLOSE_SESSION_ENDED) {
        this.markSignedOut(code === CLOSE_SESSION_ENDED ? "signed_out_elsewhere" : "not_signed_in");
        return;
      }
      if (code === CLOSE_TOO_MANY_CONNECTIONS) {
        // Not a fault of the network: another tab holds the place. Wait, then try once more.
        this._holdUntil = Date.now() + TOO_MANY_WAIT_MS;
        this._scheduleReconnect(TOO_MANY_WAIT_MS * (1 + Math.random() / 2));
        this._setStatus("too-many");
        return;
      }
      if (code === CLOSE_TOO_MANY_FRAMES) this._attempt = Math.max(this._attempt, 4);
      this._scheduleReconnect();
    }

    // Stop using a socket that has stopped answering, and start again at once.
    _abandonSocket() {
      if (!this._socket) return;
      this._closeQuietly(this._socket);
      this._socketLost(1006);
    }

    _dropSocket() {
      const ws = this._socket;
      this._socket = null;
      this.ready = false;
      this._pingSentAt = 0;
      if (ws) this._closeQuietly(ws);
    }

    // Close a socket without hearing from it again.
    _closeQuietly(ws) {
      ws.onmessage = null;
      ws.onclose = null;
      try {
        ws.close();
      } catch (error) {
        // Already closing.
      }
    }

    _scheduleReconnect(atLeastMs = 0) {
      if (this.signedOut || this._reconnectTimer !== null || !this._started) return;
      this._attempt += 1;
      // Exponential backoff with jitter, so a restarted server is not met by every client at
      // once.
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (this._attempt - 1));
      const delay = Math.max(atLeastMs, ceiling / 2 + (Math.random() * ceiling) / 2);
      this._setStatus(navigator.onLine === false ? "offline" : "reconnecting");
      this._reconnectTimer = window.setTimeout(() => this._connect(), delay);
    }

    _setStatus(state) {
      this.status = state;
      const element = this.statusElement;
      if (element) {
        element.dataset.state = state;
        const text = STATUS_TEXT[state];
        if (element.textContent !== text) element.textContent = text;
      }
      this._emit("status", state, STATUS_TEXT[state]);
    }

    // Housekeeping once a second: silent sockets; listeners do their own (typing, re-sends).
    _tick() {
      const now = Date.now();
      if (this.ready) {
        if (this._pingSentAt && now - this._pingSentAt >= PONG_WAIT_MS) {
          this._abandonSocket();
        } else if (now - this._lastFrameAt >= IDLE_PING_AFTER_MS) {
          this.checkAlive();
        }
      }
      this._emit("tick", now);
    }

    // Server frames ----------------------------------------------------------------------------

    _onFrame(text) {
      this._lastFrameAt = Date.now();
      this._pingSentAt = 0;
      // The socket answers, so we are online whatever an earlier "offline" event said.
      if (this.ready && this.status !== "connected") this._setStatus("connected");
      let frame;
      try {
        frame = JSON.parse(text);
      } catch (error) {
        return;
      }
      if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
      switch (frame.type) {
        case "hello":
          this._onHello(frame);
          return;
        case "joined": {
          const room = this._rooms.get(frame.room);
          if (room) room.state = "joined";
          break;
        }
        case "left":
          // The answer to our own `leave` changes nothing: leave() forgot the room already,
          // and the room may have been joined again since.
          if (frame.reason !== "left") this._rooms.delete(frame.room);
          break;
        case "error":
          this._onError(frame);
          break;
        default:
          break;
      }
      this._emit(frame.type, frame);
      this._emit("frame", frame);
    }

    _onHello(frame) {
      if (!frame.authenticated) {
        this.markSignedOut("not_signed_in");
        return;
      }
      if (this.handle && frame.handle && frame.handle !== this.handle) {
        // Someone else signed in on this browser meanwhile: start clean as them.
        this._dropSocket();
        if (this.onOtherUser) this.onOtherUser(frame);
        else window.location.reload();
        return;
      }
      const reconnected = this.everConnected;
      this.connectedAt = Date.now();
      this.ready = true;
      this.everConnected = true;
      this._attempt = 0;
      this.handle = frame.handle || this.handle;
      this.role = frame.role || this.role;
      if (frame.limits && typeof frame.limits === "object") {
        for (const key of Object.keys(this.limits)) {
          if (Number.isInteger(frame.limits[key])) this.limits[key] = frame.limits[key];
        }
      }
      this._setStatus("connected");
      for (const [roomId, room] of this._rooms) this._sendJoin(roomId, room);
      for (const topic of this._topics) this._write({ type: "watch", topic });
      this._emit("hello", frame, { reconnected });
      this._emit("frame", frame);
    }

    _onError(frame) {
      const roomId = Number.isInteger(frame.room) ? frame.room : null;
      if (frame.code === "rate_limited") {
        this.rateLimitedUntil = Date.now() + RATE_PAUSE_MS;
        this._emit("rate_limited", frame);
      } else if (frame.code === "not_joined" && roomId !== null) {
        // The server lost track of our join (or we of its answer): join again.
        if (this._rooms.has(roomId)) this.rejoin(roomId);
      } else if (frame.code === "room_not_found" && roomId !== null && !frame.client_msg_id) {
        // A refused join or typing: this socket will never receive the room.
        this._rooms.delete(roomId);
      }
    }
  }

  Connection.STATUS_TEXT = STATUS_TEXT;
  Connection.CLOSE_CODES = {
    NOT_AUTHENTICATED: CLOSE_NOT_AUTHENTICATED,
    SESSION_ENDED: CLOSE_SESSION_ENDED,
    TOO_MANY_CONNECTIONS: CLOSE_TOO_MANY_CONNECTIONS,
    TOO_MANY_FRAMES: CLOSE_TOO_MANY_FRAMES,
  };
  Connection.csrfToken = csrfToken;

  Peerchat.Connection = Connection;
})();
