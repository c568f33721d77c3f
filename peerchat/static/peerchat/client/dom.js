// Peerchat.dom: the few DOM helpers every page script shares. Text only ever goes in through
// textContent (message bodies and names are never HTML).
(function () {
  "use strict";

  const Peerchat = (window.Peerchat = window.Peerchat || {});

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(text, className) {
    const node = element("button", className || "button", text);
    node.type = "button";
    return node;
  }

  // Set a line's text, hiding the line while it has none.
  function showText(node, text) {
    const value = text || "";
    if (node.textContent !== value) node.textContent = value;
    node.hidden = !value;
  }

  // Announce in a live region: a fresh text after a pause, so the same words are said again.
  function say(region, text) {
    region.textContent = "";
    window.setTimeout(() => {
      region.textContent = text;
    }, 60);
  }

  // Ids for elements a page builds (labels, aria-describedby), unique within the page.
  function idMaker(prefix) {
    let count = 0;
    return (name) => {
      count += 1;
      return prefix + "-" + name + "-" + count;
    };
  }

  // "3 messages", "1 message".
  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // A date format in the service's time zone (the page's data-time-zone), or the browser's
  // own when that zone is unknown to it. Staff pages show every time this way.
  function timeFormat(timeZone, options) {
    try {
      return new Intl.DateTimeFormat(undefined, { ...options, timeZone });
    } catch (error) {
      return new Intl.DateTimeFormat(undefined, options);
    }
  }

  // The deployment's crisis resources as base.html lists them at the foot of every page
  // ({ name, detail, href }), for scripts that show them again closer to hand.
  function pageResources() {
    return Array.from(document.querySelectorAll(".crisis-list a"), (link) => {
      const name = link.querySelector(".crisis-name");
      const detail = link.querySelector(".crisis-detail");
      return {
        name: name ? name.textContent.trim() : link.textContent.trim(),
        detail: detail ? detail.textContent.replace(/^\s*:\s*/, "").trim() : "",
        href: link.getAttribute("href") || "",
      };
    }).filter((resource) => resource.name);
  }

  Peerchat.dom = { element, button, showText, say, idMaker, plural, timeFormat, pageResources };
})();
