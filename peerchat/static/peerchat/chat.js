// The chat page: the signed-in user's rooms, and the conversation of the one they picked.
//
// The socket (reconnecting, resuming, keepalive) is a Peerchat.Connection and each opened
// room is a Peerchat.RoomPane (client/connection.js and client/roompane.js, loaded first):
// this file only keeps the room list, which pane is on screen, the phone layout with its back
// button, and the signed-out view.
(function () {
  "use strict";

  const app = document.getElementById("chat");
  const Peerchat = window.Peerchat;
  const { element } = Peerchat.dom;
  if (!app || !("WebSocket" in window) || !Peerchat || !Peerchat.Connection) return;

  const ROOMS_POLL_EMPTY_MS = 20000;
  const ROOMS_POLL_MS = 60000;
  // The chat page's pane on screen keeps the ids this page has always had (links, tests).
  const SHOWN_PANE_IDS = {
    title: "room-title",
    log: "message-log",
    messages: "messages",
    loadEarlier: "load-earlier",
    logEmpty: "log-empty",
    jump: "jump-latest",
    typing: "typing",
    notice: "notice",
    composer: "composer",
    input: "composer-input",
    send: "send-button",
    hint: "composer-hint",
    counter: "composer-counter",
    closed: "room-closed",
  };

  const byId = (id) => document.getElementById(id);
  const els = {
    status: byId("connection-status"),
    roomList: byId("room-list"),
    roomsEmpty: byId("rooms-empty"),
    roomsLoading: byId("rooms-loading"),
    conversation: byId("conversation"),
    signedOut: byId("signed-out"),
    signedOutDetail: byId("signed-out-detail"),
    signedOutLink: byId("signed-out-link"),
  };

  const me = { handle: app.dataset.handle, role: app.dataset.role };
  const roomsUrl = app.dataset.roomsUrl;
  const wideScreen = window.matchMedia("(min-width: 48rem)");

  const conn = new Peerchat.Connection({
    socketPath: app.dataset.socketPath,
    handle: me.handle,
    role: me.role,
    statusElement: els.status,
  });

  const rooms = new Map(); // room id -> { id, name, kind, removed, pane }
  let roomOrder = []; // ids as the API lists them: most recent activity first
  let roomsLoaded = false;
  let currentId = null;
  let listChosen = false; // the person went back to the list: stop opening rooms for them
  let roomsTimer = null;

  // Rooms -------------------------------------------------------------------------------------

  async function refreshRooms() {
    window.clearTimeout(roomsTimer);
    if (conn.signedOut) return;
    let data;
    try {
      data = await conn.getJSON(roomsUrl);
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        conn.markSignedOut("http");
        return;
      }
      if (!roomsLoaded) {
        els.roomsLoading.textContent =
          "We couldn't load your conversations just now. We'll keep trying.";
      }
      roomsTimer = window.setTimeout(refreshRooms, ROOMS_POLL_EMPTY_MS);
      return;
    }
    if (conn.signedOut) return;
    roomsLoaded = true;
    els.roomsLoading.hidden = true;
    const listed = data && Array.isArray(data.rooms) ? data.rooms : [];
    roomOrder = listed.map((listing) => listing.id);
    for (const listing of listed) {
      const room = rooms.get(listing.id);
      if (room) {
        room.name = listing.name;
        room.kind = listing.kind;
        if (room.pane) room.pane.setName(listing.name);
        if (room.removed) roomBack(room);
      } else {
        rooms.set(listing.id, {
          id: listing.id,
          name: listing.name,
          kind: listing.kind,
          removed: false,
          pane: null,
        });
      }
    }
    for (const room of rooms.values()) {
      if (!roomOrder.includes(room.id) && !room.removed) roomGone(room);
    }
    // Messages typed before a reload wait to be sent, whichever room they were for.
    for (const id of Peerchat.RoomPane.pendingRooms(me.handle)) {
      const room = rooms.get(id);
      if (room && !room.removed) paneOf(room);
    }
    renderRoomList();
    if (currentId === null && !listChosen) chooseFirstRoom();
    roomsTimer = window.setTimeout(
      refreshRooms,
      roomOrder.length ? ROOMS_POLL_MS : ROOMS_POLL_EMPTY_MS,
    );
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

  // The room's pane, made the first time the room is opened (it joins the room then).
  function paneOf(room) {
    if (room.pane) return room.pane;
    const pane = new Peerchat.RoomPane(els.conversation, {
      connection: conn,
      room: room.id,
      name: room.name,
      kind: room.kind,
      messagesUrl: roomsUrl + "/" + room.id + "/messages",
      visible: false,
      join: !room.removed,
      // Seekers have "I need urgent help" in every conversation (DESIGN.md §2).
      urgentHelp: me.role === "seeker",
      resources: Peerchat.dom.pageResources(),
      onJoined(frame) {
        if (frame.name && frame.name !== room.name) {
          room.name = frame.name;
          renderRoomList();
        }
      },
      onActivity: renderRoomList,
      onGone() {
        room.removed = true;
        renderRoomList();
      },
    });
    pane.header.prepend(backButton());
    room.pane = pane;
    if (room.removed) pane.setGone();
    return pane;
  }

  function backButton() {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "back-button";
    const arrow = document.createElement("span");
    arrow.setAttribute("aria-hidden", "true");
    arrow.textContent = "‹";
    const words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = "Back to";
    button.append(arrow, " ", words, " Conversations");
    button.addEventListener("click", showRoomList);
    return button;
  }

  function selectRoom(id, { focus }) {
    const room = rooms.get(id);
    if (!room || conn.signedOut) return;
    const previous = currentId === null ? null : rooms.get(currentId);
    if (previous && previous !== room && previous.pane) {
      previous.pane.hide();
      previous.pane.setIds(null);
    }
    currentId = id;
    const hash = "#room=" + id;
    // replaceState, not a new history entry: the quick exit must not leave a trail of this site
    // behind the back button.
    if (location.hash !== hash) history.replaceState(null, "", hash);
    app.dataset.view = "room";
    const pane = paneOf(room);
    pane.setIds(SHOWN_PANE_IDS);
    els.conversation.hidden = false;
    pane.show();
    renderRoomList();
    if (focus) pane.focus();
  }

  function showRoomList() {
    const left = currentId;
    const room = left === null ? null : rooms.get(left);
    if (room && room.pane) {
      room.pane.hide();
      room.pane.setIds(null);
    }
    currentId = null;
    listChosen = true;
    app.dataset.view = "list";
    history.replaceState(null, "", location.pathname + location.search);
    els.conversation.hidden = true;
    renderRoomList();
    const link = els.roomList.querySelector("[data-room='" + left + "']");
    if (link) link.focus();
  }

  function roomGone(room) {
    room.removed = true;
    if (room.pane) room.pane.setGone();
    renderRoomList();
  }

  // Added to the room again after leaving it: carry on from where we were.
  function roomBack(room) {
    room.removed = false;
    if (room.pane) room.pane.reopen();
  }

  // Rendering ---------------------------------------------------------------------------------


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
        const unread = room.pane && room.id !== currentId ? room.pane.unread : 0;
        if (room.removed) link.append(element("span", "room-badge", "Ended"));
        else if (unread) link.append(element("span", "room-badge", unread + " new"));
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

  function showSignedOut() {
    window.clearTimeout(roomsTimer);
    const unsent = Peerchat.RoomPane.discardPending(me.handle);
    app.dataset.view = "signed-out";
    els.conversation.hidden = true;
    els.signedOut.hidden = false;
    // The header still names the person, offers to sign out and links to their pages: no
    // longer true.
    for (const part of document.querySelectorAll(".site-header .account")) part.hidden = true;
    const seeker = me.role === "seeker";
    els.signedOutLink.href = seeker ? app.dataset.homeUrl : app.dataset.loginUrl;
    els.signedOutLink.textContent = seeker ? "Go to the start page" : "Sign in again";
    let detail = seeker
      ? "For your privacy, this conversation is closed on this device. You can start again " +
        "from the start page whenever you like."
      : "To keep talking, please sign in again.";
    if (unsent === 1) detail += " One message hadn't been sent yet and was not sent.";
    else if (unsent > 1)
      detail += " " + unsent + " messages hadn't been sent yet and were not sent.";
    els.signedOutDetail.textContent = detail;
  }

  // Wiring ------------------------------------------------------------------------------------

  els.roomList.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-room]");
    if (!link) return;
    event.preventDefault();
    selectRoom(Number(link.dataset.room), { focus: true });
  });
  window.addEventListener("hashchange", () => {
    const id = roomIdFromHash();
    if (id !== null && id !== currentId && rooms.has(id)) selectRoom(id, { focus: true });
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !conn.signedOut) refreshRooms();
  });
  const signOutForm = document.querySelector("[data-sign-out]");
  if (signOutForm) {
    signOutForm.addEventListener("submit", () => Peerchat.RoomPane.discardPending(me.handle));
  }

  conn.on("hello", (frame, { reconnected }) => {
    if (reconnected) refreshRooms(); // rooms may have come or gone meanwhile
  });
  // A new chat for this person: show it without waiting for the next poll.
  conn.on("assigned", refreshRooms);
  conn.on("support", (frame) => {
    if (frame.state === "active" && frame.session && !rooms.has(frame.session.room)) refreshRooms();
  });
  conn.on("signed_out", showSignedOut);

  conn.start();
  refreshRooms();
})();
