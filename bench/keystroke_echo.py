#!/usr/bin/env python
"""Keystroke -> echo through the browser's socket: the terminal websocket ["stdin", key] -> web
consumer -> channel layer -> relay -> the shell's TTY (docker exec) -> back, loopback.

A typist alternates `x` and Backspace (so the line stays empty) and times each key until its echo
(`x`, or the `\\b` of the erase) comes back. Measured for 1 typist and for N typists at once, each
in their own shell of their own standard-profile sandbox (berth/base), on the web processes
scripts/up starts (one per core) and one relay. N is 200 in full mode unless the host's memory
runs short first (the bench stops making sandboxes when it has used ~6 GiB or fewer than 3 GiB
are left, and says how many it got).

Baseline in the same run: the same keys typed straight into a `docker exec -it` TTY of the same
sandboxes through the docker SDK (exec_start(socket=True), tty): the engine's own round trip,
once for 1 typist and once for N typists at once.

Promise: p99 <= 15 ms for 1 typist; p99 <= 50 ms with 200 typing at once.
Typing pace: one key every 150-350 ms per typist (~4 keys/s, a fast human typist).
"""

import asyncio
import json
import os
import random
import time

import common

GiB = 2**30


def main():
    opts = common.args(__doc__.splitlines()[0])
    n_typists = 10 if opts.quick else 200
    single_keys = 60 if opts.quick else 600
    many_seconds = 6 if opts.quick else 45
    report = common.Report("keystroke_echo", "Keystroke -> echo", opts.quick)
    env = common.setup("keystroke_echo")

    from django.contrib.auth.models import User

    be = common.backend()
    lab_row = common.lab(common.STANDARD_DAY)
    user = User.objects.get(username="bench")
    stack = common.Stack("keys", env, web_processes=os.cpu_count() or 1).start()
    browser = common.Browser(stack)

    avail0 = common.mem_available()
    made_at = time.monotonic()

    def short_of_memory():
        avail = common.mem_available()
        return avail0 - avail > 6 * GiB or avail < 3 * GiB

    def progress(k):
        if k % 25 == 0:
            print(f"  {k} sandboxes ready", flush=True)

    print(f"keystroke_echo: making up to {n_typists} standard sandboxes (stack on port {stack.port})", flush=True)
    try:
        sessions = common.make_ready_sessions(
            user, lab_row, n_typists, threads=4, on_progress=progress, stop_when=short_of_memory
        )
        report.details["sandboxes"] = len(sessions)
        report.details["make_seconds"] = round(time.monotonic() - made_at, 1)
        if len(sessions) < n_typists:
            report.note(f"memory ran short: {len(sessions)} sandboxes instead of {n_typists}")
        containers = [s.sandboxes.get().container_id for s in sessions]
        pids = {"web": stack.pid("web"), "relay": stack.pid("relay")}
        rpid = common.redis_pid()
        if rpid:
            pids["redis"] = rpid

        def run(coro_factory, label):
            cpu0 = {k: common.tree_cpu_seconds(p) for k, p in pids.items()}
            own0 = time.process_time()
            t0 = time.monotonic()
            latencies, errors, typed_seconds = asyncio.run(coro_factory())
            wall = time.monotonic() - t0
            cpu = {k: round((common.tree_cpu_seconds(p) - cpu0[k]) / typed_seconds, 2) for k, p in pids.items()}
            cpu["bench client"] = round((time.process_time() - own0) / wall, 2)
            report.details[f"cpu_{label}"] = cpu
            report.details[f"errors_{label}"] = errors
            if errors:
                report.note(f"{label}: {errors} keys got no echo within 10 s")
            st = common.summary(latencies)
            print(
                f"  {label}: {st.get('n')} keys, p50 {common.ms(st.get('p50', 0))}, p99 "
                f"{common.ms(st.get('p99', 0))}, CPU cores used while typing {cpu}",
                flush=True,
            )
            return st, latencies

        hop = asyncio.run(channel_layer_hop(200 if opts.quick else 1000))
        report.details["channel_layer_hop"] = hop

        pace = (0.15, 0.35)
        one_direct, _ = run(
            lambda: typists(direct_typist, containers[:1], be, None, single_keys, None, (0.04, 0.06)), "direct-1"
        )
        one_berth, _ = run(
            lambda: typists(berth_typist, [s.pk for s in sessions[:1]], None, browser, single_keys, None, (0.04, 0.06)),
            "berth-1",
        )
        many_direct, _ = run(
            lambda: typists(direct_typist, containers, be, None, None, many_seconds, pace), f"direct-{len(containers)}"
        )
        many_berth, lat = run(
            lambda: typists(berth_typist, [s.pk for s in sessions], None, browser, None, many_seconds, pace),
            f"berth-{len(containers)}",
        )
        report.details["stats"] = {
            "direct-1": one_direct,
            "berth-1": one_berth,
            f"direct-{len(containers)}": many_direct,
            f"berth-{len(containers)}": many_berth,
        }
        report.row(
            f"echo, 1 typist (n={one_berth['n']} keys)",
            f"p50 {common.ms(one_berth['p50'])}, p99 {common.ms(one_berth['p99'])}",
            f"direct docker exec TTY: p50 {common.ms(one_direct['p50'])}, p99 {common.ms(one_direct['p99'])}",
            f"{common.ratio(one_berth['p99'], one_direct['p99'])} (p99)",
            "p99 <= 15 ms",
            common.verdict(one_berth["p99"] <= 0.015),
        )
        n = len(containers)
        report.row(
            f"echo, {n} typists at once, ~4 keys/s each (n={many_berth['n']} keys)",
            f"p50 {common.ms(many_berth['p50'])}, p99 {common.ms(many_berth['p99'])}",
            f"direct docker exec TTY, {n} at once: p50 {common.ms(many_direct['p50'])}, "
            f"p99 {common.ms(many_direct['p99'])}",
            f"{common.ratio(many_berth['p99'], many_direct['p99'])} (p99)",
            "p99 <= 50 ms (200 typists)",
            common.verdict(many_berth["p99"] <= 0.050) + ("" if n >= 200 else f" (at {n}, not 200)"),
        )
        report.row(
            "reference: one channel-layer hop (send -> receive on a process-local channel, Redis)",
            f"p50 {common.ms(hop['p50'])}, p99 {common.ms(hop['p99'])}",
            "",
            "",
            "",
            "a keystroke takes 2 hops (web -> relay, relay -> web)",
        )
        cpu = report.details[f"cpu_berth-{n}"]
        report.note(
            f"CPU cores busy while {n} typed through Berth: "
            + ", ".join(f"{k} {v}" for k, v in cpu.items())
            + f"; directly: {report.details[f'cpu_direct-{n}']}"
        )
        report.note(
            "load generator: one asyncio process (websockets client), on the same 2-core host: "
            "its own scheduling delay is inside the figures, for both Berth and the baseline"
        )
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
        print(stack.logs(), flush=True)
    finally:
        stack.stop()
        common.cleanup_all()
    report.save()
    return 1 if report.failed else 0


async def channel_layer_hop(n):
    """What one hop of the keystroke path costs: channel_layer.send then receive of a small message
    on a process-local channel, the way the consumer and the relay exchange tty.input/tty.output."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        await layer.send(channel, {"type": "tty.output", "data": b"x"})
        await layer.receive(channel)
        took.append(time.perf_counter() - t0)
    return common.summary(took)


KEYS = (("x", b"x"), ("\x7f", b"\x08"))


async def typists(kind, targets, be, browser, keys, seconds, pace, timeline=None):
    """Run one typist per target at once; return (latencies, errors, seconds spent typing).
    `timeline`, a list: each key's (time.monotonic() when typed, its echo's latency) go there too."""
    latencies: list[float] = []
    errors = [0]
    ready = asyncio.Event()
    opened = []
    sem = asyncio.Semaphore(20)  # open 20 terminals at a time

    async def one(target):
        async with sem:
            conn = await kind.open(target, be, browser)
        opened.append(1)
        if len(opened) == len(targets):
            ready.set()
        await ready.wait()
        try:
            await asyncio.sleep(random.uniform(0, pace[1]))  # not all in step
            deadline = time.monotonic() + seconds if seconds else None
            i = 0
            while (keys is None or i < keys) and (deadline is None or time.monotonic() < deadline):
                key, echo = KEYS[i % 2]
                typed = time.monotonic()
                took = await kind.key(conn, key, echo)
                if took is None:
                    errors[0] += 1
                    await kind.resync(conn)
                else:
                    latencies.append(took)
                    if timeline is not None:
                        timeline.append((typed, took))
                i += 1
                await asyncio.sleep(random.uniform(*pace))
        finally:
            await kind.close(conn)

    t0 = time.monotonic()
    await asyncio.gather(*(one(t) for t in targets))
    return latencies, errors[0], time.monotonic() - t0


class berth_typist:
    """Through Berth: the terminal websocket, as xterm.js uses it."""

    @staticmethod
    async def open(session_id, be, browser):
        ws = await browser.async_websocket(f"/ws/sessions/{session_id}/terminal/node1/?rows=24&cols=80")
        buf, texts = b"", []
        try:
            while b"# " not in buf:
                msg = await asyncio.wait_for(ws.recv(), 60)
                if isinstance(msg, bytes):
                    buf += msg
                else:
                    texts.append(msg)
        except TimeoutError:  # say what did arrive: nothing, a message, or output without a prompt
            raise TimeoutError(f"session {session_id}: no prompt in 60 s; got {buf[-80:]!r} {texts}") from None
        return ws

    @staticmethod
    async def key(ws, key, echo):
        t0 = time.perf_counter()
        await ws.send(json.dumps(["stdin", key]))
        got = b""
        try:
            while echo not in got:
                msg = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(msg, bytes):
                    got += msg
        except TimeoutError:
            return None
        return time.perf_counter() - t0

    @staticmethod
    async def resync(ws):
        await ws.send(json.dumps(["stdin", "\x15"]))  # Ctrl-U: empty the line
        await asyncio.sleep(0.5)

    @staticmethod
    async def close(ws):
        await ws.close()


class direct_typist:
    """The baseline: a `docker exec -it bash -l` TTY socket of the docker SDK, no Berth in between."""

    wrappers: dict = {}  # raw socket -> the SDK's wrapper, kept alive while the socket is used

    @staticmethod
    async def open(container, be, browser):
        loop = asyncio.get_running_loop()

        def make():
            exec_id = be.api.exec_create(
                container, ["bash", "-l"], stdin=True, tty=True, workdir="/root", environment={"TERM": "xterm-256color"}
            )["Id"]
            sock = be.api.exec_start(exec_id, tty=True, socket=True)
            raw = getattr(sock, "_sock", sock)
            raw.setblocking(False)
            # The SDK's wrapper holds the HTTP response: garbage-collected, it closes the socket.
            direct_typist.wrappers[raw] = sock
            return raw

        raw = await loop.run_in_executor(None, make)
        buf = b""
        while b"# " not in buf:
            chunk = await asyncio.wait_for(loop.sock_recv(raw, 65536), 60)
            if not chunk:
                raise RuntimeError("direct TTY closed")
            buf += chunk
        return raw

    @staticmethod
    async def key(raw, key, echo):
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        await loop.sock_sendall(raw, key.encode())
        got = b""
        try:
            while echo not in got:
                got += await asyncio.wait_for(loop.sock_recv(raw, 65536), 10)
        except TimeoutError:
            return None
        return time.perf_counter() - t0

    @staticmethod
    async def resync(raw):
        await asyncio.get_running_loop().sock_sendall(raw, b"\x15")
        await asyncio.sleep(0.5)

    @staticmethod
    async def close(raw):
        try:
            raw.sendall(b"exit\r")
        except OSError:
            pass
        raw.close()
        direct_typist.wrappers.pop(raw, None)


if __name__ == "__main__":
    raise SystemExit(main())
