// The console's read-only view of a learner's terminal (terminals/consumers.py: WatchConsumer).
(function () {
  "use strict";
  let current = null;

  function watch(el, node) {
    if (current) { current.closed = true; current.sock.close(); current.term.dispose(); }
    el.innerHTML = "";
    const term = new Terminal({ disableStdin: true, cursorBlink: false, fontSize: 14, scrollback: 5000 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const sock = new WebSocket(`${scheme}${location.host}${el.dataset.wsPath}${node}/`);
    sock.binaryType = "arraybuffer";
    const state = { term, sock, closed: false };
    current = state;
    const status = document.querySelector(".terminal-status");
    sock.onopen = () => { status.textContent = "watching"; };
    sock.onmessage = (e) => { if (typeof e.data !== "string") term.write(new Uint8Array(e.data)); };
    sock.onclose = () => { if (!state.closed) status.textContent = "the session has ended or cannot be watched"; };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const el = document.getElementById("watch-terminal");
    if (!el) return;
    watch(el, el.dataset.node);
    document.querySelectorAll(".terminal-tabs .tab").forEach((tab) => tab.addEventListener("click", () => {
      document.querySelectorAll(".terminal-tabs .tab").forEach((t) => t.classList.toggle("active", t === tab));
      watch(el, tab.dataset.node);
    }));
  });
})();
