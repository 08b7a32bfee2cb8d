// Small behaviours every page may use, without inline script (the Content-Security-Policy
// allows scripts from this site only): a select that submits its form when changed, and a
// print button.
(function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
