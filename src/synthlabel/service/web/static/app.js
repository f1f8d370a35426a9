// synthlabel web UI: the little JavaScript the pages need (no framework).
// - reveal toggles: media on review pages are blurred, greyscale and muted until revealed;
// - reason presets fill the reason box;
// - forms with data-confirm ask first.
(function () {
  "use strict";
  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  onReady(function () {
    document.querySelectorAll("[data-reveal]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var box = document.getElementById(btn.getAttribute("data-reveal"));
        if (!box) return;
        var shielded = box.classList.toggle("shielded");
        box.querySelectorAll("audio, video").forEach(function (m) {
          m.muted = shielded;
          if (shielded) m.pause();
        });
        btn.textContent = btn.getAttribute(shielded ? "data-label-show" : "data-label-hide");
        btn.setAttribute("aria-pressed", shielded ? "false" : "true");
      });
    });
    document.querySelectorAll("select[data-fill]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        var target = sel.form && sel.form.elements[sel.getAttribute("data-fill")];
        if (target && sel.value) target.value = sel.value;
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });
  });
})();
