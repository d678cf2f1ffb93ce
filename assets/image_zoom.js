/* Click (or Enter/Space) on an image preview shows it as large as the window; a click or Escape closes it. */
(function () {
  function toggle(box) { if (box) { box.classList.toggle("zoomed"); } }
  document.addEventListener("click", function (e) {
    toggle(e.target && e.target.closest ? e.target.closest(".img-zoom") : null);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      document.querySelectorAll(".img-zoom.zoomed").forEach(function (b) { b.classList.remove("zoomed"); });
    } else if ((e.key === "Enter" || e.key === " ") && e.target && e.target.classList &&
               e.target.classList.contains("img-zoom")) {
      e.preventDefault();
      toggle(e.target);
    }
  });
})();
