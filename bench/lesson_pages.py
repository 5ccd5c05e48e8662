#!/usr/bin/env python
"""Lesson pages: requests/s and latency of GET /course/day/1/ (logged in) from the web processes
scripts/up starts (one per core), with N concurrent clients (wrk, from Debian's package; a Python
thread pool if wrk is missing). The page's other request, its lab panel (/course/day/1/lab/, the
learner's own part, fetched by the page), is measured beside it.

Baseline in the same run: a static file served by the same processes (/static/berth/berth.css,
through Django's static files handler), the login page (an unauthenticated Django view with no
lesson rendering), and in full mode the same page from one web process.

Full mode uses production settings (DEBUG=0, a real SECRET_KEY, ALLOWED_HOSTS); quick mode the
benches' DEBUG=1.
Promise (issue 17): >= 300 requests/s per 2-core host, p95 <= 50 ms at 50 clients.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time

import common

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, summary.bytes))
end
"""


def wrk(url, cookie, connections, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script,
                "-H",
                f"Cookie: {cookie}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script)
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT")), None)
    if not line:
        raise RuntimeError(f"wrk gave no result: {out[-500:]}")
    reqs, dur_us, p50, p95, p99, errors, status, nbytes = map(int, line.split()[1:])
    return {
        "rps": reqs / (dur_us / 1e6),
        "requests": reqs,
        "p50": p50 / 1e6,
        "p95": p95 / 1e6,
        "p99": p99 / 1e6,
        "errors": errors,
        "non_2xx_3xx": status,
        "bytes_per_request": nbytes / max(1, reqs),
    }


def pool_client(url, cookie, connections, seconds):
    """The fallback load generator: `connections` threads with keep-alive sessions."""
    import requests

    lat, errors = [], [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def run():
        s = requests.Session()
        s.headers["Cookie"] = cookie
        mine = []
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                ok = s.get(url, timeout=10).status_code < 400
            except requests.RequestException:
                ok = False
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                errors[0] += 1
        with lock:
            lat.extend(mine)

    t0 = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = common.summary(lat)
    return {
        "rps": len(lat) / (time.monotonic() - t0),
        "requests": len(lat),
        "p50": st.get("p50"),
        "p95": st.get("p95"),
        "p99": st.get("p99"),
        "errors": errors[0],
        "non_2xx_3xx": 0,
    }


def profile_lesson_view(n):
    """Time and profile the lesson view in this process: per-request time without the profiler,
    SQL queries by table, and the share of time in the view's parts (cProfile)."""
    import cProfile
    import pstats
    from collections import Counter

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="bench"))
    client.get("/course/day/1/")
    debug = settings.DEBUG
    settings.DEBUG = True  # records the queries
    reset_queries()
    client.get("/course/day/1/")
    queries = list(connection.queries)
    settings.DEBUG = False
    t0 = time.perf_counter()
    for _ in range(n):
        client.get("/course/day/1/")
    per = (time.perf_counter() - t0) / n
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        client.get("/course/day/1/")
    prof.disable()
    settings.DEBUG = debug
    stats = pstats.Stats(prof).stats
    total = sum(v[2] for k, v in stats.items())  # tottime of everything

    def cum(match):
        return max((v[3] for k, v in stats.items() if match(k)), default=0.0)

    view = cum(lambda k: k[0].endswith("workspace/day.py") and k[2] == "day")
    parts = {
        "the lesson, rendered once per version (workspace/day.py article)": cum(
            lambda k: k[0].endswith("workspace/day.py") and k[2] == "article"
        ),
        "SQL (compiler.execute_sql)": cum(lambda k: k[0].endswith("sql/compiler.py") and k[2] == "execute_sql"),
        "template render (shortcuts.render)": cum(lambda k: k[0].endswith("django/shortcuts.py") and k[2] == "render"),
    }
    tables = Counter()
    for q in queries:
        sql = q["sql"]
        table = sql.split(" FROM ", 1)[1].split()[0].strip('"') if " FROM " in sql else sql.split()[0]
        tables[table] += 1
    return {
        "ms_per_request": per * 1000,
        "queries": len(queries),
        "queries_by_table": ", ".join(f"{t} {c}" for t, c in tables.most_common(6)),
        "share": {k: round(100 * v / view) for k, v in parts.items()} if view else {},
        "profiled_total_s": total,
    }


def main():
    opts = common.args(__doc__.splitlines()[0])
    levels = [10] if opts.quick else [1, 10, 50]
    seconds = 3 if opts.quick else 10
    cores = os.cpu_count() or 1
    production = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(48), "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    # (label, settings, web processes)
    setups = (
        [(f"{cores} processes, DEBUG=1", {}, cores)]
        if opts.quick
        else [(f"{cores} processes", production, cores), ("1 process", production, 1)]
    )
    report = common.Report("lesson_pages", "Lesson pages", opts.quick)
    env = common.setup("lesson_pages")
    load = wrk if shutil.which("wrk") else pool_client
    if load is pool_client:
        report.note("wrk is not installed: a Python thread pool generated the load (it costs the server CPU)")
    targets = {
        "lesson": "/course/day/1/",
        "lab panel": "/course/day/1/lab/",
        "static": "/static/berth/berth.css",
        "login page": "/accounts/login/",
    }
    results = {}
    try:
        for number, (label, extra, processes) in enumerate(setups):
            stack = common.Stack(f"pages-{number}", {**env, **extra}, web_processes=processes).start()
            web_pid = stack.pid("web")
            browser = common.Browser(stack)
            page = browser.get(targets["lesson"], allow_redirects=False)
            if page.status_code != 200 or "Day 1" not in page.text:
                raise RuntimeError(f"{targets['lesson']}: HTTP {page.status_code} (not the lesson page)")
            report.details[f"lesson_bytes {label}"] = len(page.content)
            cookie = browser.cookie_header
            for name, path in targets.items():
                if number and name != "lesson":
                    continue  # the one-process baseline: the page only
                load(stack.http + path, cookie, 5, 1)  # warm up
                for c in levels if name == "lesson" else [c for c in levels if c > 1]:
                    cpu0 = common.tree_cpu_seconds(web_pid)
                    t0 = time.monotonic()
                    r = load(stack.http + path, cookie, c, seconds)
                    r["web_cpu_cores"] = round((common.tree_cpu_seconds(web_pid) - cpu0) / (time.monotonic() - t0), 2)
                    results[f"{label} {name} c={c}"] = r
                    print(
                        f"  {label} {name} c={c}: {r['rps']:.0f} req/s, p50 {common.ms(r['p50'])}, p95 "
                        f"{common.ms(r['p95'])}, errors {r['errors']}/{r['non_2xx_3xx']}, web CPU "
                        f"{r['web_cpu_cores']}",
                        flush=True,
                    )
            stack.stop()
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
    finally:
        common.cleanup_all()
    report.details["results"] = results
    label = setups[0][0]
    for c in levels:
        page, static = results.get(f"{label} lesson c={c}"), results.get(f"{label} static c={c}")
        login, panel = results.get(f"{label} login page c={c}"), results.get(f"{label} lab panel c={c}")
        single = results.get(f"1 process lesson c={c}")
        if not page:
            continue
        errs = page["errors"] + page["non_2xx_3xx"]
        baseline = [f"static css: {static['rps']:.0f} req/s, p95 {common.ms(static['p95'])}"] if static else []
        baseline += [f"login page: {login['rps']:.0f} req/s, p95 {common.ms(login['p95'])}"] if login else []
        baseline += [f"one process: {single['rps']:.0f} req/s, p95 {common.ms(single['p95'])}"] if single else []
        report.row(
            f"GET /course/day/1/ ({label}, {c} concurrent)",
            f"{page['rps']:.0f} req/s, p50 {common.ms(page['p50'])}, p95 {common.ms(page['p95'])}"
            + (f", {errs} errors" if errs else ""),
            "; ".join(baseline),
            f"{page['rps'] / static['rps']:.2f}x of static (req/s)" if static else "",
            ">= 300 req/s, p95 <= 50 ms" + (" (at 50 clients)" if c == 50 else ""),
            common.verdict(page["rps"] >= 300 and page["p95"] <= 0.050 and not errs),
        )
        if panel:
            report.row(
                f"GET /course/day/1/lab/, the page's lab panel ({label}, {c} concurrent)",
                f"{panel['rps']:.0f} req/s, p50 {common.ms(panel['p50'])}, p95 {common.ms(panel['p95'])}",
                "",
                "",
                "(fetched once per visit, after the page; no promise of its own)",
                "",
            )
    try:
        prof = profile_lesson_view(20 if opts.quick else 100)
        report.details["profile"] = prof
        report.note(
            f"where a lesson page's time goes (the view in-process, Django test client, DEBUG=0): "
            f"{common.ms(prof['ms_per_request'] / 1000)} per request = at most {1000 / prof['ms_per_request']:.0f} "
            f"req/s on one core; {prof['queries']} SQL queries per page ({prof['queries_by_table']}); "
            f"cumulative share of the view: " + ", ".join(f"{k} {v}%" for k, v in prof["share"].items())
        )
    except Exception as e:  # noqa: BLE001 - the profile is an extra
        report.note(f"profile failed: {type(e).__name__}: {e}")
    report.note(
        f"uvicorn --workers {cores} (one per core, as scripts/up starts it); load from wrk -t1 on the same "
        f"{cores}-core host (it takes CPU too)"
    )
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
