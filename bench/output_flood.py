#!/usr/bin/env python
"""Output flood: a learner's terminal prints as fast as it can (`yes`, `cat` of a 50 MB file,
`seq`) while their browser reads the terminal websocket slowly or not at all. Every 0.5 s the
web (uvicorn) process's and the relay's RSS and CPU, and Redis's used memory, are sampled;
meanwhile a second learner (another sandbox, a separate client process) types a key every
~250 ms and times each echo, on the SAME web process as the flooded terminal, and a third one
does the same through a SECOND web process (same relay, same Redis): if only the first suffers,
the web process's shared channel-layer inbox is what couples them, not CPU or the relay.

Phases (full / quick seconds):
  idle                  nothing runs (the baseline of every figure)
  yes, not reading      `yes`; the flooded client reads nothing (20 / 4)
  yes, slow reader      it reads one frame every 100 ms (15 / 3)
  Ctrl-C                it reads at full speed; time from Ctrl-C to the prompt
  cat 50 MB, reading    `cat` of 50 MB of base64 at full reading speed: time and throughput
  cat 50 MB, stalled    the same with the reader stalled (15 / 3), then reading: does it finish?
  seq, slow reader      `seq 1 N` read one frame every 20 ms: are the numbers contiguous (no lost
                        output)?
Baselines in the same run: the idle phase, and `cat` of the same file through a direct
`docker exec -it` TTY (docker SDK) read at full speed.
Promise: flow control: memory bounded (no growth without bound), the page stays responsive
(Ctrl-C reaches the shell), other learners' echo stays within the promise (p99 <= 15 ms).
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time

import common

BIG = "/tmp/big"


def typist_main(argv):
    """The second learner, in a process of its own: type until `until` (epoch s), print each key."""
    p = argparse.ArgumentParser()
    p.add_argument("--typist", type=int)
    p.add_argument("--ws")
    p.add_argument("--cookie")
    p.add_argument("--origin")
    p.add_argument("--until", type=float)
    a = p.parse_args(argv)

    async def run():
        import random

        from websockets.asyncio.client import connect

        ws = await connect(
            f"{a.ws}/ws/sessions/{a.typist}/terminal/node1/?rows=24&cols=80",
            additional_headers={"Cookie": a.cookie, "Origin": a.origin},
        )
        buf = b""
        while b"# " not in buf:
            m = await asyncio.wait_for(ws.recv(), 60)
            if isinstance(m, bytes):
                buf += m
        print(json.dumps({"ready": True}), flush=True)
        i = 0
        while time.time() < a.until:
            key, echo = (("x", b"x"), ("\x7f", b"\x08"))[i % 2]
            t0 = time.perf_counter()
            when = time.time()
            await ws.send(json.dumps(["stdin", key]))
            got = b""
            took = None
            try:
                while echo not in got:
                    m = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(m, bytes):
                        got += m
                took = time.perf_counter() - t0
            except TimeoutError:
                await ws.send(json.dumps(["stdin", "\x15"]))
            except Exception:  # noqa: BLE001 - the stack is going away
                return
            print(json.dumps([when, took]), flush=True)
            i += 1
            await asyncio.sleep(random.uniform(0.15, 0.35))
        await ws.close()

    asyncio.run(run())


def main():
    opts = common.args(__doc__.splitlines()[0])
    q = opts.quick
    dur = {
        "idle": 2 if q else 5,
        "yes_stalled": 4 if q else 20,
        "yes_slow": 3 if q else 15,
        "cat_stalled": 3 if q else 15,
    }
    seq_n = 200_000 if q else 2_000_000
    report = common.Report("output_flood", "Output flood: flow control", q)
    env = common.setup("output_flood")

    from django.contrib.auth.models import User

    be = common.backend()
    stack = common.Stack("flood", env).start()
    browser = common.Browser(stack)
    user = User.objects.get(username="bench")
    phases: list[tuple[str, float, float]] = []  # name, start, end (epoch seconds)
    facts = {}
    typists = {}
    sampler = None
    try:
        sessions = common.make_ready_sessions(user, common.lab(common.STANDARD_DAY), 3, threads=3)
        flood_session, typing_session, other_session = sessions
        web2 = stack.add_web()
        flood_cid = flood_session.sandboxes.get().container_id
        made = be.exec(
            flood_cid, f"head -c 37500000 /dev/urandom | base64 -w 100 > {BIG} && wc -c < {BIG}", timeout=120
        )
        big_bytes = int(made.output.strip().splitlines()[-1])
        facts["big_file_bytes"] = big_bytes

        web, relay, rpid = stack.pid("web"), stack.pid("relay"), common.redis_pid()
        probes = {
            "web_rss": lambda: common.rss(web),
            "relay_rss": lambda: common.rss(relay),
            "redis_mem": common.redis_used_memory,
            "web_cpu": lambda: common.cpu_seconds(web),
            "relay_cpu": lambda: common.cpu_seconds(relay),
        }
        if rpid:
            probes["redis_cpu"] = lambda: common.cpu_seconds(rpid)
        sampler = common.Sampler({**probes, "wall": time.time}, every=0.5)
        sampler.start()

        total = sum(dur.values()) + 240
        typists = {
            name: subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--typist",
                    str(sess.pk),
                    "--ws",
                    url,
                    "--cookie",
                    browser.cookie_header,
                    "--origin",
                    browser.origin,
                    "--until",
                    str(time.time() + total),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for name, sess, url in (("same", typing_session, stack.ws), ("other", other_session, web2))
        }
        for name, proc in typists.items():
            if json.loads(proc.stdout.readline()).get("ready") is not True:
                raise RuntimeError(f"the typist ({name} web process) did not start")

        facts.update(asyncio.run(flood(browser, flood_session.pk, dur, seq_n, big_bytes, phases)))
        facts["direct_cat"] = direct_cat(be, flood_cid, big_bytes)
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
        print(stack.logs(), flush=True)
    finally:
        if sampler:
            sampler.stop()
        all_keys = {}
        for name, proc in typists.items():
            proc.terminate()
            out, _ = proc.communicate(timeout=15)
            all_keys[name] = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
        keys = all_keys.get("same", [])
        other_keys = all_keys.get("other", [])
        relay_log = stack.log_path("relay").read_text(errors="replace") if stack.processes else ""
        alive = stack.alive()
        stack.stop()
        common.cleanup_all()
    if not all(alive.values()):
        report.fail(f"a stack process died during the flood: {alive}")
    facts["relay_dropped_viewers"] = relay_log.count("dropping a viewer")

    # --- figures per phase ---------------------------------------------------------------------
    samples = sampler.samples if sampler else []
    per_phase = {}
    base = {}
    for name, start, end in phases:
        rows = [s for s in samples if s.get("wall") and start <= s["wall"] <= end]
        lat = [k[1] for k in keys if start <= k[0] <= end and k[1] is not None]
        lost = sum(1 for k in keys if start <= k[0] <= end and k[1] is None)
        entry = {"seconds": round(end - start, 1), "keys": len(lat), "keys_without_echo": lost}
        if lat:
            st = common.summary(lat)
            entry.update(echo_p50=st["p50"], echo_p99=st["p99"], echo_max=st["max"])
        other = [k[1] for k in other_keys if start <= k[0] <= end and k[1] is not None]
        if other:
            st = common.summary(other)
            entry.update(echo_web2_p50=st["p50"], echo_web2_p99=st["p99"])
        for probe in ("web_rss", "relay_rss", "redis_mem"):
            xs = [r[probe] for r in rows if r.get(probe) is not None]
            if xs:
                entry[f"{probe}_max"] = max(xs)
                if name == "idle":
                    base[probe] = sorted(xs)[len(xs) // 2]
        for probe in ("web_cpu", "relay_cpu", "redis_cpu"):
            xs = [r[probe] for r in rows if r.get(probe) is not None]
            if len(rows) >= 2 and xs:
                entry[f"{probe}_cores"] = round((xs[-1] - xs[0]) / max(0.1, rows[-1]["wall"] - rows[0]["wall"]), 2)
        per_phase[name] = entry
    report.details["phases"] = per_phase
    report.details["facts"] = facts
    all_rows = samples
    growth = {}
    for probe in ("web_rss", "relay_rss", "redis_mem"):
        xs = [r[probe] for r in all_rows if r.get(probe) is not None]
        if xs and probe in base:
            growth[probe] = max(xs) - base[probe]
    report.details["max_growth"] = growth
    for name, e in per_phase.items():
        print(
            f"  {name}: " + ", ".join(f"{k} {show(k, v)}" for k, v in e.items()),
            flush=True,
        )

    if failed_early := (not per_phase):
        report.save()
        return 1
    idle = per_phase.get("idle", {})
    flood_lat = [k[1] for k in keys for name, s, e in phases if name != "idle" and s <= k[0] <= e and k[1]]
    flood_lost = sum(1 for k in keys for name, s, e in phases if name != "idle" and s <= k[0] <= e and not k[1])
    fl = common.summary(flood_lat)
    if fl.get("n"):
        report.row(
            f"other learner's echo during the floods (n={fl['n']} keys)",
            f"p50 {common.ms(fl['p50'])}, p99 {common.ms(fl['p99'])}, max {common.ms(fl['max'])}"
            + (f"; {flood_lost} keys never echoed" if flood_lost else ""),
            f"same typist, no flood: p50 {common.ms(idle.get('echo_p50', float('nan')))}, "
            f"p99 {common.ms(idle.get('echo_p99', float('nan')))}",
            common.ratio(fl["p99"], idle.get("echo_p99", 0)) + " (p99)",
            "p99 <= 15 ms (echo promise)",
            common.verdict(fl["p99"] <= 0.015 and not flood_lost),
        )
    report.row(
        "max memory growth over idle during the floods",
        ", ".join(f"{k.replace('_', ' ')} +{common.mib(v)}" for k, v in growth.items()),
        "idle: " + ", ".join(f"{k.replace('_', ' ')} {common.mib(v)}" for k, v in base.items()),
        "",
        "bounded",
        "bounded" if growth and max(growth.values()) < 256 * 2**20 else "GREW",
    )
    other_flood = [k[1] for k in other_keys for name, s, e in phases if name != "idle" and s <= k[0] <= e and k[1]]
    ot = common.summary(other_flood)
    if ot.get("n"):
        report.row(
            f"control: a typist on a SECOND web process during the same floods (n={ot['n']} keys)",
            f"p50 {common.ms(ot['p50'])}, p99 {common.ms(ot['p99'])}, max {common.ms(ot['max'])}",
            "",
            "",
            "p99 <= 15 ms (echo promise)",
            common.verdict(ot["p99"] <= 0.015),
        )
    if "ctrl_c_seconds" in facts:
        report.row(
            "Ctrl-C after the flood -> prompt seen by the flooded client (reading at full speed)",
            (
                f"{facts['ctrl_c_seconds']:.2f} s, {common.mib(facts['ctrl_c_backlog_bytes'])} of queued output "
                "drained first"
            )
            if facts["ctrl_c_seconds"] is not None
            else "never (no prompt within 60 s)",
            "",
            "",
            "page stays responsive",
            "responsive" if facts["ctrl_c_seconds"] is not None and facts["ctrl_c_seconds"] <= 2 else "NOT responsive",
        )
        report.note(
            "the websocket client negotiates permessage-deflate as browsers do: `yes` output compresses "
            "~1000x on the wire, so a backlog of tens of MiB drains in a fraction of a second here; "
            "xterm.js in a browser must still parse all of it"
        )
    if "cat_fast_seconds" in facts and facts.get("direct_cat"):
        d = facts["direct_cat"]
        report.row(
            f"cat {common.mib(facts['big_file_bytes'])} to a reader at full speed",
            f"{facts['cat_fast_seconds']:.1f} s ({common.mib(facts['big_file_bytes'] / facts['cat_fast_seconds'])}/s)",
            f"direct docker exec TTY: {d['seconds']:.1f} s ({common.mib(d['bytes'] / d['seconds'])}/s)",
            common.ratio(facts["cat_fast_seconds"], d["seconds"]) + " (time)",
        )
    if "cat_stalled_finished" in facts:
        report.row(
            f"cat 50 MB with the reader stalled {dur['cat_stalled']} s, then reading",
            "finished"
            if facts["cat_stalled_finished"]
            else "NEVER finished: the client's terminal went silent "
            f"(relay dropped it: {facts['relay_dropped_viewers']}x)",
            "",
            "",
            "flow control; the page recovers",
            "recovered" if facts["cat_stalled_finished"] else "VIEWER LOST",
        )
    if "seq_gaps" in facts:
        report.row(
            f"seq 1..{seq_n} to a slow reader: output lost?",
            f"{facts['seq_missing']} numbers missing in {facts['seq_gaps']} gaps "
            f"(received {facts['seq_received']} numbers, last {facts['seq_last']})",
            "",
            "",
            "no loss (backpressure)",
            "no loss" if facts["seq_missing"] == 0 else "OUTPUT LOST",
        )
    report.note(
        f"relay log: {facts['relay_dropped_viewers']} 'dropping a viewer that stopped reading'; the flooded "
        f"page reconnected {facts.get('flooded_reconnects', '?')}x (a viewer that acknowledges no output for 10 s "
        "is dropped and told to reconnect, as a reload would; the replay is its scrollback)"
    )
    report.save()
    return 1 if report.failed or failed_early else 0


def show(key, value):
    if key.endswith(("rss_max", "mem_max")):
        return common.mib(value)
    return common.ms(value) if key.startswith("echo") else value


async def flood(browser, session_id, dur, seq_n, big_bytes, phases):
    """Drive the flooded terminal through the phases; return facts."""
    from websockets.exceptions import ConnectionClosed  # after common: bench/websockets.py shadows it

    from terminals.protocol import LAGGED

    facts = {}
    path = f"/ws/sessions/{session_id}/terminal/node1/?rows=24&cols=80"

    class Page:
        """The flooded page's terminal socket. Like the page, it reconnects when the relay drops it
        for not reading (close code 4408), and reads on from the scrollback replay."""

        def __init__(self):
            self.ws, self.reconnects = None, 0

        async def open(self, wait_for_prompt=True):
            self.ws = await browser.async_websocket(path, max_queue=2)  # not reading = TCP backpressure
            buf = b""
            while wait_for_prompt and b"# " not in buf:
                m = await asyncio.wait_for(self.ws.recv(), 60)
                if isinstance(m, bytes):
                    buf += m
            return self

        async def reopen_if_dropped(self, closed: ConnectionClosed):
            if not (closed.rcvd and closed.rcvd.code == LAGGED):
                raise closed
            self.reconnects += 1
            await self.open(wait_for_prompt=False)

        async def recv(self):
            while True:
                try:
                    return await self.ws.recv()
                except ConnectionClosed as closed:
                    await self.reopen_if_dropped(closed)

        async def send(self, message):
            try:
                await self.ws.send(message)
            except ConnectionClosed as closed:
                await self.reopen_if_dropped(closed)
                await self.ws.send(message)

        async def close(self):
            await self.ws.close()

    async def connect():
        return await Page().open()

    async def stdin(ws, text):
        await ws.send(json.dumps(["stdin", text]))

    async def read_for(ws, seconds, every=0.0):
        """Read frames for `seconds` (one per `every` s if set); return bytes read."""
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                m = await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
            except TimeoutError:
                break
            n += len(m) if isinstance(m, bytes) else 0
            if every:
                await asyncio.sleep(every)
        return n

    async def read_until(ws, needle, timeout, keep=False):
        """Read at full speed until `needle` appears; return (seconds or None, bytes read, data)."""
        t0 = time.monotonic()
        tail, n, data = b"", 0, bytearray()
        while time.monotonic() - t0 < timeout:
            try:
                m = await asyncio.wait_for(ws.recv(), max(0.01, timeout - (time.monotonic() - t0)))
            except TimeoutError:
                break
            if not isinstance(m, bytes):
                continue
            n += len(m)
            if keep:
                data += m
            tail = (tail + m)[-256:]
            if needle in tail:
                return time.monotonic() - t0, n, data
        return None, n, data

    def phase(name, start):
        phases.append((name, start, time.time()))
        print(f"  phase {name}: {time.time() - start:.1f} s", flush=True)

    ws = await connect()
    t = time.time()
    await asyncio.sleep(dur["idle"])
    phase("idle", t)

    t = time.time()
    await stdin(ws, "yes\r")
    await asyncio.sleep(dur["yes_stalled"])
    phase("yes, not reading", t)

    t = time.time()
    facts["yes_slow_bytes"] = await read_for(ws, dur["yes_slow"], every=0.1)
    phase("yes, slow reader", t)

    t = time.time()
    await stdin(ws, "\x03")
    took, backlog, _ = await read_until(ws, b"# ", 60)
    facts["ctrl_c_seconds"], facts["ctrl_c_backlog_bytes"] = took, backlog
    phase("Ctrl-C", t)
    if took is None:  # the relay dropped this viewer: what a browser does is reconnect
        await ws.close()
        await ws.open()

    t = time.time()
    await stdin(ws, f"clear; cat {BIG}; echo CAT-$((1+1))-DONE\r")
    took, n, _ = await read_until(ws, b"CAT-2-DONE", 300)
    facts["cat_fast_seconds"], facts["cat_fast_bytes"] = took, n
    phase("cat 50 MB, reading", t)

    t = time.time()
    await stdin(ws, f"clear; cat {BIG}; echo CAT-$((2+1))-DONE\r")
    await asyncio.sleep(dur["cat_stalled"])
    took, n, _ = await read_until(ws, b"CAT-3-DONE", 120)
    facts["cat_stalled_finished"] = took is not None
    facts["cat_stalled_drain_seconds"] = took
    phase("cat 50 MB, stalled then reading", t)
    if took is None:
        await ws.close()
        await ws.open()

    t = time.time()
    await stdin(ws, f"clear; seq 1 {seq_n}; echo SEQ-$((3+1))-DONE\r")
    data = bytearray()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            m = await asyncio.wait_for(ws.recv(), 30)
        except TimeoutError:
            break
        if isinstance(m, bytes):
            data += m
            if b"SEQ-4-DONE" in data[-256:]:
                break
        await asyncio.sleep(0.02)
    phase("seq, slow reader", t)
    numbers = []
    for line in bytes(data).split(b"\n"):
        line = line.strip(b"\r")
        if line.isdigit():
            numbers.append(int(line))
    gaps = missing = 0
    for a, b in zip(numbers, numbers[1:], strict=False):
        if b != a + 1:
            gaps += 1
            missing += max(0, b - a - 1)
    if numbers and numbers[-1] != seq_n:
        gaps += 1
        missing += seq_n - numbers[-1]
    facts.update(
        seq_received=len(numbers),
        seq_last=numbers[-1] if numbers else None,
        seq_gaps=gaps,
        seq_missing=missing,
        seq_done=b"SEQ-4-DONE" in data,
    )
    facts["flooded_reconnects"] = ws.reconnects
    await ws.close()
    return facts


def direct_cat(be, container, big_bytes):
    """The baseline: the same cat through a direct docker exec TTY, read at full speed."""
    import select

    exec_id = be.api.exec_create(container, ["cat", BIG], stdin=True, tty=True)["Id"]
    sock = be.api.exec_start(exec_id, tty=True, socket=True)
    raw = getattr(sock, "_sock", sock)
    t0 = time.perf_counter()
    n = 0
    while True:
        ready, _, _ = select.select([raw], [], [], 60)
        if not ready:
            break
        chunk = raw.recv(65536)
        if not chunk:
            break
        n += len(chunk)
    took = time.perf_counter() - t0
    raw.close()
    return {"seconds": took, "bytes": n}


if __name__ == "__main__":
    if "--typist" in sys.argv:
        typist_main(sys.argv[1:])
    else:
        raise SystemExit(main())
