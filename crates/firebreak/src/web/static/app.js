// firebreak console: keeps the parts of a page marked data-live="URL" current by fetching that
// HTML fragment every few seconds and swapping it in when it changed. Pages work without this
// script. A swap keeps keyboard focus on the same control; an ended session goes to sign-in.
(function () {
  "use strict";
  var PERIOD_MS = 2000;

  // How the browser itself serialises some HTML, to compare like with like.
  function normalised(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.innerHTML;
  }

  // A selector that finds "the same" control after a swap.
  function keyOf(node) {
    if (!node || !node.getAttribute) { return null; }
    var testid = node.getAttribute("data-testid");
    if (testid) { return "[data-testid=\"" + testid + "\"]"; }
    if (node.id) { return "#" + node.id; }
    return null;
  }

  function refresh(el) {
    var url = el.getAttribute("data-live");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401) {
          window.location.href = "/signin?next=" + encodeURIComponent(window.location.pathname + window.location.search);
          return null;
        }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = normalised(html);
        if (fresh === el.innerHTML) { return; }
        var active = document.activeElement;
        var key = el.contains(active) ? keyOf(active) : null;
        el.innerHTML = fresh;
        if (key) {
          var again = el.querySelector(key);
          if (again && again.focus) { again.focus(); }
        }
      })
      .catch(function () { /* offline for a moment: try again next tick */ });
  }

  function start() {
    var live = document.querySelectorAll("[data-live]");
    if (live.length === 0) { return; }
    setInterval(function () { live.forEach(refresh); }, PERIOD_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
