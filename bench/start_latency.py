#!/usr/bin/env python
"""Click "Start lab" -> interactive prompt, through the real path, cold and from the warm pool,
for the standard profile (a lab on berth/base) and the docker profile (Day 1's lab).

One sample: POST /sessions/start/<day>/ (session cookie + CSRF, as htmx sends it) -> the events
websocket until the state is `ready` -> GET the panel (what the page does at `ready`) -> the
terminal websocket until the shell prompt (`# `) arrives. The session is then ended
(POST /sessions/<id>/end/) and its sandbox removal awaited before the next sample.

Baselines in the same run, on the same engine and image: bare `docker run -d --network none
IMAGE` + `docker exec C true` (CLI), and the backend alone (create/start/wait_ready/exec through
the docker SDK, no web/Celery/relay: what the sandbox itself costs with its profile).

Samples are interleaved by rounds (baselines, cold, then warm) so that background load hits every
series alike. Promise: warm p50 <= 1.0 s, p95 <= 2.0 s; cold p50 <= 3 s, p95 <= 6 s.
"""

import time

import common

PROFILES = {"standard": (common.STANDARD_DAY, common.STANDARD_IMAGE), "docker": (1, common.DOCKER_IMAGE)}


def main():
    opts = common.args(__doc__.splitlines()[0])
    rounds = 1 if opts.quick else 15
    report = common.Report("start_latency", "Start lab -> interactive prompt", opts.quick)
    env = common.setup("start_latency")

    from django.conf import settings

    from sandboxes import pool
    from sandboxes.models import LabSession, Sandbox, WarmSandbox

    be = common.backend()
    stack = common.Stack("start", env).start()
    browser = common.Browser(stack)

    def wait_removed(session_id, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = LabSession.objects.filter(pk=session_id).values_list("state", flat=True).first()
            if (
                state in ("ended", "failed")
                and not Sandbox.objects.filter(session_id=session_id, removed_at__isnull=True).exists()
            ):
                return
            time.sleep(0.1)
        report.note(f"session {session_id}: sandbox not removed after {timeout} s")

    def start_once(day):
        t0 = time.perf_counter()
        r = browser.post(f"/sessions/start/{day}/")
        if r.status_code != 200:
            raise RuntimeError(f"start: HTTP {r.status_code}: {r.text[:300]}")
        sid = common.session_id_from(r.text)
        t_post = time.perf_counter()
        try:
            with browser.websocket(f"/ws/sessions/{sid}/events/") as ws:
                seen = common.events_until_state(ws, timeout=180)
            t_ready = time.perf_counter()
            if seen[-1]["state"] != "ready":
                raise RuntimeError(f"session {sid} failed: {seen[-1].get('message')}")
            panel = browser.get(f"/sessions/{sid}/panel/", headers={"HX-Request": "true"})
            if 'data-ws-path="/ws/sessions/' not in panel.text:
                raise RuntimeError(f"session {sid}: the ready panel has no terminal")
            t_panel = time.perf_counter()
            with browser.websocket(f"/ws/sessions/{sid}/terminal/node1/?rows=24&cols=80") as term:
                common.read_until(term, b"# ", timeout=60)
            t_prompt = time.perf_counter()
        finally:
            browser.post(f"/sessions/{sid}/end/")
            wait_removed(sid)
        warm = any("warm" in (e.get("message") or "").lower() for e in seen)
        return {
            "total": t_prompt - t0,
            "post": t_post - t0,
            "to_ready": t_ready - t_post,
            "panel": t_panel - t_ready,
            "terminal": t_prompt - t_panel,
            "warm": warm,
        }

    def bare(image):
        name = common.baseline_name("run")
        t0 = time.perf_counter()
        common.docker_cli("run", "-d", "--network", "none", "--name", name, "--label", "berthbench.baseline=1", image)
        common.docker_cli("exec", name, "true")
        took = time.perf_counter() - t0
        common.docker_cli("rm", "-f", "-v", name)
        return took

    def direct(profile, image):
        name = common.baseline_name("direct")
        spec = pool.spec_for(name, image, profile, "node1", {"berthbench.baseline": "1"})
        t0 = time.perf_counter()
        cid = be.create(spec)
        be.start(cid)
        be.wait_ready(cid, 180, lambda phase: None)
        result = be._run(cid, ["true"])
        took = time.perf_counter() - t0
        be.remove(cid)
        if result.exit_code != 0:
            raise RuntimeError(f"exec true in {name}: {result.exit_code}")
        return took

    def drain_pool():
        for warm in WarmSandbox.objects.all():
            be.remove(warm.container_id or warm.name)
            warm.delete()

    def fill_pool():
        settings.SANDBOX_WARM_POOL = {(p, image, 1): 1 for p, (_, image) in PROFILES.items()}
        pool.refill("local")
        settings.SANDBOX_WARM_POOL = {}
        ready = set(WarmSandbox.objects.filter(state=WarmSandbox.READY).values_list("profile", flat=True))
        if ready != set(PROFILES):
            raise RuntimeError(f"warm pool did not fill: ready {ready}")
        time.sleep(2)  # a pool sandbox waits a while for its learner; let its start-up settle

    series = {f"{kind}-{p}": [] for kind in ("bare", "direct", "cold", "warm") for p in PROFILES}
    phases = {f"{kind}-{p}": [] for kind in ("cold", "warm") for p in PROFILES}
    not_warm = 0
    print(f"start_latency: {rounds} rounds, stack on port {stack.port}", flush=True)
    try:
        # One untimed start per profile first: the first request compiles templates, opens DB files...
        drain_pool()
        for day, _ in PROFILES.values():
            start_once(day)
        for i in range(rounds):
            for p, (_day, image) in PROFILES.items():
                series[f"bare-{p}"].append(bare(image))
                series[f"direct-{p}"].append(direct(p, image))
            drain_pool()
            for p, (day, _image) in PROFILES.items():
                s = start_once(day)
                if s["warm"]:
                    raise RuntimeError("a cold start took a warm sandbox")
                series[f"cold-{p}"].append(s["total"])
                phases[f"cold-{p}"].append(s)
            fill_pool()
            for p, (day, _image) in PROFILES.items():
                s = start_once(day)
                if not s["warm"]:
                    not_warm += 1
                series[f"warm-{p}"].append(s["total"])
                phases[f"warm-{p}"].append(s)
            drain_pool()
            print(f"  round {i + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in series.items()), flush=True)
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
        print(stack.logs(), flush=True)
    finally:
        stack.stop()
        common.cleanup_all()
        drain_pool()

    stats = {k: common.summary(v) for k, v in series.items()}
    report.details["series_seconds"] = series
    report.details["stats"] = stats
    report.details["phases_median"] = {
        k: {ph: common.summary([s[ph] for s in v]).get("p50") for ph in ("post", "to_ready", "panel", "terminal")}
        for k, v in phases.items()
        if v
    }
    limits = {"warm": (1.0, 2.0), "cold": (3.0, 6.0)}
    for kind in ("warm", "cold"):
        for p, (_, image) in PROFILES.items():
            st, base = stats[f"{kind}-{p}"], stats[f"bare-{p}"]
            if not st.get("n"):
                continue
            p50_max, p95_max = limits[kind]
            report.row(
                f"start -> prompt, {p} profile, {kind} (n={st['n']})",
                f"p50 {common.sec(st['p50'])}, p95 {common.sec(st['p95'])}",
                f"bare run+exec {image}: p50 {common.sec(base['p50'])}, p95 {common.sec(base['p95'])}",
                f"{common.ratio(st['p50'], base['p50'])} (p50)",
                f"p50 <= {p50_max:g} s, p95 <= {p95_max:g} s",
                common.verdict(st["p50"] <= p50_max and st["p95"] <= p95_max),
            )
    for p in PROFILES:
        st, base = stats[f"direct-{p}"], stats[f"bare-{p}"]
        if st.get("n"):
            report.row(
                f"reference: backend alone, {p} profile (create+start+wait_ready+exec, n={st['n']})",
                f"p50 {common.sec(st['p50'])}, p95 {common.sec(st['p95'])}",
                f"bare run+exec: p50 {common.sec(base['p50'])}",
                f"{common.ratio(st['p50'], base['p50'])} (p50)",
            )
    for k, ph in report.details["phases_median"].items():
        report.note(
            f"{k} median phases: POST {common.ms(ph['post'])}, POST->ready {common.ms(ph['to_ready'])}, "
            f"panel GET {common.ms(ph['panel'])}, terminal ws->prompt {common.ms(ph['terminal'])}"
        )
    if not_warm:
        report.note(f"{not_warm} warm-pool samples did not get a warm sandbox (counted anyway)")
    report.note(
        f"p95 from {rounds} samples per series (interpolated); bare = docker CLI run -d --network none + exec true"
    )
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
