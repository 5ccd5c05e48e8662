#!/usr/bin/env python
"""Noisy neighbours: hostile learners at once against a bystander's terminal and the site.

Four learner accounts, each with a Docker-day sandbox (Day 1's lab, the docker profile) running a
fork bomb and a standard sandbox burning CPU (a busy loop per core), started through the backend
and recorded as ready sessions (as keystroke_echo does). A fifth learner, the bystander, types in
the terminal of their own lab through the real path (terminal websocket -> web -> relay -> TTY)
while a page reader GETs a lesson page again and again as that learner.

Baseline in the same run: the same typing and page reading with the hostile sandboxes started but
idle, just before the bombs go off. From the moment they go off the platform watches as the beat
runs it (sandboxes/pressure.py): the bench sends the stack's worker the cap watch every second and
the host's sample every 5 s (with the admin's thresholds), its first look 5 s after the bombs (the
worst case: they went off just after a sample). The bystander types: from the moment the bombs
go off (the window in which the cap watch holds the bombs and the CPU burners wait for the
sampler's first look); once the sampler has seen all of them (the least CPU weight, their quotas
kept); once it has slowed all of them; then the bench waits for it to end their labs. Full mode
uses the default thresholds; quick mode (CI's pass) shorter ones.
Promises (issues 16 and 17): the bystander's echo p99 <= 50 ms; lesson pages answer within 1 s
(issue 16) and with p95 <= 200 ms (issue 17).
"""

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import common
from keystroke_echo import berth_typist, typists

# Started again every second, as a learner bent on it would: each sandbox stays at its cap until
# the sampler deals with it. Perl, not a bash loop: bash exits when it cannot fork (a bash loop
# died out in a run, at its cap), perl's system() returns an error and the loop goes on.
FORK_BOMB = "perl -e 'while (1) { system q{bash -c \":(){ :|:& };:\"}; sleep 1 }'"
BUSY_LOOPS = "for i in 1 2; do (while :; do :; done) & done; wait"
PAGE = "/course/day/1/"


def main():
    opts = common.args(__doc__.splitlines()[0])
    hostile = 1 if opts.quick else 4
    seconds = 5 if opts.quick else 30
    report = common.Report("noisy_neighbours", "Noisy neighbours", opts.quick)
    env = common.setup("noisy_neighbours")

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.utils import timezone

    from sandboxes import queues
    from sandboxes.limits import limit
    from sandboxes.models import LabSession, PlatformLimits, Sandbox

    if opts.quick:  # as an admin would set them in the console
        PlatformLimits.objects.update_or_create(
            pk=1, defaults={"values": {"SANDBOX_PINNED_SLOW_SECONDS": 5, "SANDBOX_PINNED_END_SECONDS": 15}}
        )
    sample_every, watch_every = settings.SAMPLE_SECONDS, settings.CAP_WATCH_SECONDS
    slow_after, end_after = limit("SANDBOX_PINNED_SLOW_SECONDS"), limit("SANDBOX_PINNED_END_SECONDS")

    be = common.backend()
    bystander_user = User.objects.get(username="bench")
    accounts = [common.make_learner(f"hostile{i}") for i in range(hostile)]
    stack = common.Stack("noisy", env, web_processes=os.cpu_count() or 1).start()
    browser = common.Browser(stack)

    def prepared(container_id, script):
        """An exec of `script`, made while the host is quiet, to start with the others at once."""
        return be.api.exec_create(container_id, ["bash", "-c", script])["Id"]

    def phase(label):
        """The bystander types for `seconds` while a reader fetches the lesson page."""
        pages: list[float] = []
        failures = [0]
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = browser.get(PAGE).status_code == 200
                except Exception:  # noqa: BLE001 - a timeout or refused connection counts as a failure
                    ok = False
                pages.append(time.perf_counter() - t0)
                failures[0] += not ok

        thread = threading.Thread(target=reader)
        load0 = common.loadavg()
        thread.start()
        try:
            keys, errors, _ = asyncio.run(
                typists(berth_typist, [bystander.pk], None, browser, None, seconds, (0.15, 0.35))
            )
        finally:
            stop.set()
            thread.join()
        echo, page = common.summary(keys), common.summary(pages)
        print(
            f"  {label}: echo p50 {common.ms(echo.get('p50', 0))} p99 {common.ms(echo.get('p99', 0))} "
            f"({errors} keys lost); page p50 {common.ms(page.get('p50', 0))} p95 {common.ms(page.get('p95', 0))} "
            f"max {common.ms(page.get('max', 0))} ({failures[0]} failed); load {load0} -> {common.loadavg()}",
            flush=True,
        )
        return {"echo": echo, "page": page, "keys_lost": errors, "pages_failed": failures[0], "load": common.loadavg()}

    sampling = threading.Event()

    def beat(task, every):
        """As the beat does it: the task sent every `every` s to the host's queue, run by the
        stack's worker (not in this process, which types and reads for the bystander)."""
        while not sampling.wait(every):
            queues.send_to_host(task, "local", "local", expires=every)

    def wait_for(what, done, timeout):
        """When `done` came true; None if it did not within `timeout` (a result, noted: the bench
        goes on without that phase)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                seen = Sandbox.objects.filter(session__in=hostile_sessions).values_list(
                    "name", "session__state", "pinned_what", "cpu_percent", "slowed_at"
                )
                report.note(f"NOT within {timeout} s: {what}; the hostile sandboxes then: {list(seen)}")
                return None
            time.sleep(1)
        return time.monotonic()

    print(
        f"noisy_neighbours: {hostile} hostile accounts, slowed after {slow_after} s at a cap, ended after "
        f"{end_after} s (stack on port {stack.port})",
        flush=True,
    )
    try:
        bystander = common.make_ready_sessions(bystander_user, common.lab(common.STANDARD_DAY), 1)[0]
        bombs, burners = [], []
        for user in accounts:
            bombs += common.make_ready_sessions(user, common.lab(1), 1)
            burners += common.make_ready_sessions(user, common.lab(common.STANDARD_DAY), 1)
        hostile_sessions = [s.pk for s in bombs + burners]
        quiet = phase("hostile sandboxes idle")
        threading.Thread(target=beat, args=(queues.WATCH_CAPS, watch_every), daemon=True).start()
        threading.Thread(target=beat, args=(queues.SAMPLE_HOST, sample_every), daemon=True).start()
        execs = [prepared(s.sandboxes.get().container_id, FORK_BOMB) for s in bombs]
        execs += [prepared(s.sandboxes.get().container_id, BUSY_LOOPS) for s in burners]
        started, went_off = time.monotonic(), timezone.now()
        with ThreadPoolExecutor(len(execs)) as starting:  # once one bomb is off, each start takes seconds
            list(starting.map(lambda exec_id: be.api.exec_start(exec_id, detach=True), execs))
        print(f"  the hostile sandboxes went off within {time.monotonic() - started:.2f} s", flush=True)
        held = phase(f"{hostile} fork bombs + {hostile} CPU burners from the moment they go off")
        pids = [be.stats(s.sandboxes.get().container_id)["pids"] for s in bombs]
        bombs_held = [
            round((at - went_off).total_seconds(), 1) if at else None
            for at in Sandbox.objects.filter(session__in=bombs).order_by("pk").values_list("pinned_since", flat=True)
        ]
        hostile_boxes = Sandbox.objects.filter(session__in=hostile_sessions)
        seen_at = wait_for(
            "every hostile sandbox seen at its cap",
            lambda: not hostile_boxes.filter(pinned_since__isnull=True, session__state=LabSession.READY).exists(),
            4 * sample_every,
        )
        weighted = phase(f"the {2 * hostile} hostile sandboxes at the least weight") if seen_at else None
        slowed_at = wait_for(
            "every hostile sandbox slowed",
            lambda: not hostile_boxes.filter(slowed_at__isnull=True, session__state=LabSession.READY).exists(),
            slow_after + 4 * sample_every,
        )
        slowed = phase(f"the {2 * hostile} hostile sandboxes slowed") if slowed_at else None
        ended_at = wait_for(
            "every hostile lab ended",
            lambda: not LabSession.objects.filter(pk__in=hostile_sessions, state=LabSession.READY).exists(),
            end_after + 4 * sample_every,
        )
        # The worker removes what it ended (a bomb's thousands of processes take a while to exit):
        # the stack stops only then, or its worker would be killed halfway through a removal.
        removed_at = ended_at and wait_for(
            "every ended hostile sandbox removed by the worker",
            lambda: not Sandbox.objects.filter(session__in=hostile_sessions, removed_at__isnull=True).exists(),
            120,
        )
        reasons = sorted(set(LabSession.objects.filter(pk__in=hostile_sessions).values_list("end_reason", flat=True)))
        report.details.update(
            quiet=quiet,
            held=held,
            weighted=weighted,
            slowed=slowed,
            bomb_pids=pids,
            bombs_held_after_s=bombs_held,
            slowed_after_s=slowed_at and slowed_at - started,
            ended_after_s=ended_at and ended_at - started,
            removed_after_s=removed_at and removed_at - started,
            end_reasons=reasons,
        )
        load = f"{hostile} fork bombs + {hostile} busy sandboxes of {hostile} accounts"
        for label, measured in (
            (f"{load}, the first {seconds} s from the moment they go off", held),
            (f"{load}, seen: the least CPU weight", weighted),
            (f"{load}, slowed by the sampler", slowed),
        ):
            if measured is None:
                continue
            report.row(
                f"bystander's echo, {label} (n={measured['echo'].get('n', 0)} keys)",
                f"p50 {common.ms(measured['echo']['p50'])}, p99 {common.ms(measured['echo']['p99'])}, "
                f"{measured['keys_lost']} keys without echo in 10 s; load {measured['load']}",
                f"hostile sandboxes idle: p50 {common.ms(quiet['echo']['p50'])}, p99 {common.ms(quiet['echo']['p99'])}",
                f"{common.ratio(measured['echo']['p99'], quiet['echo']['p99'])} (p99)",
                "p99 <= 50 ms",
                common.verdict(measured["echo"]["p99"] <= 0.050 and not measured["keys_lost"]),
            )
            report.row(
                f"lesson page {PAGE}, one reader, {label} (n={measured['page'].get('n', 0)})",
                f"p50 {common.ms(measured['page']['p50'])}, p95 {common.ms(measured['page']['p95'])}, "
                f"max {common.ms(measured['page']['max'])}, {measured['pages_failed']} failed",
                f"hostile sandboxes idle: p50 {common.ms(quiet['page']['p50'])}, p95 {common.ms(quiet['page']['p95'])}",
                f"{common.ratio(measured['page']['p95'], quiet['page']['p95'])} (p95)",
                "every page within 1 s; p95 <= 200 ms",
                common.verdict(
                    measured["page"]["max"] <= 1.0 and measured["page"]["p95"] <= 0.200 and not measured["pages_failed"]
                ),
            )
        report.note(
            f"processes in each bombed sandbox after {seconds} s: {pids} (its PID cap holds them); the cap watch "
            f"(every {watch_every:g} s) or the sampler held each bomb this many seconds after it went off: {bombs_held}"
        )
        def after(at):
            return f"{at - started:.0f} s" if at else "(not in time: see above)"

        report.note(
            f"thresholds {slow_after} s / {end_after} s, sampled every {sample_every} s: every hostile sandbox "
            f"seen {after(seen_at)} after the bombs went off, "
            f"slowed after {after(slowed_at)}, every hostile lab ended after {after(ended_at)} ({'; '.join(reasons)})"
        )
        report.row(
            f"hostile labs slowed, then ended by the sampler ({2 * hostile} sandboxes)",
            f"slowed after {after(slowed_at)}, ended after {after(ended_at)}",
            "",
            "",
            f"slowed and ended (thresholds {slow_after} s / {end_after} s)",
            common.verdict(bool(slowed_at and ended_at)),
        )
    except Exception as e:
        report.fail(f"{type(e).__name__}: {e}")
        print(stack.logs(), flush=True)
    finally:
        sampling.set()
        stack.stop()
        common.cleanup_all()
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
