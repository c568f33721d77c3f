// The groups page: join (after the group agreement), leave, open and close, mute, remove.
// Every action goes to the JSON API; afterwards the list is fetched again from the server,
// so what the page shows is always what the server holds.
(function () {
  "use strict";
  const root = document.getElementById("groups");
  if (!root) return;
  const status = document.getElementById("groups-status");
  const agreement = document.getElementById("agreement");
  const api = root.dataset.api;
  let joining = null; // the group card whose "Join" opened the agreement
  let busy = false;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function say(text) {
    status.textContent = "";
    // A fresh text node makes screen readers announce a repeat of the same words too.
    window.setTimeout(() => {
      status.textContent = text;
    }, 50);
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(api + path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body || {}),
      });
    } catch (error) {
      throw new Error("That didn't work. Please check your connection and try again.");
    }
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = {};
    }
    if (!response.ok) {
      const failure = new Error(
        response.status === 401
          ? "Please sign in again, then try once more."
          : data.detail || "Something didn't work just then. Please try again.",
      );
      failure.code = data.error;
      throw failure;
    }
    return data;
  }

  // Replace the list (and the agreement's words, in case a new version was published) with
  // the server's current ones, and put focus back where it was.
  async function refresh(focusId) {
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of ["group-list", "agreement-words"]) {
        const fresh = page.getElementById(id);
        const current = document.getElementById(id);
        if (fresh && current) current.replaceWith(document.adoptNode(fresh));
      }
      const freshAgreement = page.getElementById("agreement");
      if (freshAgreement && agreement) agreement.dataset.version = freshAgreement.dataset.version;
    } catch (error) {
      window.location.reload();
      return;
    }
    const target = focusId && document.getElementById(focusId);
    if (target) target.focus();
  }

  function cardOf(element) {
    return element.closest("[data-group]");
  }

  function titleId(card) {
    return "group-" + card.dataset.group + "-title";
  }

  async function act(button, path, body, done) {
    if (busy) return; // a second click while the first is on its way does nothing
    busy = true;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await done(await post(path, body));
    } catch (error) {
      say(error.message);
      if (error.code === "agreement_outdated") {
        await refresh("agreement-heading"); // show the new words to read
      }
    } finally {
      busy = false;
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  function showAgreement(card, button) {
    joining = { card: card, button: button };
    document.getElementById("agreement-group").textContent = card.dataset.title;
    agreement.hidden = false;
    document.getElementById("agreement-heading").focus();
  }

  function hideAgreement() {
    agreement.hidden = true;
    const previous = joining;
    joining = null;
    if (previous && previous.button.isConnected) previous.button.focus();
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !root.contains(button)) return;
    const action = button.dataset.action;
    const card = cardOf(button);
    const id = card ? card.dataset.group : null;
    const handle = button.dataset.handle;

    switch (action) {
      case "join":
        showAgreement(card, button);
        break;
      case "accept-cancel":
        hideAgreement();
        break;
      case "accept": {
        if (!joining) return;
        const target = joining.card;
        const version = Number(agreement.dataset.version);
        act(button, "/" + target.dataset.group + "/join", { agreement_version: version }, async () => {
          agreement.hidden = true;
          joining = null;
          say(
            "You've joined " +
              target.dataset.title +
              ". Use “Go to the group chat” to talk while the group is open.",
          );
          await refresh(titleId(target));
        });
        break;
      }
      case "leave":
        act(button, "/" + id + "/leave", {}, async () => {
          say("You've left " + card.dataset.title + ". You're welcome back any time.");
          await refresh(titleId(card));
        });
        break;
      case "open":
        act(button, "/" + id + "/open", {}, async () => {
          say(card.dataset.title + " is open. Members can talk now.");
          await refresh(titleId(card));
        });
        break;
      case "close":
        act(button, "/" + id + "/close", {}, async () => {
          say(card.dataset.title + " is closed. Members can read but not write until it opens again.");
          await refresh(titleId(card));
        });
        break;
      case "mute":
        act(button, "/" + id + "/mute", { handle: handle }, async () => {
          say("You won't see messages from " + handle + " in this group. Only you are affected.");
          await refresh(titleId(card));
        });
        break;
      case "unmute":
        act(button, "/" + id + "/unmute", { handle: handle }, async () => {
          say("You'll see messages from " + handle + " again.");
          await refresh(titleId(card));
        });
        break;
      case "remove-start": {
        const form = document.getElementById(button.getAttribute("aria-controls"));
        form.hidden = false;
        button.setAttribute("aria-expanded", "true");
        form.querySelector("textarea").focus();
        break;
      }
      case "remove-cancel": {
        const form = button.closest("form");
        form.hidden = true;
        const opener = root.querySelector('[aria-controls="' + form.id + '"]');
        if (opener) {
          opener.setAttribute("aria-expanded", "false");
          opener.focus();
        }
        break;
      }
      default:
        break;
    }
  });

  root.addEventListener("submit", (event) => {
    const form = event.target.closest(".remove-form");
    if (!form) return;
    event.preventDefault();
    const card = cardOf(form);
    const reason = form.querySelector("textarea").value.trim();
    if (!reason) {
      say("Please give a short reason. Only moderators see it.");
      form.querySelector("textarea").focus();
      return;
    }
    const handle = form.dataset.handle;
    const button = form.querySelector("button[type=submit]");
    act(button, "/" + card.dataset.group + "/remove", { handle: handle, reason: reason }, async () => {
      say(handle + " has left the group. This has been noted for the moderators.");
      await refresh(titleId(card));
    });
  });
})();
