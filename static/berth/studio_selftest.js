// "Test this lab": a run's lines stream in over ws/studio/selftests/<id>/ (studio/consumers.py).
// The socket first sends the output so far (a snapshot, its lines counted), then each new line
// numbered, then the final state. A dropped socket reconnects and starts from a new snapshot.
(function () {
  "use strict";

  const FINAL_STATES = ["passed", "failed", "error"];
  const wsOrigin = () => (location.protocol === "https:" ? "wss://" : "ws://") + location.host;

  function showState(el, state) {
    el.dataset.state = state;
    const badge = el.querySelector("[data-role=state]");
    if (badge) {
      badge.textContent = state;
      badge.className = `badge result-${state}`;
    }
  }

  function connect(el) {
    if (el.selfTestSocket || FINAL_STATES.includes(el.dataset.state)) return;
    const output = el.querySelector("[data-role=output]");
    let shown = 0;  // lines on the page
    const sock = new WebSocket(wsOrigin() + el.dataset.wsPath);
    el.selfTestSocket = sock;
    sock.onmessage = (e) => {
      const ev = JSON.parse(e.data);
      if (ev.kind === "snapshot") {
        output.textContent = ev.output;
        shown = ev.lines;
        showState(el, ev.state);
      } else if (ev.kind === "line" && ev.n > shown) {  // older lines came with the snapshot
        output.textContent += ev.line + "\n";
        shown = ev.n;
        output.scrollTop = output.scrollHeight;
      } else if (ev.kind === "state") {
        showState(el, ev.state);
      }
    };
    sock.onclose = () => {
      el.selfTestSocket = null;
      if (!FINAL_STATES.includes(el.dataset.state) && document.body.contains(el)) setTimeout(() => connect(el), 2000);
    };
  }

  function connectAll(root) {
    root.querySelectorAll(".selftest-run[data-ws-path]").forEach(connect);
  }

  // On page load, and for every run htmx swaps in ("Test this lab" answers with one).
  document.addEventListener("DOMContentLoaded", () => connectAll(document));
  document.addEventListener("htmx:load", (e) => connectAll(e.target.parentElement || document));
})();
