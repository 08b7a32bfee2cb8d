// Picking a common code fills in system, code and description; typing by hand still works.
document.querySelectorAll("select.code-picker").forEach(function (picker) {
  picker.addEventListener("change", function () {
    var option = picker.selectedOptions[0];
    var form = picker.form;
    if (!option || !option.dataset.code) return;
    form.querySelector("[name=system]").value = option.dataset.system;
    form.querySelector("[name=code]").value = option.dataset.code;
    form.querySelector("[name=display]").value = option.dataset.display;
  });
});
