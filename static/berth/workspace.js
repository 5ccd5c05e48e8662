// The day workspace: start progress and check output over the session's events socket (htmx's
// ws extension, connected by the panel), and an xterm.js terminal over its own socket
// (protocol: terminals/protocol.py).
(function () {
  "use strict";

  const wsOrigin = () => (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  const FINAL_STATES = ["ready", "failed", "ended"];
  let terminal = null;  // {el, term, fit, sock, node, closed, exited, retry}
  const runLines = {};  // check run id -> lines streamed so far

  function panel() { return document.getElementById("lab-panel"); }

  function refreshPanel() {
    const p = panel();
    if (p && p.dataset.panelUrl) htmx.ajax("GET", p.dataset.panelUrl, { target: "#lab-panel", swap: "outerHTML" });
  }

  // --- session events ---------------------------------------------------------------------
  // The server sends JSON events, not HTML: each is handled here instead of swapped. The
  // extension reconnects after a drop; retry soon (as the terminal does), not after up to a minute.
  htmx.config.wsReconnectDelay = (retry) => Math.min(5000, 250 * 2 ** retry);
  document.addEventListener("htmx:wsBeforeMessage", (e) => {
    if (e.target.id !== "lab-panel") return;
    e.preventDefault();
    handleEvent(JSON.parse(e.detail.message));
  });

  function handleEvent(ev) {
    const p = panel();
    if (!p) return;
    if (ev.kind === "progress") {
      const bar = p.querySelector(".starting .bar");
      if (bar) bar.style.width = `${ev.progress}%`;
      const meter = p.querySelector(".starting .progress");
      if (meter) meter.setAttribute("aria-valuenow", ev.progress);
      const text = p.querySelector(".start-message");
      if (text) text.textContent = `${ev.message}…`;
      if (ev.state !== p.dataset.state && FINAL_STATES.includes(ev.state)) refreshPanel();
    } else if (ev.kind === "watch") {
      let banner = p.querySelector(".watch-banner");
      if (ev.watching && !banner) {
        banner = document.createElement("p");
        banner.className = "notice warning watch-banner";
        banner.setAttribute("role", "status");
        banner.textContent = "An administrator is watching your terminal (read-only).";
        p.querySelector(".lab-head").after(banner);
      } else if (!ev.watching && banner) {
        banner.remove();
      }
    } else if (ev.kind === "expires") {
      const timer = document.querySelector(".timer[data-expires]");
      if (timer) { timer.dataset.expires = ev.expires_at; startTimer(); }
    } else if (ev.kind === "check.output") {
      (runLines[ev.run] = runLines[ev.run] || []).push(ev.line);
      const out = outputFor(ev.step, ev.run);
      if (out) out.textContent += ev.line + "\n";
    } else if (ev.kind === "check.result") {
      htmx.trigger(`#step-${ev.step}`, "check-result");  // the step fetches itself again (step.html)
    }
  }

  function outputFor(position, run) {
    const result = document.querySelector(`#step-${position} .check-result[data-run="${run}"]`);
    return result ? result.querySelector("pre") : null;
  }

  // A step re-rendered while its check runs gets the lines already streamed.
  function refillRunningChecks(root) {
    root.querySelectorAll(".check-result[data-state='running']").forEach((result) => {
      const lines = runLines[result.dataset.run];
      if (lines) result.querySelector("pre").textContent = lines.join("\n") + "\n";
    });
  }

  // --- terminal ---------------------------------------------------------------------------
  function openTerminal(el, node) {
    closeTerminal();
    const term = new Terminal({
      cursorBlink: true, fontSize: fontSize(), scrollback: 5000,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace",
    });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    const state = { el, term, fit, sock: null, node: node || el.dataset.node, closed: false, exited: false, retry: 0 };
    terminal = state;
    term.onData((data) => {
      if (state.exited) { state.exited = false; if (state.sock) state.sock.close(); return; }
      send(state, ["stdin", data]);
    });
    term.onResize(({ rows, cols }) => send(state, ["set_size", rows, cols]));
    term.attachCustomKeyEventHandler((e) => clipboardKeys(e, state));
    state.observer = new ResizeObserver(() => { try { fit.fit(); } catch (e) { /* hidden */ } });
    state.observer.observe(el);
    connect(state);
    term.focus();
  }

  // Ctrl+Shift+C copies the selection; Ctrl+Shift+V is left to the browser's own paste, which
  // xterm.js receives (bracketed, so a pasted line waits for Enter). Plain Ctrl+C stays ^C.
  function clipboardKeys(e, state) {
    if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
    if (e.code === "KeyC" && state.term.hasSelection() && navigator.clipboard) {
      navigator.clipboard.writeText(state.term.getSelection());
      return false;
    }
    return e.code !== "KeyV";
  }

  function fontSize() { return Number(localStorage.getItem("berth-font-size")) || 14; }
  function changeFontSize(step) {
    const size = Math.min(28, Math.max(9, fontSize() + step));
    localStorage.setItem("berth-font-size", size);
    if (terminal) { terminal.term.options.fontSize = size; terminal.fit.fit(); }
  }

  // Keys typed while the socket (re)connects wait for it, rather than being lost.
  function send(state, message) {
    if (state.sock && state.sock.readyState === WebSocket.OPEN) state.sock.send(JSON.stringify(message));
    else if (message[0] === "stdin") (state.waiting = state.waiting || []).push(message);
  }

  function setStatus(text) {
    const s = document.querySelector(".terminal-status");
    if (s) s.textContent = text;
  }

  function connect(state) {
    const { term } = state;
    const url = `${wsOrigin()}${state.el.dataset.wsPath}${state.node}/?rows=${term.rows}&cols=${term.cols}`;
    const sock = new WebSocket(url);
    sock.binaryType = "arraybuffer";
    state.sock = sock;
    sock.onopen = () => {
      state.retry = 0; setStatus(""); term.reset();  // the relay replays the scrollback
      for (const message of (state.waiting || []).splice(0)) sock.send(JSON.stringify(message));
    };
    sock.onmessage = (e) => {
      if (typeof e.data === "string") {
        const [kind, reason] = JSON.parse(e.data);
        if (kind === "exit") {
          term.write(`\r\n\x1b[2m[${reason}: press any key for a new shell]\x1b[0m\r\n`);
          state.exited = true;
        }
      } else {
        term.write(new Uint8Array(e.data));
      }
    };
    sock.onclose = (e) => {
      if (state.closed || state.sock !== sock) return;
      if (e.code === 4403) { setStatus("This sandbox is no longer available."); refreshPanel(); return; }
      setStatus("Reconnecting…");
      setTimeout(() => { if (!state.closed) connect(state); }, Math.min(5000, 250 * 2 ** state.retry++));
    };
  }

  function closeTerminal() {
    if (!terminal) return;
    terminal.closed = true;
    if (terminal.observer) terminal.observer.disconnect();
    if (terminal.sock) terminal.sock.close();
    terminal.term.dispose();
    terminal = null;
  }

  function bindTabs(p) {
    p.querySelectorAll(".terminal-tabs .tab").forEach((tab) => {
      tab.addEventListener("click", () => {
        p.querySelectorAll(".terminal-tabs .tab").forEach((t) => {
          t.classList.toggle("active", t === tab);
          t.setAttribute("aria-selected", t === tab ? "true" : "false");
        });
        const el = document.getElementById("terminal");
        el.innerHTML = "";
        openTerminal(el, tab.dataset.node);
      });
    });
  }

  // --- live architecture view: the learner's own engine, redrawn when it changes ------------
  // It sits at the foot of the lesson, beside the lesson's own diagrams, while a Docker-day
  // sandbox (or a Kubernetes-day cluster) is ready: the panel's #architecture-poll asks every second (htmx) with the hash
  // drawn last, and the server answers 204 until something changed.
  let archPoller = null, archHash = "", archNode = null, archBusy = false, archCount = 0;

  function terminalNode() {
    if (terminal) return terminal.node;
    const el = document.getElementById("terminal");
    return el ? el.dataset.node : "";
  }

  document.addEventListener("htmx:configRequest", (e) => {
    if (e.detail.elt.id !== "architecture-poll") return;
    const box = document.querySelector("details.architecture");
    if (archBusy || !box || !box.open || document.visibilityState !== "visible") { e.preventDefault(); return; }
    const node = terminalNode();
    if (e.detail.elt !== archPoller || node !== archNode) { archPoller = e.detail.elt; archNode = node; archHash = ""; }
    e.detail.parameters.node = node;
    e.detail.parameters.since = archHash;
  });

  document.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.elt.id !== "architecture-poll") return;
    e.detail.shouldSwap = false;  // JSON, drawn here; 202 (still reading) leaves the box as it is
    if (e.detail.xhr.status === 200) drawArchitecture(JSON.parse(e.detail.xhr.responseText));
  });

  async function drawArchitecture(snap) {
    const box = document.querySelector("details.architecture");
    archBusy = true;
    try {
      const { svg } = await mermaid.render(`arch-svg-${archCount++}`, snap.diagram);
      box.querySelector(".arch-diagram").innerHTML = svg;
      archHash = snap.hash;
      showTarget(box, snap.problems);
      box.querySelector(".arch-meta").textContent =
        `${snap.summary} · ${new Date(snap.taken_at * 1000).toLocaleTimeString()}`;
    } finally { archBusy = false; }
  }

  // Where the lab declares a target architecture: what is still missing, in words.
  function showTarget(box, problems) {
    let list = box.querySelector(".arch-target");
    if (problems === null || problems === undefined) { if (list) list.remove(); return; }
    if (!list) {
      list = document.createElement("ul");
      list.className = "arch-target";
      box.append(list);
    }
    list.replaceChildren(...(problems.length ? problems : ["✓ Your system matches the lab's target architecture."]).map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      item.className = text.startsWith("✓") ? "ok" : "missing";
      return item;
    }));
  }

  // --- timer ------------------------------------------------------------------------------
  let timerHandle = null;
  function startTimer() {
    clearInterval(timerHandle);
    const el = document.querySelector(".timer[data-expires]");
    if (!el) return;
    const expires = new Date(el.dataset.expires).getTime();
    const tick = () => {
      const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      const m = Math.floor(left / 60), s = left % 60;
      el.textContent = `${m}:${String(s).padStart(2, "0")} left`;
      el.classList.toggle("warning", left < 300);
      endingSoon(left > 0 && left < 300);
    };
    tick();
    timerHandle = setInterval(tick, 1000);
  }

  // Five minutes before the end: say so once, with Extend and Download one click away.
  function endingSoon(soon) {
    const p = panel();
    const banner = p && p.querySelector(".ending-soon");
    if (!soon) { if (banner) banner.remove(); return; }
    if (!p || banner) return;
    const note = document.createElement("p");
    note.className = "notice warning ending-soon";
    note.setAttribute("role", "alert");
    note.append("Your sandbox ends in less than 5 minutes. Working in the terminal adds time automatically (up to the limit); ");
    note.append(actionButton("Extend now", "Add time", () => clickIn("#session-timer button")), " ");
    note.append(actionButton("Download my work", "Your files as a .tar.gz", () => clickIn(".download-form button")));
    p.querySelector(".lab-head").after(note);
  }

  function clickIn(selector) {
    const button = document.querySelector(selector);
    if (button) button.click();
  }

  // --- code blocks: copy, and run in the terminal for blocks marked runnable ----------------
  function addCodeActions(root) {
    root.querySelectorAll(".prose pre").forEach((pre) => {
      const code = pre.querySelector("code");
      if (!code || pre.querySelector(".code-actions")) return;
      const bar = document.createElement("div");
      bar.className = "code-actions";
      const copy = actionButton("Copy", "Copy to the clipboard", () => copyText(code.textContent.trim(), copy));
      bar.append(copy);
      if (pre.classList.contains("run")) {
        bar.append(actionButton("Run ▶", "Type this into the terminal", () => runInTerminal(code.textContent)));
      }
      pre.prepend(bar);
    });
  }

  function actionButton(label, title, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = label;
    b.title = title;
    b.addEventListener("click", onClick);
    return b;
  }

  function copyText(text, button) {
    const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
      return;
    }
    const area = document.createElement("textarea");  // plain-http fallback
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }

  function runInTerminal(text) {
    if (!terminal || !terminal.sock || terminal.sock.readyState !== WebSocket.OPEN) {
      alert("Start the lab first: the command runs in your sandbox's terminal.");
      return;
    }
    for (const line of text.replace(/\n+$/, "").split("\n")) send(terminal, ["stdin", line + "\r"]);
    terminal.term.focus();
  }

  // --- wiring -----------------------------------------------------------------------------
  function initPanel() {
    const p = panel();
    if (p) addCodeActions(p);
    const box = document.querySelector("details.architecture");
    if (box) box.hidden = !document.getElementById("architecture-poll");
    if (!p || !p.dataset.sessionId || FINAL_STATES.slice(1).includes(p.dataset.state)) {
      closeTerminal();
      return;
    }
    const el = document.getElementById("terminal");
    if (el && (!terminal || terminal.el !== el)) { openTerminal(el); bindTabs(p); }
    if (!el) closeTerminal();
    startTimer();
    refillRunningChecks(p);
  }

  function renderDiagrams() {
    if (!window.mermaid) return;
    document.querySelectorAll("pre > code.language-mermaid").forEach((code) => {
      const div = document.createElement("div");
      div.className = "mermaid";
      div.textContent = code.textContent;
      code.parentElement.replaceWith(div);
    });
    mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
    mermaid.run({ querySelector: ".mermaid" });
  }

  // --- the divider between lesson and lab: drag it, or use the arrow keys on it -------------
  function bindDivider() {
    const divider = document.querySelector(".divider");
    const grid = document.querySelector(".workspace");
    if (!divider || !grid) return;
    const set = (px) => {
      const width = Math.round(Math.min(grid.clientWidth - 360, Math.max(280, px)));
      grid.style.setProperty("--lesson-width", `${width}px`);
      divider.setAttribute("aria-valuenow", Math.round((100 * width) / grid.clientWidth));
      localStorage.setItem("berth-lesson-width", width);
    };
    const saved = Number(localStorage.getItem("berth-lesson-width"));
    if (saved) set(saved);
    divider.addEventListener("pointerdown", (e) => {
      divider.setPointerCapture(e.pointerId);
      const move = (ev) => set(ev.clientX - grid.getBoundingClientRect().left);
      divider.addEventListener("pointermove", move);
      divider.addEventListener("pointerup", () => divider.removeEventListener("pointermove", move), { once: true });
    });
    divider.addEventListener("keydown", (e) => {
      const step = { ArrowLeft: -40, ArrowRight: 40 }[e.key];
      if (!step) return;
      e.preventDefault();
      set(document.querySelector(".lesson").getBoundingClientRect().width + step);
    });
  }

  function firstOpenCheck() {
    const button = document.querySelector(".steps li:not(.passed) .check-button");
    if (button) button.click();
  }

  function go(rel) {
    const link = document.querySelector(`.day-nav a[rel='${rel}']`);
    if (link) location.href = link.href;
  }

  if (window.berthShortcuts) {
    berthShortcuts.add("t", () => { if (terminal) terminal.term.focus(); });
    berthShortcuts.add("k", firstOpenCheck);
    berthShortcuts.add("n", () => go("next"));
    berthShortcuts.add("p", () => go("prev"));
    berthShortcuts.add("=", () => changeFontSize(1));
    berthShortcuts.add("-", () => changeFontSize(-1));
  }

  document.addEventListener("DOMContentLoaded", () => {
    renderDiagrams(); addCodeActions(document); bindDivider(); bindFontButtons(); initPanel();
  });

  function bindFontButtons() {
    document.addEventListener("click", (e) => {
      const button = e.target.closest && e.target.closest("[data-font-step]");
      if (button) changeFontSize(Number(button.dataset.fontStep));
    });
  }
  // initPanel is idempotent: it reopens the terminal only when the panel (and so its element) changed.
  document.addEventListener("htmx:afterSettle", initPanel);
  window.berth = { get terminal() { return terminal; } };
})();
