// Refreshes the live part of the status page every few seconds without reloading the page:
// fetches /fragment (same origin, same query string) and swaps it in. Without JavaScript the
// page reloads itself instead (the <noscript> refresh in its head).
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh"), 10) || 5;
  var live = document.getElementById("live");
  var state = document.getElementById("refresh-state");
  function tick() {
    fetch("fragment" + window.location.search, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        state.textContent = "· updated " + new Date().toLocaleTimeString();
      })
      .catch(function (err) {
        state.textContent = "· refresh failed (" + err.message + "), retrying";
      })
      .finally(function () { window.setTimeout(tick, seconds * 1000); });
  }
  window.setTimeout(tick, seconds * 1000);
}());
