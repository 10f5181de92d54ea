// The dps console's enhancements. Every form works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A form with data-confirm asks before it is sent.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
  // A checkbox with data-selects ticks every checkbox of that name in its form.
  for (const all of document.querySelectorAll("input[data-selects]")) {
    const boxes = () =>
      all.form
        ? all.form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selects}"]`)
        : [];
    all.addEventListener("change", () => {
      for (const box of boxes()) {
        box.checked = all.checked;
      }
    });
  }
});
