// Keeps the chair-side page current: the server says when something changed, the page fetches
// the live part again (no reload, so typed values in the forms are kept). Also runs the timer.
(function () {
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var refreshing = false;
    var refresh = function () {
      if (refreshing) return;
      refreshing = true;
      fetch(live.dataset.live, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html) live.innerHTML = html; })
        .finally(function () { refreshing = false; });
    };
    var stream = new EventSource(live.dataset.stream);
    stream.addEventListener("changed", refresh);
  }
  var timer = document.getElementById("timer");
  if (timer) {
    var since = new Date(timer.dataset.since);
    // Time by the server's clock, not the tablet's (which may be minutes off).
    var skew = timer.dataset.now ? new Date(timer.dataset.now).getTime() - Date.now() : 0;
    var tick = function () {
      var seconds = Math.max(0, Math.floor((Date.now() + skew - since.getTime()) / 1000));
      var minutes = Math.floor(seconds / 60);
      timer.textContent = minutes + " min " + (seconds % 60) + " s since dosing started";
    };
    tick();
    setInterval(tick, 1000);
  }
})();
