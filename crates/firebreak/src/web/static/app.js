// firebreak console: keeps the parts of a page marked data-live="URL" current by fetching that
// HTML fragment every few seconds and swapping it in. Pages work without this script.
(function () {
  "use strict";
  var PERIOD_MS = 2000;
  function refresh(el) {
    var url = el.getAttribute("data-live");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== el.getAttribute("data-last")) {
          el.setAttribute("data-last", html);
          el.innerHTML = html;
        }
      })
      .catch(function () { /* offline for a moment: try again next tick */ });
  }
  function start() {
    var live = document.querySelectorAll("[data-live]");
    live.forEach(function (el) { el.setAttribute("data-last", el.innerHTML); });
    setInterval(function () { live.forEach(refresh); }, PERIOD_MS);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
