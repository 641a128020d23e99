// The response clocks count down in the page between renders: each running clock carries the
// seconds left when it was rendered (by the server's clock) and when it turns amber; the tag
// and the colour change as it passes each.
(function () {
  "use strict";
  var TAGS = {
    due: ["govuk-tag--blue", "Running"],
    amber: ["govuk-tag--yellow", "Due soon"],
    red: ["govuk-tag--red", "Breached"]
  };
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function countdown(seconds) {
    var sign = seconds < 0 ? "-" : "";
    seconds = Math.abs(Math.trunc(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? sign + h + "h " + pad(m) + "m" : sign + m + "m " + pad(s) + "s";
  }
  function stamp(root) {
    var now = Date.now();
    (root.querySelectorAll ? root : document).querySelectorAll("[data-remaining-s]").forEach(function (el) {
      if (!el.dataset.renderedAt) { el.dataset.renderedAt = String(now); }
    });
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-remaining-s]").forEach(function (el) {
      var left = Number(el.dataset.remainingS) - (now - Number(el.dataset.renderedAt || now)) / 1000;
      var state = left < 0 ? "red" : (left <= Number(el.dataset.amberS) ? "amber" : "due");
      var time = el.querySelector(".console-clock__time");
      if (time) { time.textContent = countdown(left); }
      if (el.dataset.state !== state) {
        el.classList.remove("console-clock--" + el.dataset.state);
        el.classList.add("console-clock--" + state);
        el.dataset.state = state;
        var tag = el.querySelector(".console-clock__tag");
        if (tag) { tag.className = "govuk-tag console-clock__tag " + TAGS[state][0]; tag.textContent = TAGS[state][1]; }
      }
    });
  }
  document.addEventListener("htmx:load", function (event) { stamp(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { stamp(document); });
  setInterval(tick, 1000);
})();
