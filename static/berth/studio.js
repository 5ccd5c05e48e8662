// The studio editor: a validation error's line number puts the cursor on that line.
(function () {
  "use strict";
  function gotoLine(line) {
    const source = document.getElementById("source");
    if (!source) return;
    const lines = source.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    const end = start + (lines[line - 1] || "").length;
    source.focus();
    source.setSelectionRange(start, end);
    const lineHeight = source.scrollHeight / Math.max(lines.length, 1);
    source.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }
  document.addEventListener("click", (e) => {
    const button = e.target.closest(".goto-line");
    if (button) gotoLine(Number(button.dataset.line));
  });
})();

// A refused save (409: someone saved meanwhile) or publish (422: not valid) explains itself:
// show that answer where a success would go, instead of a generic error.
document.addEventListener("htmx:beforeSwap", (e) => {
  if (e.detail.xhr.status === 409 || e.detail.xhr.status === 422) {
    e.detail.shouldSwap = true;
    e.detail.isError = false;
  }
});
