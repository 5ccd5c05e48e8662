// Every page: the theme (the system's, or the one the learner picked), the shortcuts help and
// the shortcuts that work everywhere. Page scripts add theirs with berthShortcuts.add.
(function () {
  "use strict";
  const root = document.documentElement;
  const saved = localStorage.getItem("berth-theme");
  if (saved) root.dataset.theme = saved;  // before the first paint: this script is not deferred

  function toggleTheme() {
    const dark = root.dataset.theme
      ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("berth-theme", root.dataset.theme);
    document.dispatchEvent(new CustomEvent("berth:theme", { detail: root.dataset.theme }));
  }

  function overlay() { return document.querySelector(".help-overlay"); }
  function showHelp(show) {
    const o = overlay();
    if (!o) return;
    o.hidden = !show;
    if (show) o.querySelector(".help-close").focus();
  }

  const altKeys = { d: toggleTheme };  // Alt+key -> action
  window.berthShortcuts = { add(key, action) { altKeys[key] = action; } };

  function typing(target) {
    return target.closest && (target.closest("input, textarea, select, [contenteditable]") || target.closest(".xterm"));
  }

  // Capture phase: the shortcuts work in the terminal too (there, they take these Alt keys from bash).
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && overlay() && !overlay().hidden) { showHelp(false); return; }
    const action = e.altKey && !e.ctrlKey && !e.metaKey && altKeys[shortcutKey(e)];
    if (action) {
      e.preventDefault();
      e.stopPropagation();
      action();
    } else if (e.key === "?" && !typing(e.target)) {
      e.preventDefault();
      showHelp(true);
    }
  }, true);

  // Alt changes e.key on some layouts; the physical key names the shortcut.
  function shortcutKey(e) {
    if (e.code.startsWith("Key")) return e.code.slice(3).toLowerCase();
    return { Equal: "=", Minus: "-" }[e.code] || e.key.toLowerCase();
  }

  // A button whose request failed says so (htmx would otherwise do nothing, silently).
  function requestFailed(e) {
    const status = e.detail.xhr ? e.detail.xhr.status : 0;
    const text = status === 503
      ? "Berth cannot reach its database right now. Your sandbox and files are safe; try again in a moment."
      : status ? `That did not work (the server answered ${status}). Try again.`
        : "Berth could not be reached. Check your connection and try again.";
    let box = document.querySelector(".request-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "notice error request-error";
      box.setAttribute("role", "alert");
      document.querySelector("main").prepend(box);
    }
    box.textContent = text;
  }
  document.addEventListener("htmx:responseError", requestFailed);
  document.addEventListener("htmx:sendError", requestFailed);
  document.addEventListener("htmx:afterRequest", (e) => {
    const box = document.querySelector(".request-error");
    if (box && e.detail.successful) box.remove();
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".theme-switch").forEach((b) => b.addEventListener("click", toggleTheme));
    document.querySelectorAll(".help-open").forEach((b) => b.addEventListener("click", () => showHelp(true)));
    const o = overlay();
    if (o) {
      o.querySelector(".help-close").addEventListener("click", () => showHelp(false));
      o.addEventListener("click", (e) => { if (e.target === o) showHelp(false); });
    }
  });
})();
