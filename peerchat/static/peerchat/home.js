// Start as a seeker: create the pseudonymous account, then go on to the support page.
(function () {
  "use strict";
  var form = document.getElementById("start-form");
  if (!form) return;
  var status = document.getElementById("start-status");
  var button = form.querySelector("button[type=submit]");
  var busy = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return; // a double tap makes one account
    busy = true;
    if (button) button.disabled = true;
    status.textContent = "Getting things ready…";
    fetch(form.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
      },
    })
      .then(function (response) {
        // 200: already a seeker in this browser; 409: a staff account (the page sends them on).
        if (!response.ok && response.status !== 409) throw new Error(String(response.status));
        window.location.assign(form.dataset.next);
      })
      .catch(function () {
        busy = false;
        if (button) button.disabled = false;
        status.textContent = "That didn't work. Please try again in a moment.";
      });
  });
})();
