"""Faults: a Celery worker killed with SIGKILL in the middle of provisioning leaves a half-made
sandbox; reconciliation closes the session with a clear message and leaves no container."""

import os
import signal
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sandboxes import lifecycle
from sandboxes.backends import get_backend
from sandboxes.models import LabSession, Sandbox
from sandboxes.tasks import provision_session
from tests.conftest import LOGS, database_url, start_worker
from tests.helpers import save_test_lab, save_test_lesson

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.database]


@pytest.fixture
def slow_lab(db):
    return save_test_lab(
        "slow-setup", setup="touch /root/setup-started; sleep 60", steps=[{"check": "false", "solution": "true"}]
    )


def test_a_worker_killed_mid_provision_leaves_no_orphan_after_reconciliation(learner, slow_lab, docker_engine):
    queue = f"faulttest-{uuid.uuid4().hex[:6]}"
    session = LabSession.objects.create(
        user=learner, lab=slow_lab, host="local", expires_at=timezone.now() + timedelta(minutes=30)
    )
    Sandbox.objects.create(session=session, node="node1", name=lifecycle.sandbox_name(session.pk, "node1"))
    worker = start_worker(queue, "test-fault-worker.log")
    try:
        provision_session.apply_async(args=[session.pk], queue=queue)
        for _ in range(300):  # until the setup script runs: the container exists, the session is half-made
            session.refresh_from_db()
            if session.state == LabSession.SETUP:
                break
            time.sleep(0.1)
        assert session.state == LabSession.SETUP, (LOGS / "test-fault-worker.log").read_text()[-2000:]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool processes, mid-task
        worker.wait()
    sandbox = session.sandboxes.get()
    backend = get_backend("local")
    assert backend.poll(sandbox.container_id)  # left behind, running

    # The reaper (on its schedule, or at the next worker start) sees a start that never finished.
    LabSession.objects.filter(pk=session.pk).update(created_at=timezone.now() - timedelta(hours=1))
    counts = lifecycle.reap("local")
    session.refresh_from_db()
    assert session.state == LabSession.FAILED and "did not start in time" in session.error
    assert counts["vanished"] == 1
    assert not backend.poll(sandbox.container_id)
    assert sandbox.name not in {info.name for info in backend.list_sandboxes()}
    again = lifecycle.reap("local")
    assert again["orphans_removed"] == again["vanished"] == 0


# --- Redis restarts under live terminals -------------------------------------------------------
@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own (restarting the shared one would hit everything else)."""
    from tests.conftest import free_port

    port = free_port()
    cmd = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    server = {"proc": subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)}

    def restart():
        server["proc"].kill()
        server["proc"].wait()
        time.sleep(1)  # everyone sees it gone
        server["proc"] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    import redis

    for _ in range(50):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0", restart
    server["proc"].kill()


def test_a_redis_restart_under_a_live_terminal_loses_no_shell_and_no_progress(
    learner, course, own_redis, sandboxes_removed_after
):
    import json

    from labs.models import CheckRun
    from tests.conftest import start_stack
    from tests.helpers import Browser, events_until, terminal_until

    url, restart_redis = own_redis
    stack = start_stack(database_url(), {"REDIS_URL": url}, prefix="fault-redis")
    try:
        browser = Browser(stack, learner)
        assert browser.post("/sessions/start/1/").status_code == 200
        session = LabSession.objects.get(user=learner)
        with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
            events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
        terminal = f"/ws/sessions/{session.pk}/terminal/node1/?rows=30&cols=100"
        with browser.websocket(terminal) as ws:
            ws.send(json.dumps(["stdin", "cd /tmp && export MARK=kept-$((40+2))\r"]))
            ws.send(json.dumps(["stdin", "echo before-$MARK\r"]))
            terminal_until(ws, b"before-kept-42")

        restart_redis()

        # Like the page: reconnect until the terminal answers again; it is the same shell.
        deadline, out = time.monotonic() + 60, b""
        while time.monotonic() < deadline:
            try:
                with browser.websocket(terminal) as ws:
                    ws.send(json.dumps(["stdin", "echo after-$MARK in $PWD\r"]))
                    out = terminal_until(ws, b"after-kept-42 in /tmp", timeout=5)
                    break
            except Exception:  # refused, closed or silent while Redis comes back
                time.sleep(1)
        assert b"after-kept-42 in /tmp" in out, stack.logs()
        assert b"before-kept-42" in out  # the scrollback replayed: nothing of the shell was lost

        # Checks still run: the worker found the restarted broker.
        assert browser.post(f"/labs/sessions/{session.pk}/steps/1/check/").status_code == 200
        for _ in range(120):
            run = CheckRun.objects.filter(session=session).first()
            if run and run.state != "running":
                break
            time.sleep(0.5)
        assert run and run.state == "failed" and run.output, stack.logs()  # Day 1's first step: not done yet
        session.refresh_from_db()
        assert session.state == "ready"
    finally:
        stack.stop()


def test_a_worker_killed_mid_check_leaves_a_clear_message_and_the_step_checkable_again(
    learner, docker_engine, sandboxes_removed_after
):
    from labs import checks
    from labs.models import CheckRun
    from labs.tasks import run_check_task

    lab = save_test_lab(
        "slow-check", steps=[{"check": "touch /root/check-started; sleep 60", "solution": "true", "timeout": 90}]
    )
    # Rows made by hand, not by create_session: its provisioning task would reach any worker of
    # the suite's running stack, which would provision this session too, at the same time.
    session = LabSession.objects.create(
        user=learner, lab=lab, host="local", expires_at=timezone.now() + timedelta(minutes=30)
    )
    Sandbox.objects.create(session=session, node="node1", name=lifecycle.sandbox_name(session.pk, "node1"))
    lifecycle.provision(session.pk)
    session.refresh_from_db()
    assert session.state == LabSession.READY, session.error
    container = session.sandboxes.get().container_id
    run = CheckRun.objects.create(session=session, step=lab.steps.get(), user=learner)
    queue = f"faulttest-{uuid.uuid4().hex[:6]}"
    worker = start_worker(queue, "test-fault-check-worker.log")
    backend = get_backend("local")
    try:
        run_check_task.apply_async(args=[run.pk], queue=queue)
        for _ in range(300):  # until the check script runs inside the sandbox
            if backend.exec(container, "test -f /root/check-started", 10).exit_code == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError((LOGS / "test-fault-check-worker.log").read_text()[-2000:])
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool, mid-check
        worker.wait()
    run.refresh_from_db()
    assert run.state == CheckRun.RUNNING
    with pytest.raises(checks.CheckRefused):  # one check at a time: still held
        checks.start_check(session, lab.steps.get())

    CheckRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=3))
    assert lifecycle.reap("local")["checks_interrupted"] == 1
    run.refresh_from_db()
    assert run.state == CheckRun.ERROR and "interrupted" in run.output
    assert checks.start_check(session, lab.steps.get()).state == CheckRun.RUNNING  # the step is free again


# --- load ------------------------------------------------------------------------------------
def test_a_hundred_learners_starting_within_a_minute_are_all_served_or_given_a_place(
    roles, course, sandboxes_removed_after
):
    """A bounded burst on loopback: 100 learners press Start lab at once on a host with room for
    six. Every one gets the lab panel (no error page): six sandboxes start, the rest wait in a
    line with their place, and the line advances when sandboxes end."""
    from concurrent.futures import ThreadPoolExecutor

    from django.contrib.auth.models import User

    from tests.conftest import start_stack
    from tests.helpers import Browser

    lab = save_test_lab("burst", steps=[{"check": "true", "solution": "true"}])
    save_test_lesson(42, lab, "Burst")
    learners = [User.objects.create_user(f"burst{i:03d}", password="x") for i in range(100)]
    for user in learners:
        user.groups.add(roles["learner"])
    slots = 6
    stack = start_stack(
        database_url(), {"BERTH_HOST_SLOTS": str(slots), "BERTH_STARTS_PER_HOUR": "1000"}, prefix="fault-burst"
    )
    try:
        browsers = [Browser(stack, user) for user in learners]
        for b in browsers:
            b.get("/course/")  # a CSRF cookie, as a page visit gives

        def press_start(browser):
            started = time.monotonic()
            response = browser.post("/sessions/start/42/")
            return response.status_code, response.text, time.monotonic() - started

        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(press_start, browsers))
        took = time.monotonic() - began
        assert [code for code, _, _ in results] == [200] * 100, [text[:300] for code, text, _ in results if code != 200]
        assert all('id="lab-panel"' in text for _, text, _ in results)
        sessions = LabSession.objects.filter(lab=lab)
        assert sessions.count() == 100
        placed = sessions.exclude(host="").count()
        assert placed <= slots, f"{placed} sessions placed on a host with {slots} slots"
        waiting = sessions.filter(host="", state=LabSession.QUEUED)
        assert waiting.count() == 100 - placed
        # Each waiting learner is told their place, and the places are 1..N.
        for _ in range(60):
            messages = list(waiting.values_list("message", flat=True))
            if all("number" in m for m in messages):
                break
            time.sleep(0.5)
        places = sorted(int(m.split("number ")[1].split()[0]) for m in messages)
        assert places == list(range(1, len(places) + 1)), messages[:5]

        # The line advances when sandboxes end.
        first_ready = [s for s in sessions.exclude(host="")]
        for session in first_ready:
            lifecycle.end(session.pk, "burst test over", keep=False)
        for _ in range(120):
            if LabSession.objects.filter(lab=lab, host="", state=LabSession.QUEUED).count() <= 100 - 2 * slots:
                break
            time.sleep(0.5)
        assert LabSession.objects.filter(lab=lab, host="", state=LabSession.QUEUED).count() <= 100 - 2 * slots
        print(f"100 starts in {took:.1f} s; slowest answer {max(t for _, _, t in results):.2f} s")
    finally:
        LabSession.objects.filter(lab=lab, state=LabSession.QUEUED, host="").update(state=LabSession.ENDED)
        for session in LabSession.objects.filter(lab=lab, state__in=LabSession.LIVE_STATES):
            lifecycle.end(session.pk, "burst test over", keep=False)
        stack.stop()


# --- shared by the fault tests on a stack of their own ----------------------------------------
def two_step_lesson(slug: str, day: int, title: str) -> None:
    """A lesson whose lab has two steps: touch /root/one, then /root/two."""
    lab = save_test_lab(
        slug,
        steps=[
            {"check": "test -f /root/one", "solution": "touch /root/one"},
            {"check": "test -f /root/two", "solution": "touch /root/two"},
        ],
    )
    save_test_lesson(day, lab, title)


def check_step(browser, stack, session, position: int):
    """Press Check on a step, as the page does, and wait for the run's verdict."""
    from labs.models import CheckRun

    assert browser.post(f"/labs/sessions/{session.pk}/steps/{position}/check/").status_code == 200
    for _ in range(120):
        run = CheckRun.objects.filter(session=session, step__position=position).order_by("-pk").first()
        if run and run.state != CheckRun.RUNNING:
            return run
        time.sleep(0.5)
    raise AssertionError(stack.logs())


# --- PostgreSQL stops for 30 s -----------------------------------------------------------------
def postgres_cluster() -> tuple[str, str]:
    """(version, name) of the Debian cluster serving the test database; skip where there is none."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass: SQLite has no server to stop")
    port = str(connection.settings_dict["PORT"] or 5432)
    try:
        listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        pytest.skip("no pg_lsclusters: this PostgreSQL is not one the test can stop and start")
    for line in listing.splitlines():
        version, name, cluster_port, status = line.split()[:4]
        if cluster_port == port and status == "online":
            return version, name
    pytest.skip(f"no online Debian cluster on port {port}")


def test_postgresql_stopped_for_30_seconds_loses_no_shell_and_no_progress(learner, course, sandboxes_removed_after):
    """The database goes away for 30 s under a learner at work. Their terminal keeps answering;
    pages say plainly that Berth is back in a moment (503, not a server error); when it returns,
    pages, checks and a reconnected terminal (the same shell) work, and the passed step is kept."""
    import json

    from django.db import connection

    from labs.models import CheckRun
    from tests.conftest import start_stack
    from tests.helpers import Browser, events_until, terminal_until

    version, name = postgres_cluster()
    two_step_lesson("db-outage", 43, "Database outage")
    stack = start_stack(database_url(), prefix="fault-pg")
    stopped = False

    try:
        browser = Browser(stack, learner)
        assert browser.post("/sessions/start/43/").status_code == 200
        session = LabSession.objects.get(user=learner)
        with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
            events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
        terminal = f"/ws/sessions/{session.pk}/terminal/node1/?rows=30&cols=100"
        with browser.websocket(terminal) as ws:
            ws.send(json.dumps(["stdin", "cd /root && touch one && export MARK=kept-$((40+2))\r"]))
            ws.send(json.dumps(["stdin", "echo before-$MARK\r"]))
            terminal_until(ws, b"before-kept-42")
            assert check_step(browser, stack, session, 1).state == CheckRun.PASSED

            connection.close()  # this test's own connection goes with the server
            subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
            stopped, down_at = True, time.monotonic()

            # While it is down: the open terminal answers; pages and buttons say to wait.
            ws.send(json.dumps(["stdin", "for i in 1 2 3 4 5 6 7 8; do echo during-$MARK-$i; done\r"]))
            terminal_until(ws, b"during-kept-42-8")
            page = browser.get("/course/day/43/")
            assert page.status_code == 503 and "back in a moment" in page.text, page.text[:500]
            assert page.headers["Retry-After"]
            button = browser.post(f"/labs/sessions/{session.pk}/steps/2/check/")
            assert button.status_code == 503
            time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)
            stopped = False

        deadline = time.monotonic() + 60  # the web process finds the database again
        while browser.get("/course/day/43/").status_code != 200:
            assert time.monotonic() < deadline, stack.logs()
            time.sleep(1)
        with browser.websocket(terminal) as ws:  # a reconnect: the same shell, its scrollback replayed
            ws.send(json.dumps(["stdin", "touch two; echo after-$MARK in $PWD\r"]))
            out = terminal_until(ws, b"after-kept-42 in /root")
        assert b"during-kept-42-8" in out
        assert check_step(browser, stack, session, 2).state == CheckRun.PASSED  # the worker found the database again
        assert CheckRun.objects.filter(session=session, step__position=1, state=CheckRun.PASSED).exists()
        session.refresh_from_db()
        assert session.state == LabSession.READY
    finally:
        if stopped:
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=False)
        stack.stop()


# --- the Docker engine restarts -----------------------------------------------------------------
def restart_engine() -> None:
    """Stop Berth's dockerd (as an upgrade or a crash would) and start it with the same options."""
    import docker
    from django.conf import settings

    pidfile = Path(os.environ.get("BERTH_ENGINE_PIDFILE", "/run/berth/engine.pid"))
    if not pidfile.exists():
        pytest.skip(f"no {pidfile}: the engine is not one scripts/lib.sh started, so the test cannot restart it")
    pid = int(pidfile.read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert b"--live-restore" in cmdline, "scripts/lib.sh starts the engine with --live-restore"
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("dockerd did not stop in 30 s")
    subprocess.Popen(
        [c.decode() for c in cmdline],
        stdout=open(LOGS / "dockerd-restarted.log", "a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"]).ping()
            return
        except Exception:  # still starting
            time.sleep(0.1)
    raise AssertionError("dockerd did not come back in 30 s")


def test_a_docker_engine_restart_keeps_sandboxes_files_and_progress(learner, course, sandboxes_removed_after):
    """dockerd restarts under a learner at work. The sandbox keeps running (live restore) with
    its files; the broken shell says why, and the terminal gets a new shell in the same sandbox;
    checks work again; the passed step is kept; the reaper finds nothing to close or remove."""
    import json

    from labs.models import CheckRun
    from tests.conftest import start_stack
    from tests.helpers import Browser, events_until, terminal_until

    two_step_lesson("engine-restart", 44, "Engine restart")
    stack = start_stack(database_url(), prefix="fault-engine")

    try:
        browser = Browser(stack, learner)
        assert browser.post("/sessions/start/44/").status_code == 200
        session = LabSession.objects.get(user=learner)
        with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
            events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
        container = session.sandboxes.get().container_id
        terminal = f"/ws/sessions/{session.pk}/terminal/node1/?rows=30&cols=100"
        with browser.websocket(terminal) as ws:
            ws.send(json.dumps(["stdin", "cd /root && touch one && echo before-$((40+2))\r"]))
            terminal_until(ws, b"before-42")
            assert check_step(browser, stack, session, 1).state == CheckRun.PASSED

            restart_engine()

            exit_message = None  # the page is told the shell is gone, and why
            deadline = time.monotonic() + 30
            while exit_message is None and time.monotonic() < deadline:
                message = ws.recv(timeout=deadline - time.monotonic())
                if isinstance(message, str) and json.loads(message)[0] == "exit":
                    exit_message = json.loads(message)[1]
            assert exit_message and "engine" in exit_message, exit_message

        assert get_backend("local").poll(container)  # still running: live restore
        with browser.websocket(terminal) as ws:  # as the page does on the next key: a new shell
            ws.send(json.dumps(["stdin", "cd /root && ls one && touch two && echo after-$((40+2))\r"]))
            out = terminal_until(ws, b"after-42")
        assert b"No such file" not in out
        assert check_step(browser, stack, session, 2).state == CheckRun.PASSED
        assert CheckRun.objects.filter(session=session, step__position=1, state=CheckRun.PASSED).exists()
        session.refresh_from_db()
        assert session.state == LabSession.READY
        counts = lifecycle.reap("local")
        assert counts["orphans_removed"] == counts["vanished"] == 0, counts
    finally:
        stack.stop()
