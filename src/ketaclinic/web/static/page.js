// Small behaviours every page may use, without inline script (the Content-Security-Policy
// allows scripts from this site only): a select that submits its form when changed, a print
// button, and live parts: an element with data-live and data-stream fetches its content from
// data-live again whenever the server's event stream at data-stream says it changed (no
// reload, so what is typed in the page's forms is kept), at most every data-every seconds.
(function () {
  if (window.EventSource) {
    // Parts watching one stream share one connection to it.
    var streams = {};
    document.querySelectorAll("[data-live][data-stream]").forEach(function (part) {
      var refreshing = false;
      var again = false;
      var refresh = function () {
        // A change told while a fetch is out may have come after the server answered it:
        // fetch once more when this one is in, rather than drop the news.
        if (refreshing) { again = true; return; }
        refreshing = true;
        again = false;
        fetch(part.dataset.live, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html) part.innerHTML = html; })
          .finally(function () { refreshing = false; if (again) refresh(); });
      };
      // A part with data-every (seconds) is fetched at most that often: the changes told
      // meanwhile are all in the one fetch that follows.
      var every = (parseFloat(part.dataset.every) || 0) * 1000;
      var last = 0;
      var planned = null;
      var changed = function () {
        if (!every) { refresh(); return; }
        if (planned) { return; }
        planned = setTimeout(function () {
          planned = null;
          last = Date.now();
          refresh();
        }, Math.max(0, last + every - Date.now()));
      };
      var url = part.dataset.stream;
      streams[url] = streams[url] || new EventSource(url);
      streams[url].addEventListener("changed", changed);
    });
  }
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
