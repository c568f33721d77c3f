// The seeker's support page: start → agreement → waiting room → chat → feedback, on one page.
//
// The state always comes from the server: `GET /api/v1/support/intake` (and `/current`) when
// the page loads or the socket comes back, and the socket's `support` frames whenever it
// changes, on every tab of the person. The waiting room follows `queue` frames; the chat is a
// Peerchat.RoomPane on the page's one Peerchat.Connection (client/connection.js and
// client/roompane.js, loaded first). Nothing here adds a history entry: the quick exit replaces
// the page, and Back must not bring the chat back.
(function () {
  "use strict";

  const app = document.getElementById("support");
  const Peerchat = window.Peerchat;
  const { element } = Peerchat.dom;
  if (!app || !Peerchat || !Peerchat.Connection || !Peerchat.RoomPane) return;

  const RETRY_LOAD_MS = 10000;
  const WAITING_POLL_MS = 30000;
  const AVAILABILITY_POLL_MS = 60000;
  const ASKED_FOR_REFRESH_MS = 15000;
  const SKIPPED_KEY = "peerchat.support.feedback-skipped";
  const ENDING_TEXT = "Ending the chat…";
  const ENDED_TEXT = "This chat has ended. You can still read it here.";

  const byId = (id) => document.getElementById(id);
  const data = app.dataset;
  const urls = {
    seekers: data.seekersUrl,
    intake: data.intakeUrl,
    current: data.currentUrl,
    requests: data.requestsUrl,
    leave: data.leaveUrl,
    sessions: data.sessionsUrl,
    support: data.supportUrl,
    safetyPlan: data.safetyPlanUrl,
    myData: data.myDataUrl,
    groups: data.groupsUrl,
    logout: data.logoutUrl,
  };
  const timeZone = data.timeZone || undefined;
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  const els = {
    status: byId("connection-status"),
    urgent: byId("urgent-help"),
    urgentIntro: byId("urgent-intro"),
    urgentMore: byId("urgent-more"),
    views: {
      start: byId("view-start"),
      loading: byId("view-loading"),
      agreement: byId("view-agreement"),
      waiting: byId("view-waiting"),
      left: byId("view-left"),
      chat: byId("view-chat"),
      ended: byId("view-ended"),
      thanks: byId("view-thanks"),
      "signed-out": byId("view-signed-out"),
      trouble: byId("view-trouble"),
    },
    headings: {
      start: byId("start-heading"),
      loading: byId("loading-heading"),
      agreement: byId("agreement-heading"),
      waiting: byId("waiting-heading"),
      left: byId("left-heading"),
      ended: byId("ended-heading"),
      thanks: byId("thanks-heading"),
      "signed-out": byId("signed-out-heading"),
      trouble: byId("trouble-heading"),
    },
    startForm: byId("start-form"),
    startButton: byId("start-button"),
    startStatus: byId("start-status"),
    agreementChanged: byId("agreement-changed"),
    agreementHeading: byId("agreement-heading"),
    confidentiality: byId("agreement-confidentiality"),
    agreementBody: byId("agreement-body"),
    requestForm: byId("request-form"),
    safeNow: byId("safe-now"),
    safeNowChoices: byId("safe-now-choices"),
    topic: byId("topic"),
    askPreviousField: byId("ask-previous-field"),
    askPrevious: byId("ask-previous"),
    askPreviousLabel: byId("ask-previous-label"),
    availability: byId("availability"),
    agreeButton: byId("agree-button"),
    requestStatus: byId("request-status"),
    queuePosition: byId("queue-position"),
    queueEstimate: byId("queue-estimate"),
    queueAskedFor: byId("queue-asked-for"),
    groundingList: byId("grounding-list"),
    leaveButton: byId("leave-button"),
    leaveStatus: byId("leave-status"),
    leftText: byId("left-text"),
    askAgain: byId("ask-again-button"),
    chatTools: byId("chat-tools"),
    chatInfo: byId("chat-info"),
    planState: byId("plan-state"),
    planButton: byId("plan-button"),
    planStatus: byId("plan-status"),
    endButton: byId("end-button"),
    endConfirm: byId("end-confirm"),
    endQuestion: byId("end-question"),
    endYes: byId("end-yes"),
    endNo: byId("end-no"),
    endStatus: byId("end-status"),
    paneHost: byId("support-pane"),
    endedText: byId("ended-text"),
    feedbackForm: byId("feedback-form"),
    feedbackSend: byId("feedback-send"),
    feedbackSkip: byId("feedback-skip"),
    feedbackStatus: byId("feedback-status"),
    thanksHeading: byId("thanks-heading"),
    thanksText: byId("thanks-text"),
    newChat: byId("new-chat-button"),
    retry: byId("retry-button"),
  };

  const me = { handle: data.handle || "", role: data.role || "" };
  const baseTitle = document.title;

  let conn = null;
  let intake = null; // the last intake answer
  let support = null; // the last `support` object shown
  let view = null; // the view on screen
  let hold = null; // "left" or "thanks": kept on screen while the server says there is nothing
  let wantNew = false; // the person asked to start again after an ended chat
  let supportFrames = 0; // `support` frames received, to spot HTTP answers overtaken by one
  let pane = null;
  let paneRoom = null;
  let session = null; // the newest `session` object of the chat on screen
  let handover = null; // "{old} has handed over to {new}…" for the chat on screen
  let planShared = false;
  let request = null; // the waiting request on screen
  let queueVersion = -1;
  let waitingHelp = null; // why the waiting room shows the resources at the top, if it does
  const busy = { request: false, leave: false, end: false, plan: false, feedback: false };
  let loadTimer = null;
  let pollTimer = null;
  let availabilityTimer = null;
  let lastAskedForRender = 0;
  let firstRender = true;

  // Words ------------------------------------------------------------------------------------

  function plural(n, one, many) {
    return n === 1 ? one : many;
  }

  function formatter(options) {
    try {
      return new Intl.DateTimeFormat("en-GB", { ...options, timeZone });
    } catch (error) {
      return new Intl.DateTimeFormat("en-GB", options); // an unknown zone: the browser's own
    }
  }

  function parts(format, date) {
    const out = {};
    for (const part of format.formatToParts(date)) out[part.type] = part.value;
    return out;
  }

  // Days since the epoch of the date as the calendar shows it in the service's time zone.
  function dayNumber(date) {
    const p = parts(formatter({ year: "numeric", month: "numeric", day: "numeric" }), date);
    return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day)) / 86400000;
  }

  // "at 7pm", "tomorrow at 7:30am", "on Tuesday at 9pm", in the service's time zone.
  function whenText(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return null;
    const p = parts(formatter({ hour: "numeric", minute: "2-digit", hour12: true }), date);
    const period = (p.dayPeriod || "").replace(/[\s.]/g, "").toLowerCase();
    const clock = p.hour + (p.minute && p.minute !== "00" ? ":" + p.minute : "") + period;
    const days = dayNumber(date) - dayNumber(new Date());
    if (days <= 0) return "at " + clock;
    if (days === 1) return "tomorrow at " + clock;
    if (days < 7) return "on " + formatter({ weekday: "long" }).format(date) + " at " + clock;
    return "on " + formatter({ day: "numeric", month: "long" }).format(date) + " at " + clock;
  }

  function nextShiftSentence(iso) {
    if (iso && new Date(iso) <= new Date()) {
      // A shift is scheduled now and its supporter has not come on yet.
      return "A shift is due to start now, so a supporter should be here soon.";
    }
    const when = iso ? whenText(iso) : null;
    return when
      ? "The next shift starts " + when + "."
      : "We don't have a time for the next shift yet.";
  }

  function positionText(position) {
    if (!Number.isInteger(position) || position < 1) return "";
    if (position === 1) return "You're next.";
    const ahead = position - 1;
    return ahead + plural(ahead, " person is", " people are") + " ahead of you.";
  }

  function estimateText(estimate) {
    const kind = estimate && estimate.kind;
    switch (kind) {
      case "soon":
        return "A supporter is about to join you.";
      case "minutes": {
        const basis = estimate.basis === "recent_waits" ? "recent waits" : "recent chats";
        return (
          "Usually about " +
          estimate.low +
          "–" +
          estimate.high +
          " minutes right now, based on " +
          basis +
          "."
        );
      }
      case "nobody_on_shift":
        return "Nobody is on shift right now. " + nextShiftSentence(estimate.next_shift_at);
      default:
        return (
          "We can't give a reliable wait yet — a supporter will join as soon as one is free."
        );
    }
  }

  function supporterOf(s) {
    return (s && s.supporter && s.supporter.handle) || "your supporter";
  }

  function chatName(s) {
    return "Chat with " + supporterOf(s);
  }

  // The sanitised markup of an agreement, rebuilt node by node from an allow-list (the same as
  // the server's), so that nothing but text, paragraphs, lists, emphasis and safe links lands.
  const ALLOWED_TAGS = new Set(["P", "UL", "OL", "LI", "STRONG", "EM", "B", "I", "BR", "A"]);
  const DROPPED_TAGS = new Set(["SCRIPT", "STYLE", "TEMPLATE", "IFRAME", "OBJECT", "SVG", "MATH"]);

  function safeMarkup(html) {
    const source = new DOMParser().parseFromString(String(html || ""), "text/html").body;
    const out = document.createDocumentFragment();
    (function copy(from, to) {
      for (const node of from.childNodes) {
        if (node.nodeType === Node.TEXT_NODE) {
          to.append(node.textContent);
        } else if (node.nodeType === Node.ELEMENT_NODE && !DROPPED_TAGS.has(node.tagName)) {
          if (!ALLOWED_TAGS.has(node.tagName)) {
            copy(node, to);
            continue;
          }
          const el = document.createElement(node.tagName.toLowerCase());
          if (node.tagName === "A") {
            const href = (node.getAttribute("href") || "").trim();
            if (/^(https:|mailto:|tel:)/i.test(href)) el.setAttribute("href", href);
          }
          copy(node, el);
          to.append(el);
        }
      }
    })(source, out);
    return out;
  }


  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function kindFailure(error) {
    if (error && error.status === 429) {
      return "Lots is happening at once. Please wait a moment, then try again.";
    }
    return "That didn't work just now. Please check your connection and try again.";
  }

  // Views ------------------------------------------------------------------------------------

  function setView(name, { focus = true } = {}) {
    const changed = view !== name;
    view = name;
    app.dataset.view = name;
    const chatVisible = name === "chat" || ((name === "ended" || name === "thanks") && pane);
    for (const [key, node] of Object.entries(els.views)) {
      node.hidden = key === "chat" ? !chatVisible : key !== name;
    }
    els.chatTools.hidden = name !== "chat";
    document.body.classList.toggle("is-chatting", name === "chat");
    document.body.classList.toggle("chat-screen", name === "chat");
    document.body.classList.toggle("has-chat", Boolean(chatVisible));
    els.status.hidden = !(name === "waiting" || name === "chat");
    if (name !== "agreement" && name !== "waiting") showUrgent(null);
    if (name !== "waiting") stopWaiting();
    window.clearTimeout(availabilityTimer);
    if (name === "agreement") {
      availabilityTimer = window.setTimeout(refreshAvailability, AVAILABILITY_POLL_MS);
    }
    if (changed && focus && !firstRender) focusView(name);
    if (name !== "loading") firstRender = false;
  }

  function focusView(name) {
    const heading = name === "chat" && pane ? pane.el.title : els.headings[name];
    if (!heading) return;
    heading.focus({ preventScroll: true });
    heading.scrollIntoView({ block: "nearest", behavior: scrollBehaviour() });
  }

  function scrollBehaviour() {
    return reducedMotion.matches ? "auto" : "smooth";
  }

  // The crisis resources at the top of the page: `reason` says why, or null to hide them.
  function showUrgent(reason) {
    const wasHidden = els.urgent.hidden;
    els.urgent.hidden = !reason;
    if (!reason) return;
    if (reason === "answer") {
      setText(
        els.urgentIntro,
        "You can call or text one of these right now. They're free and there for you at any time.",
      );
      setText(
        els.urgentMore,
        "You can still ask for a supporter below as well, and we'll ask them to come to you first.",
      );
    } else if (reason === "urgent") {
      setText(
        els.urgentIntro,
        "While a supporter gets ready for you, you can call or text one of these. They're free " +
          "and there for you at any time.",
      );
      setText(els.urgentMore, "We've asked for a supporter to come to you first.");
    } else {
      setText(
        els.urgentIntro,
        "If you'd like to talk to someone sooner, these are free and there for you at any time.",
      );
      setText(els.urgentMore, "");
    }
    return wasHidden;
  }

  // Applying the server's state ----------------------------------------------------------------

  function applySupport(state) {
    if (!state || typeof state !== "object" || !conn || conn.signedOut) return;
    support = state;
    if (state.state === "active" && state.session) {
      hold = null;
      wantNew = false;
      showChat(state.session);
    } else if (state.state === "waiting" && state.request) {
      hold = null;
      wantNew = false;
      showWaiting(state.request);
    } else if (state.state === "ended" && state.session) {
      if (wantNew) showAgreement();
      else showEnded(state.session);
    } else if (hold === "left" || hold === "thanks") {
      // Nothing on the server: the goodbye stays until the person asks to start again.
      if (view !== hold) setView(hold);
    } else if (view === "waiting") {
      showLeft({ byUs: busy.leave });
    } else if (view === "ended") {
      showThanks({ sent: true }); // feedback was given in another tab
    } else {
      showAgreement();
    }
  }

  // An HTTP answer is a snapshot: if a `support` frame arrived while it was on its way, the
  // frame may be newer, so ask again rather than go back in time.
  async function applySnapshot(state, framesBefore, attempts = 2) {
    if (supportFrames === framesBefore || attempts <= 0) {
      if (supportFrames === framesBefore) applySupport(state);
      return;
    }
    const seen = supportFrames;
    try {
      const fresh = await conn.getJSON(urls.current);
      await applySnapshot(fresh, seen, attempts - 1);
    } catch (error) {
      // The frames that arrived meanwhile stand.
    }
  }

  async function refreshCurrent() {
    if (!conn || conn.signedOut) return;
    const seen = supportFrames;
    try {
      const state = await conn.getJSON(urls.current);
      await applySnapshot(state, seen);
    } catch (error) {
      // The socket's frames, the next reconnect or the next poll will bring it.
    }
  }

  async function loadIntake() {
    const body = await conn.getJSON(urls.intake);
    intake = body;
    renderIntake();
    return body;
  }

  async function loadAll() {
    window.clearTimeout(loadTimer);
    if (!conn || conn.signedOut) return;
    const seen = supportFrames;
    try {
      const body = await loadIntake();
      await applySnapshot(body.support, seen);
    } catch (error) {
      if (conn.signedOut) return;
      if (error && error.status === 403) {
        window.location.reload(); // not a seeker's page any more: the server sends them on
        return;
      }
      if (!support) setView("trouble");
      loadTimer = window.setTimeout(loadAll, RETRY_LOAD_MS);
    }
  }

  // Agreement ----------------------------------------------------------------------------------

  function renderIntake() {
    if (!intake) return;
    const agreement = intake.agreement;
    if (agreement) {
      setText(els.agreementHeading, agreement.title || "Before you start");
      els.confidentiality.replaceChildren(safeMarkup(agreement.confidentiality));
      els.agreementBody.replaceChildren(safeMarkup(agreement.body));
    }
    els.agreeButton.disabled = !agreement || busy.request;
    renderSafeNowChoices(intake.safe_now_choices || []);
    renderTopics(intake.topics || []);
    renderPrevious((intake.support && intake.support.previous_supporter) || null);
    renderAvailability(intake.availability || {});
    els.groundingList.replaceChildren(
      ...(intake.grounding || []).map((idea) => element("li", null, String(idea))),
    );
  }

  function renderSafeNowChoices(choices) {
    const chosen = safeNowValue();
    const nodes = choices.map((choice) => {
      const id = "safe-now-" + choice.code;
      const box = element("div", "choice");
      const input = element("input");
      input.type = "radio";
      input.name = "safe_now";
      input.id = id;
      input.value = choice.code;
      input.checked = choice.code === chosen;
      const label = element("label", null, choice.label);
      label.htmlFor = id;
      box.append(input, label);
      return box;
    });
    els.safeNowChoices.replaceChildren(...nodes);
  }

  function renderTopics(topics) {
    const chosen = els.topic.value;
    const first = els.topic.options[0];
    const options = topics.map((topic) => {
      const option = element("option", null, topic.label);
      option.value = topic.code;
      return option;
    });
    els.topic.replaceChildren(first, ...options);
    els.topic.value = topics.some((topic) => topic.code === chosen) ? chosen : "";
  }

  function renderPrevious(previous) {
    const handle = previous && previous.handle;
    els.askPreviousField.hidden = !handle;
    if (!handle) {
      els.askPrevious.checked = false;
      return;
    }
    setText(els.askPreviousLabel, "Talk to " + handle + " again if they're available");
  }

  function renderAvailability(availability) {
    const onShift = Number(availability.on_shift) || 0;
    let text = onShift + plural(onShift, " supporter is", " supporters are") + " on shift now.";
    if (onShift <= 0) {
      const next = availability.next_shift_at;
      const later = next && new Date(next) > new Date();
      text =
        "Nobody is on shift right now. " +
        nextShiftSentence(next) +
        (later
          ? " You can ask now and wait here, or come back then."
          : " You can still ask now and wait here.");
    }
    setText(els.availability, text);
  }

  // Who is on shift changes while someone reads: keep that line true (and only that line:
  // the agreement they are reading stays as it is; the server says if it changed).
  async function refreshAvailability() {
    if (view !== "agreement" || !conn || conn.signedOut) return;
    try {
      const fresh = await conn.getJSON(urls.intake);
      if (intake && fresh && fresh.availability) {
        intake.availability = fresh.availability;
        renderAvailability(fresh.availability);
      }
    } catch (error) {
      // The next look may work.
    }
    if (view === "agreement") {
      availabilityTimer = window.setTimeout(refreshAvailability, AVAILABILITY_POLL_MS);
    }
  }

  function safeNowValue() {
    const checked = els.safeNowChoices.querySelector("input[name=safe_now]:checked");
    return checked ? checked.value : "";
  }

  function showAgreement({ changed } = {}) {
    destroyPane();
    request = null;
    if (changed !== undefined) els.agreementChanged.hidden = !changed;
    setText(els.requestStatus, "");
    renderIntake();
    setView("agreement");
    updateSafeNowHelp({ scroll: false });
  }

  // "No" or "Not sure": the crisis resources come to the top of the page at once.
  function updateSafeNowHelp({ scroll }) {
    const answer = safeNowValue();
    const worried = answer === "no" || answer === "not_sure";
    if (view !== "agreement") return;
    const appeared = showUrgent(worried ? "answer" : null);
    if (worried && appeared && scroll) {
      announce(
        "You don't have to wait to get help. Free numbers you can call or text now are at " +
          "the top of the page.",
      );
      els.urgent.scrollIntoView({ block: "start", behavior: scrollBehaviour() });
    }
  }

  async function submitRequest(event) {
    event.preventDefault();
    if (busy.request || !intake || !intake.agreement) return;
    busy.request = true;
    els.agreeButton.disabled = true;
    setText(els.requestStatus, "");
    const seen = supportFrames;
    const body = {
      agreement_version: intake.agreement.version,
      safe_now: safeNowValue(),
      topic: els.topic.value || "",
      ask_for_previous: !els.askPreviousField.hidden && els.askPrevious.checked,
    };
    try {
      const state = await conn.postJSON(urls.requests, body);
      wantNew = false;
      els.agreementChanged.hidden = true;
      await applySnapshot(state, seen);
    } catch (error) {
      if (conn.signedOut) return;
      if (error && error.code === "agreement_outdated") {
        try {
          await loadIntake();
        } catch (loadError) {
          // The note still says so; the next try loads it.
        }
        showAgreement({ changed: true });
        focusView("agreement");
      } else {
        setText(els.requestStatus, kindFailure(error));
      }
    } finally {
      busy.request = false;
      els.agreeButton.disabled = !(intake && intake.agreement);
    }
  }

  // Waiting room -------------------------------------------------------------------------------

  function showWaiting(waiting) {
    destroyPane();
    request = waiting;
    setView("waiting");
    // The server's answer is as fresh as anything; `queue` frames keep it up to date.
    renderQueue(waiting.position, waiting.estimate);
    renderAskedFor();
    conn.watch("queue");
    window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(pollWhileWaiting, WAITING_POLL_MS);
  }

  function stopWaiting() {
    if (conn) conn.unwatch("queue");
    window.clearTimeout(pollTimer);
    pollTimer = null;
  }

  // Frames can go missing (the channel layer delivers at most once): look now and then.
  function pollWhileWaiting() {
    if (view !== "waiting") return;
    refreshCurrent();
    pollTimer = window.setTimeout(pollWhileWaiting, WAITING_POLL_MS);
  }

  function renderQueue(position, estimate) {
    setText(els.queuePosition, positionText(position));
    setText(els.queueEstimate, estimateText(estimate));
    const kind = estimate && estimate.kind;
    waitingHelp =
      request && request.urgent ? "urgent" : kind === "nobody_on_shift" ? "nobody" : null;
    if (view === "waiting") showUrgent(waitingHelp);
  }

  function renderAskedFor() {
    lastAskedForRender = Date.now();
    const handle = request && request.asked_for;
    const until = request && request.asked_for_until ? new Date(request.asked_for_until) : null;
    const left = until ? until.getTime() - Date.now() : 0;
    if (!handle || !(left > 0)) {
      els.queueAskedFor.hidden = true;
      return;
    }
    const minutes = Math.max(1, Math.ceil(left / 60000));
    setText(
      els.queueAskedFor,
      "We're checking whether " +
        handle +
        " is free (up to " +
        minutes +
        plural(minutes, " minute", " minutes") +
        "), otherwise the next available supporter will join you.",
    );
    els.queueAskedFor.hidden = false;
  }

  function onQueue(frame) {
    if (view !== "waiting" || !request || !frame || !Array.isArray(frame.entries)) return;
    if (Number.isInteger(frame.version)) {
      if (frame.version < queueVersion) return;
      queueVersion = frame.version;
    }
    const entry = frame.entries.find((item) => item && item.id === request.id);
    if (entry) {
      request.position = entry.position;
      request.estimate = entry.estimate;
      renderQueue(entry.position, entry.estimate);
    } else {
      // Matched or no longer waiting: the `support` frame says which; make sure of it.
      refreshCurrent();
    }
  }

  async function leaveQueue() {
    if (busy.leave) return;
    busy.leave = true;
    els.leaveButton.disabled = true;
    setText(els.leaveStatus, "");
    try {
      const state = await conn.postJSON(urls.leave, {});
      hold = "left";
      if (state && state.state !== "none") applySupport(state);
      else showLeft({ byUs: true });
    } catch (error) {
      if (!conn.signedOut) setText(els.leaveStatus, kindFailure(error));
    } finally {
      busy.leave = false;
      els.leaveButton.disabled = false;
    }
  }

  function showLeft({ byUs }) {
    hold = "left";
    request = null;
    setText(
      els.leftText,
      byUs
        ? "You've left the queue. Nobody was sent a message."
        : "You're no longer in the queue. Nobody was sent a message.",
    );
    setView("left");
  }

  // The chat -----------------------------------------------------------------------------------

  function ensurePane(s) {
    if (pane && paneRoom === s.room) return pane;
    destroyPane();
    session = s;
    handover = null;
    paneRoom = s.room;
    pane = new Peerchat.RoomPane(els.paneHost, {
      connection: conn,
      room: s.room,
      name: chatName(s),
      headingLevel: 1,
      emptyText:
        supporterOf(s) + " is here for you. Say hello whenever you're ready — there's no rush.",
      keepName: true, // "Chat with Alex", in the page's own words
      // "I need urgent help" in the chat's header, and the free-help panel it opens; the
      // page's own crisis numbers show at once, before the team's answer.
      urgentHelp: true,
      resources: Peerchat.dom.pageResources(),
      ids: {
        urgent: "chat-urgent-button",
        help: "chat-help-panel",
        helpHeading: "chat-help-heading",
        presence: "chat-presence",
        paused: "chat-paused",
      },
      onSession: (frame) => onSessionFrame(frame),
      onEnded: () => {
        if (session && session.state !== "ended") session = { ...session, state: "ended" };
        refreshCurrent();
      },
      onFrame: (frame) => {
        if (frame.type === "safety_plan") setPlanShared(frame.shared === true);
      },
      onGone: () => refreshCurrent(),
    });
    pane.header.append(els.chatTools);
    nameChat();
    setPlanShared(Boolean(s.safety_plan_shared));
    return pane;
  }

  // "Chat with Alex" as the heading; the composer says "Message to Alex", not "to Chat with …".
  function nameChat() {
    if (!pane) return;
    pane.setName(chatName(session), supporterOf(session));
  }

  function destroyPane() {
    if (!pane) return;
    closeEndConfirm({ focus: false });
    els.views.chat.prepend(els.chatTools); // keep the tools: the pane's elements go
    pane.destroy({ leave: true });
    pane = null;
    paneRoom = null;
    session = null;
    handover = null;
    setText(els.planStatus, "");
  }

  function showChat(s) {
    const wasWaiting = view === "waiting" || view === "agreement";
    ensurePane(s);
    updateSession(s);
    if (s.state === "ended") {
      showEnded(s);
      return;
    }
    setView("chat");
    if (wasWaiting && document.visibilityState === "hidden") {
      document.title = "(1) A supporter has joined · " + baseTitle;
    }
  }

  function onSessionFrame(frame) {
    if (!frame || frame.room !== paneRoom) return;
    updateSession(frame);
    if (frame.state === "ended" && view === "chat") showEnded(session);
  }

  function updateSession(frame) {
    session = { ...(session || {}), ...frame };
    if (frame.transferred_from && frame.transferred_from.handle) {
      handover =
        frame.transferred_from.handle +
        " has handed over to " +
        supporterOf(session) +
        ", who will carry on with you.";
    }
    nameChat();
    setText(els.chatInfo, infoText(session));
    els.chatInfo.hidden = !els.chatInfo.textContent;
    if (typeof frame.safety_plan_shared === "boolean") setPlanShared(frame.safety_plan_shared);
  }

  function infoText(s) {
    if (handover) return handover;
    const handle = supporterOf(s);
    if (s.continuity === "same") return "You're talking with " + handle + " again.";
    if (s.continuity === "not_on_shift" || s.continuity === "wait_expired") {
      const asked =
        (support && support.previous_supporter && support.previous_supporter.handle) ||
        "The supporter you asked for";
      return asked + " isn't available right now, so " + handle + " is here for you.";
    }
    return "";
  }

  function setPlanShared(shared) {
    planShared = shared;
    setText(els.planButton, shared ? "Stop sharing my safety plan" : "Share my safety plan");
    els.planState.hidden = !shared;
    setText(els.planState, shared ? supporterOf(session) + " can see your safety plan." : "");
  }

  async function togglePlan() {
    if (busy.plan || !paneRoom) return;
    busy.plan = true;
    els.planButton.disabled = true;
    els.planStatus.replaceChildren();
    const action = planShared ? "withdraw" : "share";
    try {
      const answer = await conn.postJSON(
        urls.sessions + paneRoom + "/safety-plan/" + action,
        {},
      );
      setPlanShared(Boolean(answer && answer.shared));
      setText(
        els.planStatus,
        answer && answer.shared
          ? "Shared. You can stop sharing whenever you like."
          : "Your safety plan is private again.",
      );
    } catch (error) {
      if (conn.signedOut) return;
      if (error && error.code === "safety_plan_empty") {
        const link = element("a", null, "write one on the Safety plan page");
        link.href = urls.safetyPlan;
        els.planStatus.replaceChildren(
          "Your safety plan is empty for now. You could ",
          link,
          ", then share it here. This chat will be waiting for you under “My chat”.",
        );
      } else if (error && (error.code === "not_found" || error.code === "no_supporter")) {
        setText(els.planStatus, "The plan can only be shared while the chat is going on.");
      } else {
        setText(els.planStatus, kindFailure(error));
      }
    } finally {
      busy.plan = false;
      els.planButton.disabled = false;
    }
  }

  function openEndConfirm() {
    els.endConfirm.hidden = false;
    els.endButton.setAttribute("aria-expanded", "true");
    setText(els.endStatus, "");
    els.endQuestion.focus();
  }

  function closeEndConfirm({ focus }) {
    if (els.endConfirm.hidden) return;
    els.endConfirm.hidden = true;
    els.endButton.setAttribute("aria-expanded", "false");
    if (focus) els.endButton.focus();
  }

  async function endChat() {
    if (busy.end || !paneRoom) return;
    busy.end = true;
    els.endYes.disabled = true;
    // Once the person has said so, nothing more is sent while the server ends the chat.
    const closing = pane;
    if (closing && closing.closedText === null) closing.setClosed(ENDING_TEXT);
    try {
      const ended = await conn.postJSON(urls.sessions + paneRoom + "/end", {});
      closeEndConfirm({ focus: false });
      if (ended && ended.room === paneRoom) {
        updateSession(ended);
        if (pane) pane.setClosed(ENDED_TEXT);
        showEnded(session);
      }
    } catch (error) {
      if (conn.signedOut) return;
      const stillOn = session && session.state !== "ended";
      if (stillOn && closing && closing === pane && closing.closedText === ENDING_TEXT) {
        closing.setClosed(null); // still going: the person can carry on
      }
      setText(els.endStatus, kindFailure(error));
    } finally {
      busy.end = false;
      els.endYes.disabled = false;
    }
  }

  // Ended and feedback -------------------------------------------------------------------------

  function endedText(s) {
    const handle = supporterOf(s);
    switch (s.end_reason) {
      case "seeker_gone":
        return (
          "The chat closed because we lost connection with you for a while. You can start a " +
          "new chat any time."
        );
      case "supporter_ended":
        return handle + " has ended the chat. You can still read it above.";
      case "seeker_ended":
        return "You ended the chat. You can still read it above.";
      case "moderator_ended":
        return (
          "A moderator has ended the chat. You can still read it above, and you can start a " +
          "new chat any time."
        );
      default:
        return "You can still read it above.";
    }
  }

  function showEnded(s) {
    ensurePane(s); // the chat stays readable
    updateSession(s);
    if (pane.closedText === ENDING_TEXT) pane.setClosed(ENDED_TEXT);
    if (hold === "thanks" || skipped(s.room)) {
      if (view !== "thanks") showThanks({ sent: false });
      return;
    }
    setText(els.endedText, endedText(session));
    setText(els.feedbackStatus, "");
    setView("ended");
  }

  function skipped(room) {
    try {
      return window.sessionStorage.getItem(SKIPPED_KEY) === String(room);
    } catch (error) {
      return false;
    }
  }

  function rememberSkipped(room) {
    try {
      window.sessionStorage.setItem(SKIPPED_KEY, String(room));
    } catch (error) {
      // This tab forgets after a reload; the form comes back, which does no harm.
    }
  }

  async function sendFeedback(event) {
    event.preventDefault();
    if (busy.feedback || !paneRoom) return;
    const form = els.feedbackForm;
    const body = {};
    for (const name of ["listened", "helpful"]) {
      const checked = form.querySelector("input[name=" + name + "]:checked");
      if (checked) body[name] = Number(checked.value);
    }
    const back = form.querySelector("input[name=would_return]:checked");
    if (back) body.would_return = back.value;
    const comment = form.elements.comment.value.trim();
    if (comment) body.comment = comment;
    busy.feedback = true;
    els.feedbackSend.disabled = true;
    setText(els.feedbackStatus, "");
    try {
      await conn.postJSON(urls.sessions + paneRoom + "/feedback", body);
      hold = "thanks";
      form.reset();
      showThanks({ sent: true });
    } catch (error) {
      if (!conn.signedOut) setText(els.feedbackStatus, kindFailure(error));
    } finally {
      busy.feedback = false;
      els.feedbackSend.disabled = false;
    }
  }

  function skipFeedback() {
    if (paneRoom) rememberSkipped(paneRoom);
    hold = "thanks";
    els.feedbackForm.reset();
    showThanks({ sent: false });
  }

  function showThanks({ sent }) {
    hold = "thanks";
    setText(els.thanksHeading, sent ? "Thank you" : "Take care");
    setText(
      els.thanksText,
      sent
        ? "Thank you for telling us. It helps us make this better. Take good care of yourself."
        : "Thank you for talking with us today. Take good care of yourself.",
    );
    setView("thanks");
  }

  function startAgain() {
    hold = null;
    wantNew = true;
    els.feedbackForm.reset();
    showAgreement();
    focusView("agreement");
    loadIntake().catch(() => {});
  }

  // Signed out ---------------------------------------------------------------------------------

  function showSignedOut() {
    window.clearTimeout(loadTimer);
    Peerchat.RoomPane.discardPending(me.handle);
    // For privacy the conversation goes from the screen (the server keeps it).
    destroyPaneQuietly();
    for (const nav of document.querySelectorAll(".site-header nav")) nav.hidden = true;
    hold = null;
    setView("signed-out");
  }

  function destroyPaneQuietly() {
    if (!pane) return;
    els.views.chat.prepend(els.chatTools);
    pane.destroy({ leave: false });
    pane = null;
    paneRoom = null;
  }

  // A few words for screen readers that are not in a live region of their own.
  let announcer = null;
  function announce(text) {
    if (!announcer) {
      announcer = element("p", "visually-hidden");
      announcer.setAttribute("role", "status");
      app.append(announcer);
    }
    announcer.textContent = "";
    window.setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  }

  // Starting: signing in as a seeker on this page ---------------------------------------------

  async function startAsSeeker(event) {
    event.preventDefault();
    if (els.startButton.disabled) return;
    els.startButton.disabled = true;
    setText(els.startStatus, "Getting things ready…");
    const token = els.startForm.querySelector("[name=csrfmiddlewaretoken]");
    try {
      const response = await fetch(urls.seekers, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "X-CSRFToken": (token && token.value) || Peerchat.Connection.csrfToken(),
        },
      });
      if (response.status === 409) {
        window.location.reload(); // a staff account on this browser: the page sends them on
        return;
      }
      if (response.status === 429) {
        // Too many new chats from this network: the server says when to try again.
        const refusal = await response.json().catch(() => null);
        setText(els.startStatus, (refusal && refusal.detail) || "Please try again in a few minutes.");
        els.startButton.disabled = false;
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      me.handle = body.handle;
      me.role = body.role;
      firstRender = false; // the start button is gone: focus goes to what comes next
      showSignedInHeader();
      setText(els.startStatus, "");
      begin();
    } catch (error) {
      setText(els.startStatus, "That didn't work. Please try again in a moment.");
      els.startButton.disabled = false;
    }
  }

  // The header was drawn for a stranger: say who is signed in now, with the seeker's links
  // (the same as base.html draws for a seeker).
  function showSignedInHeader() {
    const header = document.querySelector(".site-header");
    const account = header && header.querySelector("nav.account");
    if (!account) return;
    const who = element("span", "whoami", "Signed in as ");
    who.append(element("strong", null, me.handle));
    const form = element("form", "inline-form");
    form.method = "post";
    form.action = urls.logout;
    form.dataset.signOut = "";
    const token = element("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    form.append(token);
    const button = element("button", "link-button", "Sign out");
    button.type = "submit";
    form.append(button);
    form.addEventListener("submit", () => {
      token.value = Peerchat.Connection.csrfToken(); // signing in gave a new one
      Peerchat.RoomPane.discardPending(me.handle);
    });
    account.replaceChildren(who, form);
    if (!header.querySelector("nav.site-nav")) {
      const nav = element("nav", "account site-nav");
      nav.setAttribute("aria-label", "Site");
      const links = [
        ["My chat", urls.support],
        ["Groups", urls.groups],
        ["Safety plan", urls.safetyPlan],
        ["My data", urls.myData],
      ];
      for (const [text, href] of links) {
        const link = element("a");
        link.href = href;
        if (href === urls.support) {
          link.setAttribute("aria-current", "page");
          link.append(element("strong", null, text));
        } else {
          link.textContent = text;
        }
        nav.append(link);
      }
      account.after(nav);
    }
  }

  // Wiring -------------------------------------------------------------------------------------

  function begin() {
    setView("loading", { focus: false });
    conn = new Peerchat.Connection({
      socketPath: data.socketPath,
      handle: me.handle,
      role: me.role,
      statusElement: els.status,
    });
    conn.on("support", (frame) => {
      supportFrames += 1;
      applySupport(frame);
    });
    conn.on("queue", onQueue);
    conn.on("hello", (frame, { reconnected }) => {
      if (reconnected) refreshCurrent(); // things may have moved on meanwhile
    });
    conn.on("signed_out", showSignedOut);
    conn.on("tick", (now) => {
      if (view === "waiting" && now - lastAskedForRender >= ASKED_FOR_REFRESH_MS) {
        renderAskedFor();
      }
    });
    conn.start();
    loadAll();
  }

  els.startForm.addEventListener("submit", startAsSeeker);
  els.requestForm.addEventListener("submit", submitRequest);
  els.safeNowChoices.addEventListener("change", () => updateSafeNowHelp({ scroll: true }));
  els.leaveButton.addEventListener("click", leaveQueue);
  els.askAgain.addEventListener("click", startAgain);
  els.newChat.addEventListener("click", startAgain);
  els.planButton.addEventListener("click", togglePlan);
  els.endButton.addEventListener("click", () => {
    if (els.endConfirm.hidden) openEndConfirm();
    else closeEndConfirm({ focus: true });
  });
  els.endNo.addEventListener("click", () => closeEndConfirm({ focus: true }));
  els.endYes.addEventListener("click", endChat);
  els.endConfirm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeEndConfirm({ focus: true });
  });
  els.feedbackForm.addEventListener("submit", sendFeedback);
  els.feedbackSkip.addEventListener("click", skipFeedback);
  els.retry.addEventListener("click", () => {
    setView("loading");
    loadAll();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") document.title = baseTitle;
  });
  const signOutForm = document.querySelector("[data-sign-out]");
  if (signOutForm) {
    signOutForm.addEventListener("submit", () => Peerchat.RoomPane.discardPending(me.handle));
  }

  if (data.signedIn === "true" && me.role === "seeker") {
    begin();
  } else {
    setView("start", { focus: false });
  }
})();
