// Quick exit: leave at once and keep this site out of the back button's reach.
(function () {
  "use strict";
  var leaving = false;

  function leave(event) {
    if (event) event.preventDefault();
    var target = document.querySelector("[data-quick-exit]");
    var url = target ? target.href : "about:blank";
    if (!leaving) {
      leaving = true;
      // Nothing of this page stays on screen while the other site loads (a slow network).
      document.documentElement.hidden = true;
      document.title = "";
      // A fresh tab has no history to go back to; this tab is replaced as well, in case the
      // browser refuses to open one.
      window.open(url, "_blank", "noopener");
    }
    window.location.replace(url);
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    if (event.target.closest("[data-quick-exit]")) {
      leave(event);
      return;
    }
    // Links within the page ("Help now", "Skip to content") move without adding a history
    // entry: otherwise Back, after the quick exit replaced this entry, would land on this
    // page again.
    var link = event.target.closest("a[href^='#']");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    var id = decodeURIComponent(link.getAttribute("href").slice(1));
    var destination = id && document.getElementById(id);
    if (!destination) return;
    event.preventDefault();
    window.location.replace("#" + id);
    var focusable = "[tabindex], a[href], button, input, select, textarea";
    if (destination.matches(focusable)) destination.focus({ preventScroll: true });
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
