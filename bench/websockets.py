#!/usr/bin/env python
"""Open websockets held by one web process (uvicorn + Channels): N terminal websockets (viewers
of one learner's shell, which the relay allows: a reload or a second tab attaches to the same
shell), then N events websockets of the same session.

For each kind: the web process's RSS before and after (memory per connection), the relay's and
Redis's growth, how long opening took, then after a hold whether every socket is still open AND
still served: for terminals one line typed in socket 0 must reach all N (the relay fans the
output out to every viewer's channel); for events an "Extend" (POST /sessions/<id>/extend/) must
reach all N as an `expires` event (a channel-layer group send).

Baseline in the same run: the same number of plain websockets to a bare websockets echo server
(the `websockets` library, the one uvicorn runs here) in a process of its own, RSS per connection.
Promise: one web process holds >= 2,000 open terminal websockets.
"""

import asyncio
import json
import subprocess
import sys
import textwrap
import time

import common


def main():
    opts = common.args(__doc__.splitlines()[0])
    n = 50 if opts.quick else 2000
    hold = 1 if opts.quick else 30
    report = common.Report("websockets", "Open websockets per web process", opts.quick)
    env = common.setup("websockets")

    from django.contrib.auth.models import User

    stack = common.Stack("ws", env).start()
    browser = common.Browser(stack)
    user = User.objects.get(username="bench")
    results = {}
    try:
        session = common.make_ready_sessions(user, common.lab(common.STANDARD_DAY), 1)[0]
        for kind in ("terminal", "events"):
            results[kind] = asyncio.run(hold_many(stack, browser, session.pk, kind, n, hold))
            r = results[kind]
            print(
                f"  {kind}: {r['opened']}/{n} opened in {r['open_seconds']:.1f} s, web +"
                f"{common.mib(r['web_rss_delta'])} ({r['web_per_conn'] / 1024:.1f} KiB/conn), relay +"
                f"{common.mib(r['relay_rss_delta'])}, redis +{common.mib(r['redis_delta'])}; after {hold} s: "
                f"{r['still_open']} open, {r['served']} served in {r['fanout_seconds']:.2f} s",
                flush=True,
            )
        results["baseline"] = baseline_echo_server(n)
        print(f"  baseline: {results['baseline']}", flush=True)
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
        print(stack.logs(), flush=True)
    finally:
        alive = stack.alive()
        stack.stop()
        common.cleanup_all()
    report.details["results"] = results
    if not all(alive.values()):
        report.fail(f"a stack process died: {alive}")
    base = results.get("baseline")
    for kind in ("terminal", "events"):
        r = results.get(kind)
        if not r:
            continue
        ok = r["opened"] == n and r["still_open"] == n and r["served"] == n
        report.row(
            f"{kind} websockets held by one web process",
            f"{r['opened']}/{n} opened in {r['open_seconds']:.1f} s; {r['still_open']} open and {r['served']} "
            f"served after {hold} s (fan-out to all {r['fanout_seconds']:.2f} s); web RSS "
            f"{r['web_per_conn'] / 1024:.1f} KiB/conn (+{common.mib(r['web_rss_delta'])}), relay "
            f"+{common.mib(r['relay_rss_delta'])}, Redis +{common.mib(r['redis_delta'])}",
            f"bare websockets server: {base['per_conn'] / 1024:.1f} KiB/conn" if base else "",
            common.ratio(r["web_per_conn"], base["per_conn"]) if base else "",
            ">= 2,000 open terminal websockets" if kind == "terminal" else "(same session, events)",
            (
                f"quick run ({n}): {'all held' if ok else 'NOT all held'}"
                if n < 2000
                else common.verdict(ok)
                if kind == "terminal"
                else ("all held" if ok else "NOT all held")
            ),
        )
        if r.get("errors"):
            report.note(f"{kind}: first errors: {r['errors'][:3]}")
    report.save()
    return 1 if report.failed else 0


async def hold_many(stack, browser, session_id, kind, n, hold):
    path = (
        f"/ws/sessions/{session_id}/terminal/node1/?rows=24&cols=80"
        if kind == "terminal"
        else f"/ws/sessions/{session_id}/events/"
    )
    web, relay = stack.pid("web"), stack.pid("relay")

    async def first_frame(ws):
        msg = await asyncio.wait_for(ws.recv(), 60)
        return msg

    # warm up: one socket, so that imports and pools are counted before the "before" figure
    ws = await browser.async_websocket(path)
    await first_frame(ws)
    await ws.close()
    await asyncio.sleep(2)
    rss0, relay0, redis0 = common.rss(web), common.rss(relay), common.redis_used_memory()
    socks, errors = [], []
    sem = asyncio.Semaphore(50)

    async def open_one(i):
        async with sem:
            try:
                ws = await browser.async_websocket(path, max_queue=64)
                await first_frame(ws)  # terminal: the scrollback replay; events: the state snapshot
                socks.append(ws)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(e).__name__}: {e}")

    t0 = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(n)))
    open_seconds = time.monotonic() - t0
    await asyncio.sleep(3)
    rss1, relay1, redis1 = common.rss(web), common.rss(relay), common.redis_used_memory()
    await asyncio.sleep(hold)

    from websockets.protocol import State

    still_open = sum(1 for ws in socks if ws.state is State.OPEN)
    marker = f"ALIVE{time.time_ns() % 100000}"
    got = [False] * len(socks)

    async def wait_for(i, ws):
        buf = b""
        try:
            while True:
                msg = await ws.recv()
                if kind == "terminal":
                    if isinstance(msg, bytes):
                        buf += msg
                        if marker.encode() + b"42" in buf:
                            got[i] = True
                            return
                else:
                    if json.loads(msg).get("kind") == "expires":
                        got[i] = True
                        return
        except Exception:  # noqa: BLE001 - a socket that fails is counted as not served
            return

    t1 = time.monotonic()
    waiters = [asyncio.ensure_future(wait_for(i, ws)) for i, ws in enumerate(socks)]
    if socks:
        if kind == "terminal":
            await socks[0].send(json.dumps(["stdin", f"echo {marker}$((40+2))\r"]))
        else:
            r = await asyncio.to_thread(browser.post, f"/sessions/{session_id}/extend/")
            if r.status_code != 200:
                errors.append(f"extend: HTTP {r.status_code}")
    done, pending = await asyncio.wait(waiters, timeout=120)
    fanout = time.monotonic() - t1
    for t in pending:
        t.cancel()
    served = sum(got)
    await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)
    await asyncio.sleep(2)
    return {
        "opened": len(socks),
        "open_seconds": open_seconds,
        "web_rss_before": rss0,
        "web_rss_delta": rss1 - rss0,
        "web_per_conn": (rss1 - rss0) / max(1, len(socks)),
        "web_rss_after_close": common.rss(web),
        "relay_rss_delta": relay1 - relay0,
        "redis_delta": redis1 - redis0,
        "still_open": still_open,
        "served": served,
        "fanout_seconds": fanout,
        "errors": errors[:10],
        "error_count": len(errors),
    }


SERVER = textwrap.dedent("""
    import asyncio, sys
    from websockets.asyncio.server import serve
    async def echo(ws):
        async for m in ws:
            await ws.send(m)
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()
    asyncio.run(main())
""")


def baseline_echo_server(n):
    """RSS per connection of a bare websockets server process holding n connections."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        port = int(proc.stdout.readline())

        async def run():
            from websockets.asyncio.client import connect

            url = f"ws://127.0.0.1:{port}/"
            first = await connect(url)
            await first.send("x")
            await first.recv()
            await asyncio.sleep(1)
            rss0 = common.rss(proc.pid)
            sem = asyncio.Semaphore(50)
            socks = []

            async def one():
                async with sem:
                    ws = await connect(url, max_queue=64)
                    await ws.send("x")
                    await ws.recv()
                    socks.append(ws)

            await asyncio.gather(*(one() for _ in range(n)))
            await asyncio.sleep(2)
            rss1 = common.rss(proc.pid)
            await asyncio.gather(*(ws.close() for ws in socks + [first]), return_exceptions=True)
            return {"n": len(socks), "rss_delta": rss1 - rss0, "per_conn": (rss1 - rss0) / max(1, len(socks))}

        return asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
