// The chair-side page's timer since dosing started (its live part is kept current by page.js).
(function () {
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
