// Replays an asciicast v2 recording in xterm.js: output ("o") and resizes ("r") at their times,
// sped up, with long pauses cut to two seconds.
(function () {
  "use strict";
  const MAX_PAUSE = 2;

  async function load(box) {
    const text = await (await fetch(box.dataset.cast)).text();
    const [header, ...lines] = text.split("\n").filter(Boolean);
    return { header: JSON.parse(header), events: lines.map((line) => JSON.parse(line)) };
  }

  function format(seconds) {
    const s = Math.floor(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const box = document.querySelector(".player");
    if (!box) return;
    const cast = await load(box);
    const term = new Terminal({ cols: cast.header.width, rows: cast.header.height, convertEol: false, fontSize: 14 });
    term.open(box.querySelector(".player-screen"));
    const play = box.querySelector(".player-play");
    const clock = box.querySelector(".player-time");
    let index = 0, timer = null, at = 0;

    function step() {
      if (index >= cast.events.length) { play.textContent = "Replay"; timer = null; return; }
      const [time, kind, data] = cast.events[index++];
      if (kind === "o") term.write(data);
      if (kind === "r") { const [cols, rows] = data.split("x").map(Number); term.resize(cols, rows); }
      clock.textContent = format(time);
      const next = cast.events[index];
      const wait = next ? Math.min(MAX_PAUSE, next[0] - time) : 0;
      at = time;
      timer = setTimeout(step, (1000 * wait) / Number(box.querySelector(".player-speed").value));
    }

    play.addEventListener("click", () => {
      if (timer) { clearTimeout(timer); timer = null; play.textContent = "Play"; return; }
      if (index >= cast.events.length) { index = 0; at = 0; term.reset(); }
      play.textContent = "Pause";
      step();
    });
    box.dataset.events = cast.events.length;
    box.dataset.ready = "true";
  });
})();
