// Small behaviours every page may use, without inline script (the Content-Security-Policy
// allows scripts from this site only): a select that submits its form when changed, a print
// button, and live parts: an element with data-live and data-stream fetches its content from
// data-live again whenever the server's event stream at data-stream says it changed (no
// reload, so what is typed in the page's forms is kept).
(function () {
  if (window.EventSource) {
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
      new EventSource(part.dataset.stream).addEventListener("changed", refresh);
    });
  }
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
