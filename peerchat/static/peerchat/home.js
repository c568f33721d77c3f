// Start as a seeker: create the pseudonymous account, then go to the conversations page.
(function () {
  "use strict";
  var form = document.getElementById("start-form");
  if (!form) return;
  var status = document.getElementById("start-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    status.textContent = "Getting things ready…";
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
    })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        window.location.assign("/chat/");
      })
      .catch(function () {
        status.textContent = "That didn't work. Please try again in a moment.";
      });
  });
})();
