// The chat page: the signed-in user's rooms, their messages, and one socket to /ws/v1/ that
// reconnects and resumes by itself (protocol v1, DESIGN.md §5 and §6).
//
// Delivery guarantees kept here: the last seq seen per room; duplicates dropped; a gap in the
// live stream makes us re-join with `since`; outgoing messages carry a client_msg_id, wait in
// sessionStorage until acked, and are re-sent with the same id after any reconnect.
// Message bodies are plain text and only ever reach the page through textContent.
(function () {
  "use strict";

  const app = document.getElementById("chat");
  if (!app || !("WebSocket" in window)) return;

  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_CAP_MS = 10000;
  const TYPING_SEND_EVERY_MS = 3000;
  const TYPING_SHOW_MS = 5000;
  const IDLE_PING_AFTER_MS = 20000;
  const PONG_WAIT_MS = 8000;
  const RESEND_AFTER_MS = 8000;
  const ACKED_FRAME_WAIT_MS = 3000;
  const ROOMS_POLL_EMPTY_MS = 20000;
  const ROOMS_POLL_MS = 60000;
  const NOTICE_MS = 12000;
  const COUNTER_FROM_REMAINING = 200;
  const EARLIER_PAGE = 100;
  const HOLE_PAGE = 200;
  const NEAR_BOTTOM_PX = 96;
  const QUIET_REPLAY_MAX_MS = 3000;
  const CLOSE_NOT_AUTHENTICATED = 4401;
  const CLOSE_SESSION_ENDED = 4403;
  const CLOSE_TOO_MANY_FRAMES = 4429;

  const byId = (id) => document.getElementById(id);
  const els = {
    status: byId("connection-status"),
    roomList: byId("room-list"),
    roomsEmpty: byId("rooms-empty"),
    roomsLoading: byId("rooms-loading"),
    conversation: byId("conversation"),
    title: byId("room-title"),
    back: byId("back-to-rooms"),
    log: byId("message-log"),
    messages: byId("messages"),
    logEmpty: byId("log-empty"),
    loadEarlier: byId("load-earlier"),
    jump: byId("jump-latest"),
    typing: byId("typing"),
    notice: byId("notice"),
    composer: byId("composer"),
    input: byId("composer-input"),
    inputLabel: document.querySelector("label[for='composer-input']"),
    send: byId("send-button"),
    counter: byId("composer-counter"),
    roomClosed: byId("room-closed"),
    signedOut: byId("signed-out"),
    signedOutDetail: byId("signed-out-detail"),
    signedOutLink: byId("signed-out-link"),
  };

  const me = { handle: app.dataset.handle, role: app.dataset.role };
  const roomsUrl = app.dataset.roomsUrl;
  const limits = { body_max_chars: 2000 };
  const wideScreen = window.matchMedia("(min-width: 48rem)");
  const finePointer = window.matchMedia("(pointer: fine)");

  const rooms = new Map(); // room id -> room state (see newRoom)
  let roomOrder = []; // ids as the API lists them: most recent activity first
  let roomsLoaded = false;
  let currentId = null;
  let listChosen = false; // the person went back to the list: stop opening rooms for them
  let signedOut = false;

  let socket = null;
  let ready = false; // the server said hello to a signed-in user on this socket
  let attempt = 0;
  let reconnectTimer = null;
  let everConnected = false;
  let lastFrameAt = 0;
  let pingSentAt = 0;
  let roomsTimer = null;
  let noticeTimer = null;
  let quietTimer = null;
  let quietUntil = 0;

  // Sent messages the server has not acknowledged yet, kept across reloads of this tab.
  const storageKey = "peerchat.pending.v1." + me.handle;
  const pending = loadPending();

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

  const STATUS_TEXT = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    offline: "Offline — your messages will be sent when we reconnect",
    "signed-out": "Signed out",
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

  function kindError(code) {
    switch (code) {
      case "body_too_long":
        return (
          "That message is a bit long — messages can be up to " +
          numbers.format(limits.body_max_chars) +
          " characters. You could split it into two."
        );
      case "body_empty":
        return "That message looks empty, so it wasn't sent.";
      case "invalid_field":
        return "That message couldn't be sent as it is. Please check it and try again.";
      case "room_not_found":
        return "This conversation isn't available any more, so the message wasn't sent.";
      case "room_ended":
        return "This conversation has ended, so the message wasn't sent.";
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

  // Pending messages --------------------------------------------------------------------------

  function loadPending() {
    try {
      const list = JSON.parse(window.sessionStorage.getItem(storageKey) || "[]");
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

  function savePending() {
    const waiting = pending
      .filter((item) => item.state === "sending")
      .map((item) => ({ id: item.id, room: item.room, body: item.body, at: item.at }));
    try {
      if (waiting.length) window.sessionStorage.setItem(storageKey, JSON.stringify(waiting));
      else window.sessionStorage.removeItem(storageKey);
    } catch (error) {
      // Storage can be full or switched off; the message still waits in memory.
    }
  }

  function clearPendingStorage() {
    try {
      window.sessionStorage.removeItem(storageKey);
    } catch (error) {
      // Nothing stored, nothing to clear.
    }
  }

  function findPending(clientMsgId) {
    return clientMsgId ? pending.find((item) => item.id === clientMsgId) : undefined;
  }

  function removePending(item) {
    const index = pending.indexOf(item);
    if (index >= 0) pending.splice(index, 1);
    savePending();
    const element = pendingElementOf(item.id);
    if (element) element.remove();
  }

  function sendPending(item) {
    if (sendFrame({ type: "send", room: item.room, client_msg_id: item.id, body: item.body })) {
      item.sentAt = Date.now();
    }
  }

  // Rooms -------------------------------------------------------------------------------------

  function newRoom(listing) {
    return {
      id: listing.id,
      name: listing.name,
      kind: listing.kind,
      join: "none", // none | wanted | joining | joined
      last: 0, // highest seq received over the socket, in order
      syncedTo: 0, // the room's last seq when the server answered our latest join
      replayLeft: 0,
      floor: null, // every message above this seq is loaded; null until the first join
      messages: new Map(), // seq -> message frame
      notes: new Map(), // seq -> a private note for the sender (masked details)
      unread: 0,
      typers: new Map(), // handle -> time their "typing" expires
      typingSentAt: 0,
      removed: false,
      loadingEarlier: false,
    };
  }

  function currentRoom() {
    return currentId === null ? null : rooms.get(currentId) || null;
  }

  async function refreshRooms() {
    clearTimeout(roomsTimer);
    if (signedOut) return;
    let data;
    try {
      const response = await fetch(roomsUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401 || response.status === 403) {
        showSignedOut();
        return;
      }
      if (!response.ok) throw new Error("rooms: " + response.status);
      data = await response.json();
    } catch (error) {
      if (!roomsLoaded) {
        els.roomsLoading.textContent =
          "We couldn't load your conversations just now. We'll keep trying.";
      }
      roomsTimer = setTimeout(refreshRooms, ROOMS_POLL_EMPTY_MS);
      return;
    }
    roomsLoaded = true;
    els.roomsLoading.hidden = true;
    const listed = Array.isArray(data.rooms) ? data.rooms : [];
    roomOrder = listed.map((listing) => listing.id);
    for (const listing of listed) {
      const room = rooms.get(listing.id);
      if (room) {
        room.name = listing.name;
        room.kind = listing.kind;
        if (room.removed) roomBack(room);
      } else {
        rooms.set(listing.id, newRoom(listing));
      }
    }
    for (const room of rooms.values()) {
      if (!roomOrder.includes(room.id) && !room.removed) roomGone(room);
    }
    renderRoomList();
    if (currentId === null && !listChosen) chooseFirstRoom();
    roomsTimer = setTimeout(refreshRooms, roomOrder.length ? ROOMS_POLL_MS : ROOMS_POLL_EMPTY_MS);
  }

  function chooseFirstRoom() {
    const fromHash = roomIdFromHash();
    if (fromHash !== null && rooms.has(fromHash) && !rooms.get(fromHash).removed) {
      selectRoom(fromHash, { focus: false });
    } else if (roomOrder.length === 1 || (roomOrder.length > 1 && wideScreen.matches)) {
      selectRoom(roomOrder[0], { focus: false });
    } else if (fromHash !== null) {
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function roomIdFromHash() {
    const match = /^#room=(\d+)$/.exec(location.hash);
    return match ? Number(match[1]) : null;
  }

  function selectRoom(id, { focus }) {
    const room = rooms.get(id);
    if (!room || signedOut) return;
    currentId = id;
    room.unread = 0;
    const hash = "#room=" + id;
    // replaceState, not a new history entry: the quick exit must not leave a trail of this site
    // behind the back button.
    if (location.hash !== hash) history.replaceState(null, "", hash);
    app.dataset.view = "room";
    renderRoomList();
    renderConversation();
    if (room.join === "none" && !room.removed) {
      room.join = "wanted";
      if (ready) join(room);
    }
    if (focus) (finePointer.matches ? els.input : els.title).focus();
  }

  function showRoomList() {
    const left = currentId;
    currentId = null;
    listChosen = true;
    app.dataset.view = "list";
    history.replaceState(null, "", location.pathname + location.search);
    renderConversation();
    renderRoomList();
    const link = els.roomList.querySelector("[data-room='" + left + "']");
    if (link) link.focus();
  }

  function roomGone(room) {
    if (!room) return;
    room.removed = true;
    room.join = "none";
    room.typers.clear();
    for (const item of pending.filter((p) => p.room === room.id && p.state === "sending")) {
      item.state = "failed";
      item.note = kindError("room_ended");
      renderPending(item);
    }
    savePending();
    renderRoomList();
    if (room.id === currentId) renderConversation();
  }

  // Added to the room again after leaving it: carry on from where we were.
  function roomBack(room) {
    room.removed = false;
    if (room.id !== currentId) return;
    room.join = "wanted";
    if (ready) join(room);
    renderConversationChrome();
  }

  // The socket --------------------------------------------------------------------------------

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + app.dataset.socketPath;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (signedOut || socket) return;
    if (!everConnected) setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (error) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onmessage = (event) => {
      if (socket === ws) onFrame(event.data);
    };
    ws.onclose = (event) => {
      if (socket === ws) socketLost(event.code);
    };
    // A failed socket also gets a close event; reconnecting is decided there.
    ws.onerror = () => {};
  }

  function socketLost(code) {
    socket = null;
    ready = false;
    pingSentAt = 0;
    for (const room of rooms.values()) {
      if (room.join !== "none") room.join = "wanted";
      room.typers.clear();
    }
    renderTyping();
    if (code === CLOSE_NOT_AUTHENTICATED || code === CLOSE_SESSION_ENDED) {
      showSignedOut();
      return;
    }
    if (code === CLOSE_TOO_MANY_FRAMES) attempt = Math.max(attempt, 4);
    scheduleReconnect();
  }

  // Stop using a socket that has stopped answering, and start again at once.
  function abandonSocket() {
    const ws = socket;
    if (!ws) return;
    closeQuietly(ws);
    socketLost(1006);
  }

  // Close a socket without hearing from it again.
  function closeQuietly(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    try {
      ws.close();
    } catch (error) {
      // Already closing.
    }
  }

  function scheduleReconnect() {
    if (signedOut || reconnectTimer !== null) return;
    attempt += 1;
    // Exponential backoff with jitter, so a restarted server is not met by every client at once.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1));
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    setStatus(navigator.onLine === false ? "offline" : "reconnecting");
    reconnectTimer = setTimeout(connect, delay);
  }

  // The network is back or the tab is visible again: try at once instead of at the next step
  // of the backoff. A socket still connecting may have been started while offline: replace it.
  function reconnectNow() {
    if (signedOut) return;
    if (socket && ready) {
      checkAlive();
      return;
    }
    abandonSocketForGood();
    connect();
  }

  function checkAlive() {
    if (!ready || pingSentAt) return;
    if (sendFrame({ type: "ping", nonce: String(Date.now()) })) pingSentAt = Date.now();
  }

  function sendFrame(frame) {
    if (!socket || !ready || socket.readyState !== WebSocket.OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch (error) {
      return false;
    }
  }

  function join(room) {
    room.join = "joining";
    sendFrame({ type: "join", room: room.id, since: room.last });
  }

  // A gap in the live stream: ask for everything after the last seq we have.
  function resync(room) {
    if (room.join !== "joined") return;
    join(room);
  }

  function setStatus(state) {
    els.status.dataset.state = state;
    const text = STATUS_TEXT[state];
    if (els.status.textContent !== text) els.status.textContent = text;
  }

  // Server frames -----------------------------------------------------------------------------

  function onFrame(text) {
    lastFrameAt = Date.now();
    pingSentAt = 0;
    // The socket answers, so we are online whatever an earlier "offline" event said.
    if (ready && els.status.dataset.state !== "connected") setStatus("connected");
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (error) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    const handler = handlers[frame.type];
    if (handler) handler(frame);
  }

  const handlers = {
    hello(frame) {
      if (!frame.authenticated) {
        abandonSocketForGood();
        showSignedOut();
        return;
      }
      if (frame.handle && frame.handle !== me.handle) {
        // Someone else signed in on this browser meanwhile: start clean as them.
        window.location.reload();
        return;
      }
      const reconnected = everConnected;
      ready = true;
      everConnected = true;
      attempt = 0;
      if (frame.limits && Number.isInteger(frame.limits.body_max_chars)) {
        limits.body_max_chars = frame.limits.body_max_chars;
      }
      setStatus("connected");
      for (const room of rooms.values()) {
        if (room.join === "wanted") join(room);
      }
      for (const item of pending) {
        if (item.state === "sending") sendPending(item);
      }
      updateComposer();
      if (reconnected) refreshRooms(); // rooms may have come or gone meanwhile
    },

    joined(frame) {
      const room = rooms.get(frame.room);
      if (!room) return;
      if (frame.last_seq < frame.since) {
        // The server knows fewer messages than we have seen (its data was restored from an
        // older copy): forget ours and start the room again, or new ones would look old.
        Object.assign(room, newRoom(room), { join: "wanted" });
        if (room.id === currentId) renderConversation();
        join(room);
        return;
      }
      room.join = "joined";
      room.removed = false;
      if (frame.name) room.name = frame.name;
      room.syncedTo = frame.last_seq;
      room.replayLeft = frame.replayed || 0;
      if (frame.since === 0) {
        room.floor = frame.limited && frame.first_seq ? frame.first_seq - 1 : 0;
      } else if (frame.limited && frame.first_seq) {
        // More was missed than one replay holds: fetch the middle part over HTTP.
        fillHole(room, frame.since, frame.first_seq - 1);
      }
      if (room.id === currentId) {
        if (room.replayLeft > 0) quietUntilReplayed();
        renderConversationChrome();
      }
      renderRoomList();
    },

    message(frame) {
      const room = rooms.get(frame.room);
      if (!room || !Number.isInteger(frame.seq)) return;
      const replayed = frame.seq <= room.syncedTo;
      if (replayed && room.replayLeft > 0) room.replayLeft -= 1;
      if (frame.seq <= room.last || room.messages.has(frame.seq)) return; // a duplicate
      if (!replayed) {
        // The replay is over once anything newer arrives.
        room.last = Math.max(room.last, room.syncedTo);
        if (frame.seq > room.last + 1) {
          resync(room);
          return;
        }
      }
      room.last = frame.seq;
      addMessage(room, frame, !replayed);
    },

    ack(frame) {
      const room = rooms.get(frame.room);
      if (room && frame.status === "masked" && Number.isInteger(frame.seq)) {
        room.notes.set(frame.seq, NOTES.masked);
        refreshMessageElement(room, frame.seq);
      }
      const item = findPending(frame.client_msg_id);
      if (!item) return; // its message arrived first and settled it
      if (frame.status === "held" || frame.status === "blocked") {
        item.state = frame.status;
        savePending();
        renderPending(item);
        return;
      }
      if (room && Number.isInteger(frame.seq) && room.messages.has(frame.seq)) {
        removePending(item);
        return;
      }
      item.state = "sent";
      savePending();
      renderPending(item);
      if (room && Number.isInteger(frame.seq)) {
        // The broadcast normally follows at once; if it went missing, fetch it by seq.
        setTimeout(() => {
          if (!pending.includes(item)) return;
          if (room.last < frame.seq) resync(room);
          else fetchOne(room, frame.seq);
        }, ACKED_FRAME_WAIT_MS);
      }
    },

    error(frame) {
      const item = findPending(frame.client_msg_id);
      if (item && FINAL_SEND_ERRORS.has(frame.code)) {
        item.state = "failed";
        item.note = kindError(frame.code);
        savePending();
        renderPending(item);
        return;
      }
      const room = Number.isInteger(frame.room) ? rooms.get(frame.room) : null;
      if (frame.code === "room_not_found" && room) {
        roomGone(room);
        return;
      }
      if (frame.code === "not_joined") {
        if (room && room.join === "joined") join(room);
        return;
      }
      if (item) return; // not final: re-sent with the same id until it is acked
      showNotice(kindError(frame.code));
    },

    left(frame) {
      const room = rooms.get(frame.room);
      if (!room) return;
      if (frame.reason === "removed") roomGone(room);
      else room.join = "none";
    },

    typing(frame) {
      if (!frame.handle || frame.handle === me.handle) return;
      const room = rooms.get(frame.room);
      if (!room) return;
      room.typers.set(frame.handle, Date.now() + TYPING_SHOW_MS);
      if (room.id === currentId) renderTyping();
    },

    pong() {
      // Any frame proves the socket is alive; onFrame has noted the time.
    },
  };

  function abandonSocketForGood() {
    const ws = socket;
    socket = null;
    ready = false;
    if (ws) closeQuietly(ws);
  }

  function addMessage(room, frame, live) {
    room.messages.set(frame.seq, frame);
    const item = findPending(frame.client_msg_id);
    if (item && item.room === room.id && isMine(frame)) removePending(item);
    if (frame.sender && room.typers.delete(frame.sender.handle) && room.id === currentId) {
      renderTyping();
    }
    const mine = isMine(frame);
    if (room.id === currentId) {
      const stick = mine || isNearBottom();
      insertMessageElement(room, frame);
      els.logEmpty.hidden = true;
      if (stick) scrollToBottom();
      else if (live) els.jump.hidden = false;
    } else if (live && !mine) {
      room.unread += 1;
      renderRoomList();
    }
  }

  function isMine(frame) {
    return Boolean(frame.sender && frame.sender.handle === me.handle);
  }

  // HTTP paging -------------------------------------------------------------------------------

  async function fetchMessages(roomId, after, limit) {
    const url = roomsUrl + "/" + roomId + "/messages?after=" + after + "&limit=" + limit;
    const response = await fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401) {
      showSignedOut();
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error("messages: " + response.status);
    return response.json();
  }

  async function fillHole(room, after, upTo) {
    let cursor = after;
    try {
      while (cursor < upTo) {
        const data = await fetchMessages(room.id, cursor, Math.min(HOLE_PAGE, upTo - cursor));
        quietly(() => {
          for (const frame of data.messages) {
            if (frame.seq <= upTo && !room.messages.has(frame.seq)) addMessage(room, frame, false);
          }
        });
        if (!data.messages.length || data.next_after <= cursor) break;
        cursor = data.next_after;
      }
    } catch (error) {
      if (room.id === currentId) {
        showNotice("Some earlier messages couldn't be loaded just now. Reloading the page will try again.");
      }
    }
  }

  async function fetchOne(room, seq) {
    try {
      const data = await fetchMessages(room.id, seq - 1, 1);
      for (const frame of data.messages) {
        if (frame.seq === seq && !room.messages.has(seq)) addMessage(room, frame, false);
      }
    } catch (error) {
      // The next re-join brings it.
    }
  }

  async function loadEarlier() {
    const room = currentRoom();
    if (!room || !(room.floor > 0) || room.loadingEarlier) return;
    room.loadingEarlier = true;
    els.loadEarlier.disabled = true;
    els.loadEarlier.textContent = "Loading earlier messages…";
    const after = Math.max(0, room.floor - EARLIER_PAGE);
    try {
      const data = await fetchMessages(room.id, after, room.floor - after);
      if (room.id === currentId) {
        const fromBottom = els.log.scrollHeight - els.log.scrollTop;
        quietly(() => {
          for (const frame of data.messages) {
            if (!room.messages.has(frame.seq)) insertEarlier(room, frame);
          }
        });
        els.log.scrollTop = els.log.scrollHeight - fromBottom;
      }
      room.floor = after;
    } catch (error) {
      showNotice("We couldn't load earlier messages just now. Please try again.");
    } finally {
      room.loadingEarlier = false;
      els.loadEarlier.disabled = false;
      els.loadEarlier.textContent = "Show earlier messages";
      renderConversationChrome();
      if (els.loadEarlier.hidden && document.activeElement === document.body) els.log.focus();
    }
  }

  function insertEarlier(room, frame) {
    room.messages.set(frame.seq, frame);
    insertMessageElement(room, frame);
    els.logEmpty.hidden = true;
  }

  // Rendering ---------------------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderRoomList() {
    const focusedRoom = document.activeElement && document.activeElement.dataset.room;
    const items = roomOrder
      .map((id) => rooms.get(id))
      .filter(Boolean)
      .map((room) => {
        const link = element("a", "room-link");
        link.href = "#room=" + room.id;
        link.dataset.room = String(room.id);
        if (room.id === currentId) link.setAttribute("aria-current", "page");
        link.append(element("span", "room-name", room.name));
        const kind = room.kind === "group" ? "Group" : "One-to-one";
        link.append(element("span", "room-kind", kind));
        if (room.removed) link.append(element("span", "room-badge", "Ended"));
        else if (room.unread) link.append(element("span", "room-badge", room.unread + " new"));
        const item = element("li");
        item.append(link);
        return item;
      });
    els.roomList.replaceChildren(...items);
    els.roomsEmpty.hidden = !roomsLoaded || roomOrder.length > 0;
    if (focusedRoom) {
      const link = els.roomList.querySelector("[data-room='" + focusedRoom + "']");
      if (link) link.focus();
    }
  }

  function renderConversation() {
    const room = currentRoom();
    els.conversation.hidden = !room;
    if (!room) return;
    els.title.textContent = room.name;
    els.inputLabel.textContent = "Message to " + room.name;
    const ordered = Array.from(room.messages.values()).sort((a, b) => a.seq - b.seq);
    quietly(() => {
      els.messages.replaceChildren(
        ...ordered.map((frame) => messageElement(room, frame)),
        ...pending.filter((item) => item.room === room.id).map(pendingElement),
      );
    });
    els.jump.hidden = true;
    renderConversationChrome();
    renderTyping();
    updateComposer();
    scrollToBottom();
  }

  // The parts of the conversation around the messages: empty state, paging, composer.
  function renderConversationChrome() {
    const room = currentRoom();
    if (!room) return;
    els.title.textContent = room.name;
    const hasAny = room.messages.size > 0 || pending.some((item) => item.room === room.id);
    els.logEmpty.hidden = hasAny;
    els.logEmpty.textContent =
      room.join === "joined" || room.removed
        ? "No messages yet. Say hello whenever you're ready."
        : "Loading messages…";
    els.loadEarlier.hidden = !(room.floor > 0);
    els.composer.hidden = room.removed;
    els.roomClosed.hidden = !room.removed;
    els.roomClosed.textContent = room.removed ? "You're no longer part of this conversation." : "";
    updateComposer();
  }

  function messageElement(room, frame) {
    const mine = isMine(frame);
    const item = element("li", mine ? "message message--mine" : "message message--theirs");
    item.dataset.seq = String(frame.seq);
    const meta = element("p", "message-meta");
    const sender = frame.sender || {};
    meta.append(element("span", "message-sender", mine ? "You" : sender.handle || "Someone"));
    if (!mine && (sender.role === "supporter" || sender.role === "moderator")) {
      meta.append(element("span", "message-role", sender.role));
    }
    const time = element("time", "message-time", formatTime(frame.sent_at));
    time.dateTime = frame.sent_at || "";
    const date = new Date(frame.sent_at);
    if (!Number.isNaN(date.getTime())) time.title = fullDate.format(date);
    meta.append(time);
    item.append(meta, element("p", "message-body", frame.body));
    const note = mine ? room.notes.get(frame.seq) || NOTES[frame.status] : null;
    if (note) item.append(element("p", "message-note", note));
    return item;
  }

  function refreshMessageElement(room, seq) {
    if (room.id !== currentId || !room.messages.has(seq)) return;
    const old = els.messages.querySelector("[data-seq='" + seq + "']");
    if (old) old.replaceWith(messageElement(room, room.messages.get(seq)));
  }

  // Keep the list in seq order, with messages still on their way after every numbered one.
  function insertMessageElement(room, frame) {
    const node = messageElement(room, frame);
    let before = null;
    for (let child = els.messages.lastElementChild; child; child = child.previousElementSibling) {
      if (child.dataset.pending || Number(child.dataset.seq) > frame.seq) before = child;
      else break;
    }
    els.messages.insertBefore(node, before);
  }

  function pendingElementOf(id) {
    return els.messages.querySelector("[data-pending='" + CSS.escape(id) + "']");
  }

  function pendingElement(item) {
    const node = element("li", "message message--mine message--pending");
    node.dataset.pending = item.id;
    node.dataset.state = item.state;
    const meta = element("p", "message-meta");
    meta.append(element("span", "message-sender", "You"));
    node.append(meta, element("p", "message-body", item.body));
    if (item.state === "sending") node.append(element("p", "message-state", "Sending…"));
    else if (item.state === "sent") node.append(element("p", "message-state", "Sent"));
    else if (NOTES[item.state]) node.append(element("p", "message-note", NOTES[item.state]));
    else if (item.state === "failed") {
      node.append(element("p", "message-note", item.note));
      const actions = element("p", "message-actions");
      const edit = element("button", "link-button", "Edit and send again");
      edit.type = "button";
      edit.addEventListener("click", () => {
        els.input.value = els.input.value ? item.body + "\n" + els.input.value : item.body;
        removePending(item);
        updateComposer();
        els.input.focus();
      });
      const remove = element("button", "link-button", "Remove");
      remove.type = "button";
      remove.addEventListener("click", () => {
        removePending(item);
        els.input.focus();
      });
      actions.append(edit, remove);
      node.append(actions);
    }
    return node;
  }

  function renderPending(item) {
    if (item.room !== currentId) return;
    const old = pendingElementOf(item.id);
    const node = pendingElement(item);
    if (old) old.replaceWith(node);
    else els.messages.append(node);
    els.logEmpty.hidden = true;
  }

  function renderTyping() {
    const room = currentRoom();
    const names = room ? Array.from(room.typers.keys()) : [];
    let text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
    else if (names.length > 2) text = "Several people are typing…";
    if (els.typing.textContent !== text) els.typing.textContent = text;
  }

  function isNearBottom() {
    return els.log.scrollHeight - els.log.scrollTop - els.log.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    els.log.scrollTop = els.log.scrollHeight;
    els.jump.hidden = true;
  }

  // Screen readers hear new messages through the log; a replay of history is added quietly.
  function quiet(on) {
    els.log.setAttribute("aria-busy", on ? "true" : "false");
    els.log.setAttribute("aria-live", on ? "off" : "polite");
  }

  function quietly(change) {
    quiet(true);
    try {
      change();
    } finally {
      quietSoon();
    }
  }

  // Speak again shortly after the last quiet change, once any replay is over (or overdue).
  function quietSoon() {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => {
      const room = currentRoom();
      if (room && room.replayLeft > 0 && Date.now() < quietUntil) quietSoon();
      else quiet(false);
    }, 300);
  }

  function quietUntilReplayed() {
    quiet(true);
    quietUntil = Date.now() + QUIET_REPLAY_MAX_MS;
    quietSoon();
  }

  function showNotice(text) {
    els.notice.textContent = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      els.notice.textContent = "";
    }, NOTICE_MS);
  }

  function showSignedOut() {
    if (signedOut) return;
    signedOut = true;
    clearTimeout(reconnectTimer);
    clearTimeout(roomsTimer);
    abandonSocketForGood();
    const unsent = pending.filter((item) => item.state === "sending").length;
    clearPendingStorage();
    setStatus("signed-out");
    app.dataset.view = "signed-out";
    els.conversation.hidden = true;
    els.signedOut.hidden = false;
    // The header still names the person and offers to sign out: no longer true.
    const account = document.querySelector(".site-header .account");
    if (account) account.hidden = true;
    const seeker = me.role === "seeker";
    els.signedOutLink.href = seeker ? app.dataset.homeUrl : app.dataset.loginUrl;
    els.signedOutLink.textContent = seeker ? "Go to the start page" : "Sign in again";
    let detail = seeker
      ? "For your privacy, this conversation is closed on this device. You can start again " +
        "from the start page whenever you like."
      : "To keep talking, please sign in again.";
    if (unsent === 1) detail += " One message hadn't been sent yet and was not sent.";
    else if (unsent > 1) detail += " " + unsent + " messages hadn't been sent yet and were not sent.";
    els.signedOutDetail.textContent = detail;
  }

  // The composer ------------------------------------------------------------------------------

  function updateComposer() {
    const text = els.input.value;
    const max = limits.body_max_chars;
    // text.length counts UTF-16 units, never fewer than code points: a cheap first check.
    const remaining = text.length < max - COUNTER_FROM_REMAINING ? max : max - charCount(text);
    const room = currentRoom();
    els.send.disabled = !text.trim() || remaining < 0 || !room || room.removed || signedOut;
    if (remaining <= COUNTER_FROM_REMAINING) {
      els.counter.hidden = false;
      els.counter.classList.toggle("is-over", remaining < 0);
      els.counter.textContent =
        remaining >= 0
          ? numbers.format(remaining) + (remaining === 1 ? " character" : " characters") + " left"
          : numbers.format(-remaining) +
            " over the " +
            numbers.format(max) +
            "-character limit — please shorten it a little";
    } else if (!els.counter.hidden) {
      els.counter.hidden = true;
      els.counter.textContent = "";
    }
  }

  function submitMessage() {
    const room = currentRoom();
    const body = els.input.value;
    if (!room || room.removed || signedOut || !body.trim()) return;
    if (charCount(body) > limits.body_max_chars) {
      showNotice(kindError("body_too_long"));
      return;
    }
    const item = { id: newId(), room: room.id, body, at: Date.now(), state: "sending", sentAt: 0 };
    pending.push(item);
    savePending();
    els.input.value = "";
    updateComposer();
    fitComposer();
    renderPending(item);
    scrollToBottom();
    sendPending(item);
  }

  // Browsers without CSS `field-sizing` get the textarea grown by hand (CSSOM, allowed by CSP).
  const growByHand = !(window.CSS && CSS.supports && CSS.supports("field-sizing", "content"));
  function fitComposer() {
    if (!growByHand) return;
    els.input.style.height = "auto";
    els.input.style.height = Math.min(els.input.scrollHeight + 4, 160) + "px";
  }

  function onComposerInput() {
    updateComposer();
    fitComposer();
    const room = currentRoom();
    const now = Date.now();
    if (
      room &&
      room.join === "joined" &&
      els.input.value.trim() &&
      now - room.typingSentAt >= TYPING_SEND_EVERY_MS &&
      sendFrame({ type: "typing", room: room.id })
    ) {
      room.typingSentAt = now;
    }
  }

  // Housekeeping once a second: typing expiry, silent sockets, unacknowledged sends.
  function tick() {
    const now = Date.now();
    const room = currentRoom();
    if (room) {
      let changed = false;
      for (const [handle, until] of room.typers) {
        if (until <= now) changed = room.typers.delete(handle) || changed;
      }
      if (changed) renderTyping();
    }
    if (!ready) return;
    if (pingSentAt && now - pingSentAt >= PONG_WAIT_MS) {
      abandonSocket();
      return;
    }
    if (now - lastFrameAt >= IDLE_PING_AFTER_MS) checkAlive();
    for (const item of pending) {
      if (item.state === "sending" && now - item.sentAt >= RESEND_AFTER_MS) sendPending(item);
    }
  }

  // Wiring ------------------------------------------------------------------------------------

  els.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submitMessage();
  });
  els.input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; never interrupt an input method's composition.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) {
      return;
    }
    event.preventDefault();
    submitMessage();
  });
  els.input.addEventListener("input", onComposerInput);
  els.roomList.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-room]");
    if (!link) return;
    event.preventDefault();
    selectRoom(Number(link.dataset.room), { focus: true });
  });
  els.back.addEventListener("click", showRoomList);
  els.loadEarlier.addEventListener("click", loadEarlier);
  els.jump.addEventListener("click", () => {
    scrollToBottom();
    els.input.focus();
  });
  els.log.addEventListener("scroll", () => {
    if (!els.jump.hidden && isNearBottom()) els.jump.hidden = true;
  });
  window.addEventListener("hashchange", () => {
    const id = roomIdFromHash();
    if (id !== null && id !== currentId && rooms.has(id)) selectRoom(id, { focus: true });
  });
  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", () => {
    if (signedOut) return;
    setStatus("offline");
    checkAlive();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || signedOut) return;
    reconnectNow();
    refreshRooms();
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) reconnectNow();
  });
  const signOutForm = document.querySelector("[data-sign-out]");
  if (signOutForm) signOutForm.addEventListener("submit", clearPendingStorage);

  updateComposer();
  refreshRooms();
  connect();
  setInterval(tick, 1000);
})();
