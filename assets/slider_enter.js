/* Enter in a slider's number box applies the typed value. dcc.Slider (Dash 4) commits that box only on
   blur; a blur and refocus commits it and leaves the caret where the user is typing. */
(function () {
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key !== "Enter" || !t || t.tagName !== "INPUT" || !t.closest || !t.closest(".dash-slider-container, .pp-slider")) {
      return;
    }
    t.blur();
    t.focus();
  }, true);
})();
