// The moderators' console (/moderation/): what every part of the page shares.
//
// One Peerchat.Connection for the page (escalations.js, review.js and rooms.js each watch their
// own topic and listen to their own frames), the screen-reader announcements, times in the
// service's time zone, the summary line and document title, and the signed-out view. The parts
// load after this script and register on `Peerchat.ModeratorConsole`; the socket opens once
// they all have (DOMContentLoaded comes after every classic script at the end of the body).
(function () {
  "use strict";

  const app = document.getElementById("review");
  const Peerchat = window.Peerchat;
  if (!app || !Peerchat || !Peerchat.Connection || !("WebSocket" in window)) return;
  const { element, say, plural } = Peerchat.dom;

  const BASE_TITLE = document.title;
  const URGENT_TITLE = "Needs a moderator · peerchat";
  const byId = (id) => document.getElementById(id);
  const els = {
    status: byId("connection-status"),
    announceNow: byId("announce-now"),
    announce: byId("announce"),
    summary: byId("review-summary"),
    signedOut: byId("signed-out"),
    signedOutHeading: byId("signed-out-heading"),
  };
  const me = { handle: app.dataset.handle, role: app.dataset.role };

  const conn = new Peerchat.Connection({
    socketPath: app.dataset.socketPath,
    handle: me.handle,
    role: me.role,
    statusElement: els.status,
  });

  function parseJSON(text, fallback) {
    try {
      const value = JSON.parse(text || "");
      return value && typeof value === "object" ? value : fallback;
    } catch (error) {
      return fallback;
    }
  }

  function failureText(error, fallback) {
    if (error && error.detail) return error.detail;
    return fallback + " Please try again in a moment.";
  }

  // Times, in the service's time zone (as the supporter's page shows them) -----------------------

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
  const fullFormat = formatter({ dateStyle: "full", timeStyle: "short" });

  function parseTime(iso) {
    if (!iso) return null;
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function whenText(iso) {
    const date = parseTime(iso);
    if (!date) return "";
    const today = dayFormat.format(date) === dayFormat.format(new Date());
    return today ? timeFormat.format(date) : dayTimeFormat.format(date);
  }

  // "just now", "3 min", "2 h 5 min", "3 days".
  function ageText(iso) {
    const date = parseTime(iso);
    if (!date) return "";
    const minutes = Math.floor(Math.max(0, Date.now() - date.getTime()) / 60000);
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " days";
  }

  function timeElement(iso, className) {
    const node = element("time", className || null, whenText(iso));
    node.dateTime = iso || "";
    const date = parseTime(iso);
    if (date) node.title = fullFormat.format(date);
    return node;
  }

  // Put `nodes` into `list` in this order, moving only what is out of place (focus stays put).
  function keyed(list, nodes) {
    nodes.forEach((node, index) => {
      if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
    });
    while (list.children.length > nodes.length) list.lastElementChild.remove();
  }

  // The summary line and the title: escalations first, then held messages -----------------------

  const counts = { escalations: null, waiting: null };
  // The page is "ready" (data-view) once the escalations and the review queue have both come.
  const loaded = { escalations: false, queue: false };

  function markLoaded(name) {
    loaded[name] = true;
    if (!conn.signedOut && Object.values(loaded).every(Boolean)) app.dataset.view = "ready";
  }

  function setCount(name, value) {
    if (counts[name] === value) return;
    counts[name] = value;
    renderSummary();
  }

  function renderSummary() {
    if (conn.signedOut) return;
    const urgent = counts.escalations || 0;
    const waiting = counts.waiting || 0;
    if (counts.escalations === null && counts.waiting === null) return;
    const parts = [];
    if (urgent) {
      parts.push(
        plural(urgent, "escalation needs", "escalations need") + " a moderator to take it on",
      );
    }
    if (waiting) parts.push(plural(waiting, "message", "messages") + " waiting for review");
    els.summary.textContent = parts.length
      ? parts.join(" · ") + "."
      : "Nothing is waiting for you right now. This page updates by itself.";
    els.summary.dataset.busy = String(parts.length > 0);
    els.summary.dataset.urgent = String(urgent > 0);
    if (urgent) document.title = "(" + urgent + ") " + URGENT_TITLE;
    else if (waiting) document.title = "(" + waiting + ") " + BASE_TITLE;
    else document.title = BASE_TITLE;
  }

  // Signed out ---------------------------------------------------------------------------------

  // A message typed in a room the moderator joined openly must not outlive the sign-in.
  function discardUnsent() {
    if (Peerchat.RoomPane) Peerchat.RoomPane.discardPending(me.handle);
  }

  function showSignedOut() {
    discardUnsent();
    app.dataset.view = "signed-out";
    els.signedOut.hidden = false;
    for (const nav of document.querySelectorAll(".site-header .account")) nav.hidden = true;
    document.title = BASE_TITLE;
    els.signedOutHeading.focus();
  }

  conn.on("signed_out", showSignedOut);
  for (const form of document.querySelectorAll("form[data-sign-out]")) {
    form.addEventListener("submit", discardUnsent);
  }
  document.addEventListener("DOMContentLoaded", () => conn.start());

  Peerchat.ModeratorConsole = {
    app,
    conn,
    me,
    parseJSON,
    failureText,
    announceNow: (text) => say(els.announceNow, text),
    announce: (text) => say(els.announce, text),
    parseTime,
    whenText,
    ageText,
    timeElement,
    fullFormat,
    keyed,
    setCount,
    markLoaded,
  };
})();
