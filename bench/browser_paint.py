#!/usr/bin/env python
"""What a learner sees, in Debian's Chromium (Playwright): a lesson page loading, and a click on
"Start lab" until the shell's prompt is painted in the terminal.

Page load: navigation to the bench's standard-profile day until its `load` event, and until its
lab panel (fetched by the page) shows the Start button. Click -> prompt: the click, the start
(events socket, panel, terminal socket), xterm.js painting `# `; warm (a warm pool sandbox
waiting) and cold (none); the lab is then ended from the page and its sandbox removal awaited.

Baselines in the same run: the page's HTML alone over HTTP (no browser), and a bare `docker run
-d` + `docker exec true` of the same image (what any container start costs on this engine).
Promise (issue 17): click -> prompt p50 <= 1 s warm.
"""

import os
import time

import common

CHROMIUM = os.environ.get("BERTH_CHROMIUM", "/usr/bin/chromium")
PROMPT_PAINTED = "() => /#\\s*$/m.test((document.querySelector('.xterm-rows') || {}).innerText || '')"


def main():
    opts = common.args(__doc__.splitlines()[0])
    loads = 5 if opts.quick else 30
    rounds = 1 if opts.quick else 10
    report = common.Report("browser_paint", "In the browser: page load and Start lab -> prompt", opts.quick)
    env = common.setup("browser_paint")

    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from sandboxes import pool
    from sandboxes.models import LabSession, Sandbox, WarmSandbox

    be = common.backend()
    stack = common.Stack("paint", env, web_processes=os.cpu_count() or 1).start()
    http = common.Browser(stack)
    day = f"/course/day/{common.STANDARD_DAY}/"
    series = {"load": [], "panel": [], "html": [], "warm": [], "cold": [], "bare": []}

    def wait_removed(timeout=90):
        deadline = time.monotonic() + timeout
        ended = Sandbox.objects.filter(removed_at__isnull=True).exclude(session__state__in=LabSession.LIVE_STATES)
        while ended.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("an ended sandbox was not removed")
            time.sleep(0.1)

    def fill_pool():
        settings.SANDBOX_WARM_POOL = {("standard", common.STANDARD_IMAGE, 1): 1}
        pool.refill("local")
        settings.SANDBOX_WARM_POOL = {}
        if not WarmSandbox.objects.filter(state=WarmSandbox.READY).exists():
            raise RuntimeError("the warm pool did not fill")
        time.sleep(2)  # let the pool sandbox's own start settle, as start_latency does

    def drain_pool():
        for warm in WarmSandbox.objects.all():
            be.remove(warm.container_id or warm.name)
            warm.delete()

    def click_to_prompt(page) -> float:
        page.goto(stack.http + day)
        page.wait_for_selector("#start-lab")
        started = time.perf_counter()
        page.click("#start-lab")
        page.wait_for_function(PROMPT_PAINTED, timeout=120000)
        took = time.perf_counter() - started
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(".lab-head button", has_text="End lab").click()
        page.wait_for_selector("#start-lab", timeout=60000)
        wait_removed()
        return took

    def bare() -> float:
        name = common.baseline_name("paint")
        t0 = time.perf_counter()
        common.docker_cli("run", "-d", "--network", "none", "--name", name, "--label", "berthbench.baseline=1",
                          common.STANDARD_IMAGE)  # fmt: skip
        common.docker_cli("exec", name, "true")
        took = time.perf_counter() - t0
        common.docker_cli("rm", "-f", "-v", name)
        return took

    # Playwright's sync API runs an event loop in this thread; the ORM calls between page actions
    # are still plain synchronous calls (as tests/test_e2e.py says).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    print(f"browser_paint: {loads} page loads, {rounds} rounds of starts (stack on port {stack.port})", flush=True)
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto(f"{stack.http}/accounts/login/")
            page.fill("#id_username", "bench")
            page.fill("#id_password", common.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{stack.http}/")  # the home page: the courses, each with progress
            page.goto(stack.http + day)  # first visit: the browser's cache and the server's templates
            for _ in range(loads):
                t0 = time.perf_counter()
                page.goto(stack.http + day, wait_until="load")
                series["load"].append(time.perf_counter() - t0)
                page.wait_for_selector("#start-lab")
                series["panel"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                if http.get(day).status_code != 200:
                    raise RuntimeError(f"GET {day} failed")
                series["html"].append(time.perf_counter() - t0)
            drain_pool()
            click_to_prompt(page)  # untimed: the first terminal of this browser and stack
            for i in range(rounds):
                series["bare"].append(bare())
                drain_pool()
                series["cold"].append(click_to_prompt(page))
                fill_pool()
                series["warm"].append(click_to_prompt(page))
                print(f"  round {i + 1}/{rounds}: cold {series['cold'][-1]:.2f} s, warm {series['warm'][-1]:.2f} s,"
                      f" bare {series['bare'][-1]:.2f} s", flush=True)  # fmt: skip
            chromium.close()
        stats = {k: common.summary(v) for k, v in series.items()}
        report.details.update(stats)
        load, panel, html, bare_ = stats["load"], stats["panel"], stats["html"], stats["bare"]
        report.row(
            f"lesson page in Chromium: navigation -> load event (n={load['n']})",
            f"p50 {common.ms(load['p50'])}, p95 {common.ms(load['p95'])}",
            f"its HTML alone over HTTP: p50 {common.ms(html['p50'])}, p95 {common.ms(html['p95'])}",
            common.ratio(load["p50"], html["p50"]) + " (p50)",
        )
        report.row(
            f"lesson page in Chromium: navigation -> lab panel shown (n={panel['n']})",
            f"p50 {common.ms(panel['p50'])}, p95 {common.ms(panel['p95'])}",
            f"its HTML alone over HTTP: p50 {common.ms(html['p50'])}, p95 {common.ms(html['p95'])}",
            common.ratio(panel["p50"], html["p50"]) + " (p50)",
        )
        for kind in ("warm", "cold"):
            s = stats[kind]
            report.row(
                f"click Start lab -> prompt painted in Chromium, {kind} (n={s['n']})",
                f"p50 {common.sec(s['p50'])}, p95 {common.sec(s['p95'])}",
                f"bare docker run + exec: p50 {common.sec(bare_['p50'])}, p95 {common.sec(bare_['p95'])}",
                common.ratio(s["p50"], bare_["p50"]) + " (p50)",
                "p50 <= 1 s" if kind == "warm" else "",
                common.verdict(s["p50"] <= 1.0) if kind == "warm" else "",
            )
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
        print(stack.logs(), flush=True)
    finally:
        stack.stop()
        common.cleanup_all()
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
