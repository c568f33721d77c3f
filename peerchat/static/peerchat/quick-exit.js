// Quick exit: leave at once and keep this site out of the back button's reach.
(function () {
  "use strict";
  function leave(event) {
    if (event) event.preventDefault();
    var target = document.querySelector("[data-quick-exit]");
    var url = target ? target.href : "about:blank";
    // A fresh tab has no history to go back to; this tab is replaced as well, in case the
    // browser refuses to open one.
    window.open(url, "_blank", "noopener");
    window.location.replace(url);
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-quick-exit]")) leave(event);
  });
  // Escape pressed twice quickly also leaves.
  var lastEscape = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var now = Date.now();
    if (now - lastEscape < 600) leave(event);
    lastEscape = now;
  });
})();
