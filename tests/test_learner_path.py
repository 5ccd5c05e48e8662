"""The learner's path through the real stack: HTTP start -> Celery provisioning -> progress over
the events websocket -> a terminal through the relay -> a check streamed back -> reattach.
The web process runs with an unusable Docker address, so all of it works without Docker access."""

import json
import re
import time

import pytest
from django.utils import timezone
from websockets.exceptions import InvalidStatus

from labs.models import CheckRun
from sandboxes import architecture
from sandboxes.backends import get_backend
from sandboxes.models import LabSession
from terminals.relay import HELD_LIST_SECONDS
from tests.helpers import Browser, events_until, terminal_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.stack]


@pytest.fixture
def started(stack, learner, course, sandboxes_removed_after):
    """Alice starts Day 1's lab through HTTP and waits on the events socket until it is ready."""
    browser = Browser(stack, learner)
    response = browser.post("/sessions/start/1/")
    assert response.status_code == 200, response.text
    session = LabSession.objects.get(user=learner)
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        seen = events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
    session.refresh_from_db()
    assert session.state == "ready", (session.error, seen)
    return browser, session, seen


def test_start_reports_real_progress_until_ready(started):
    _, session, seen = started
    states = [e["state"] for e in seen if e["kind"] == "progress"]
    assert states[-1] == "ready"
    assert {"starting", "setup"} & set(states) or states[0] == "ready"
    messages = " ".join(e["message"] for e in seen)
    assert "ready" in messages.lower()
    assert get_backend("local").poll(session.sandboxes.get().container_id)


def test_terminal_runs_commands_in_the_learners_own_engine_and_reattaches(started):
    browser, session, _ = started
    path = f"/ws/sessions/{session.pk}/terminal/node1/?rows=30&cols=100"
    with browser.websocket(path) as ws:
        ws.send(json.dumps(["stdin", "echo berth-$((6*7)); docker version --format '{{.Server.Os}}'\r"]))
        out = terminal_until(ws, b"linux")
        assert b"berth-42" in out
        ws.send(json.dumps(["set_size", 40, 120]))
        ws.send(json.dumps(["stdin", "stty size\r"]))
        terminal_until(ws, b"40 120")
    # A reload: the same shell, its scrollback replayed.
    with browser.websocket(path) as ws:
        replay = terminal_until(ws, b"berth-42", timeout=10)
        assert b"40 120" in replay
        ws.send(json.dumps(["stdin", "echo still-$((1+1))\r"]))
        terminal_until(ws, b"still-2")


def test_a_terminal_that_stops_reading_loses_no_output(started):
    """Flow control without loss: while the reader stalls, the socket's buffers fill and the relay
    stops reading the shell (the web process must not drop what it already holds); when the
    reader reads again, every line of a 20 MB `seq` arrives, in order."""
    browser, session, _ = started
    last = 3_000_000
    path = f"/ws/sessions/{session.pk}/terminal/node1/?rows=24&cols=80"
    # The events socket keeps another consumer of this web process receiving meanwhile, as the
    # many other sockets of a real web process do. Uncompressed, so that the socket buffers hold
    # megabytes of output, not tens of them.
    events = browser.websocket(f"/ws/sessions/{session.pk}/events/")
    with events, browser.websocket(path, compression=None, max_queue=2) as ws:
        terminal_until(ws, b"# ")
        ws.send(json.dumps(["stdin", f"seq 1 {last}; echo SEQ-$((1+1))-DONE\r"]))
        time.sleep(8)  # reading nothing (below the relay's 10 s patience for a silent viewer)
        out = terminal_until(ws, b"SEQ-2-DONE", timeout=180)
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\r", b"", out)  # bash's bracketed-paste switches
    numbers = [int(line) for line in text.split(b"\n") if line.isdigit()]
    assert numbers[0] == 1 and numbers[-1] == last
    assert len(numbers) == last, f"{last - len(numbers)} lines lost"


def test_a_shell_printing_many_small_writes_sends_them_gathered_and_whole(started):
    """Many processes printing a line each (a fork bomb's retries) reach the viewer as a few
    messages, every line there, in order: each message costs the relay and the web process that
    every other learner's echo goes through. A key typed into the quiet shell comes back alone."""
    browser, session, _ = started
    path = f"/ws/sessions/{session.pk}/terminal/node1/?rows=24&cols=80"
    lines = 3000
    with browser.websocket(path) as ws:
        terminal_until(ws, b"# ")
        ws.send(json.dumps(["stdin", f"for i in $(seq {lines}); do /bin/echo line-$i; done; echo GATHERED-$((1+1))\r"]))
        messages = []
        while not any(b"GATHERED-2" in m for m in messages[-2:]):
            message = ws.recv(timeout=60)
            if isinstance(message, bytes):
                messages.append(message)
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\r", b"", b"".join(messages))  # bash's bracketed-paste switches
        assert [int(n) for n in re.findall(rb"^line-(\d+)$", text, re.M)] == list(range(1, lines + 1))
        # Each /bin/echo is a process of its own and a write of its own: 3,000 writes, taking
        # about a second here; gathered for 20 ms at a time, a few dozen messages.
        assert len(messages) < lines / 10, f"{len(messages)} messages for {lines} lines"
        try:
            while True:  # the prompt, and anything else, until the shell is quiet again
                ws.recv(timeout=0.5)
        except TimeoutError:
            pass
        ws.send(json.dumps(["stdin", "x"]))
        assert ws.recv(timeout=10) == b"x", "a quiet shell's echo is sent at once, on its own"
        ws.send(json.dumps(["stdin", "\x15"]))


def test_a_held_sandboxs_terminal_is_read_at_a_crawl_and_loses_nothing(started):
    """A sandbox held at a cap (a fork bomb's thousands of retry lines) has its terminals read at
    HELD_OUTPUT_BYTES_PER_SECOND: its output waits in the terminal, and the processes printing it
    with it. Everything printed still arrives, whole and in order."""
    browser, session, _ = started
    path = f"/ws/sessions/{session.pk}/terminal/node1/?rows=24&cols=80"
    session.sandboxes.update(pinned_since=timezone.now(), pinned_what="process")  # as the cap watch does
    with browser.websocket(path) as ws:
        terminal_until(ws, b"# ")
        time.sleep(2 * HELD_LIST_SECONDS)  # the relay's next read of the held sandboxes
        lines = 400  # 400 lines of 50 bytes: 20 KB, about five seconds at the crawl
        ws.send(
            json.dumps(["stdin", f"for i in $(seq {lines}); do printf '%-49s\\n' held-$i; done; echo HELD-$((1+1))\r"])
        )
        text = terminal_until(ws, b"HELD-2\r\n", timeout=120)
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\r", b"", text)
    assert [int(n) for n in re.findall(rb"^held-(\d+) *$", text, re.M)] == list(range(1, lines + 1))


def test_check_fails_then_passes_with_streamed_output(started):
    browser, session, _ = started
    step = session.lab.steps.get(position=1)
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e["kind"] == "progress")  # the snapshot
        assert browser.post(f"/labs/sessions/{session.pk}/steps/1/check/").status_code == 200
        seen = events_until(ws, lambda e: e["kind"] == "check.result")
    assert seen[-1]["state"] == "failed"
    lines = [e["line"] for e in seen if e["kind"] == "check.output"]
    assert lines, "a failing check explains what is missing"
    run = CheckRun.objects.get(step=step)
    assert run.state == "failed" and lines[0] in run.output

    # Do the work in the learner's sandbox (as the solution would), then check again.
    result = get_backend("local").exec(session.sandboxes.get().container_id, step.solution_script, timeout=120)
    assert result.exit_code == 0, result.output
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e["kind"] == "progress")
        browser.post(f"/labs/sessions/{session.pk}/steps/1/check/")
        seen = events_until(ws, lambda e: e["kind"] == "check.result")
    assert seen[-1]["state"] == "passed"
    page = browser.get("/course/day/1/lab/").text
    assert 'id="step-1" class="step passed"' in page


def test_other_learner_cannot_open_the_sockets(started, stack, other_learner):
    _, session, _ = started
    intruder = Browser(stack, other_learner)
    for path in (f"/ws/sessions/{session.pk}/terminal/node1/", f"/ws/sessions/{session.pk}/events/"):
        with pytest.raises(InvalidStatus) as refused:
            intruder.websocket(path)
        assert refused.value.response.status_code == 403, path
    assert intruder.get(f"/sessions/{session.pk}/panel/").status_code == 404


def test_an_anonymous_visitor_cannot_open_the_sockets(started, stack):
    _, session, _ = started
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{stack.ws}/ws/sessions/{session.pk}/terminal/node1/", additional_headers={"Origin": stack.http})
    assert refused.value.response.status_code == 403


def test_a_foreign_origin_is_refused(started):
    browser, session, _ = started
    with pytest.raises(InvalidStatus) as refused:
        browser.websocket(f"/ws/sessions/{session.pk}/terminal/node1/", origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_ending_the_lab_removes_the_sandbox(started):
    browser, session, _ = started
    container = session.sandboxes.get().container_id
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e["kind"] == "progress")
        assert browser.post(f"/sessions/{session.pk}/end/").status_code == 200
        events_until(ws, lambda e: e.get("state") == "ended", timeout=30)
    import time

    backend = get_backend("local")
    for _ in range(50):
        if not backend.poll(container):
            break
        time.sleep(0.2)
    assert not backend.poll(container)
    session.refresh_from_db()
    assert session.state == "ended"


def test_an_admin_watches_read_only_and_the_learner_is_told(started, stack, admin_user, other_learner):
    import time

    from console.models import AuditEvent

    browser, session, _ = started
    admin = Browser(stack, admin_user)
    watch_path = f"/ws/console/sessions/{session.pk}/terminal/node1/"
    with pytest.raises(InvalidStatus):  # a learner, even the owner, cannot open the watch route
        browser.websocket(watch_path)
    with pytest.raises(InvalidStatus):
        Browser(stack, other_learner).websocket(watch_path)
    with (
        browser.websocket(f"/ws/sessions/{session.pk}/events/") as events,
        browser.websocket(f"/ws/sessions/{session.pk}/terminal/node1/") as learner_tty,
    ):
        events_until(events, lambda e: e["kind"] == "progress")
        with admin.websocket(watch_path) as watcher:
            events_until(events, lambda e: e["kind"] == "watch" and e["watching"])
            learner_tty.send(json.dumps(["stdin", "echo watched-$((3*3))\r"]))
            terminal_until(watcher, b"watched-9")
            watcher.send(json.dumps(["stdin", "echo intruder-$((5*5))\r"]))
            learner_tty.send(json.dumps(["stdin", "echo after-$((4*4))\r"]))
            seen = terminal_until(learner_tty, b"after-16")
            time.sleep(0.5)
            assert b"intruder-25" not in seen
        events_until(events, lambda e: e["kind"] == "watch" and not e["watching"])
    actions = list(AuditEvent.objects.filter(actor=admin_user).values_list("action", flat=True))
    assert "session.watch" in actions and "session.unwatch" in actions


def test_malformed_or_oversized_frames_close_that_socket_only(started):
    from websockets.exceptions import ConnectionClosed

    browser, session, _ = started
    path = f"/ws/sessions/{session.pk}/terminal/node1/"
    with browser.websocket(path) as healthy:
        for bad in ("not json at all", json.dumps(["rm -rf", 1, 2, 3]), "x" * (2 * 1024 * 1024)):
            with browser.websocket(path) as ws:
                ws.send(bad)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        ws.recv(timeout=10)
                assert closed.value.rcvd is None or closed.value.rcvd.code in (4400, 1009)
        healthy.send(json.dumps(["stdin", "echo still-alive-$((2+2))\r"]))
        terminal_until(healthy, b"still-alive-4")


def test_the_architecture_view_draws_the_learners_own_engine_and_follows_changes(started, stack, other_learner):
    browser, session, _ = started
    url = f"/sessions/{session.pk}/architecture/"

    def next_snapshot(since="", until=lambda snap: True, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = browser.get(f"{url}?node=node1&since={since}")
            assert response.status_code in (200, 202, 204), response.text
            if response.status_code == 200 and until(response.json()):
                return response.json()
            time.sleep(0.5)
        raise AssertionError(f"no snapshot as wanted within {timeout} s")

    first = next_snapshot()
    assert "dockerd on node1" in first["diagram"] and "busybox:latest" in first["diagram"]
    assert browser.get(f"{url}?node=node1&since={first['hash']}").status_code in (204, 200)

    typed_at = time.time()
    with browser.websocket(f"/ws/sessions/{session.pk}/terminal/node1/?rows=30&cols=100") as ws:
        ws.send(
            json.dumps(
                [
                    "stdin",
                    "docker network create archnet && docker run -d --name archweb --network archnet "
                    "-v archdata:/data busybox sleep 600 && echo made-$((40+2))\r",
                ]
            )
        )
        terminal_until(ws, b"made-42", timeout=30)
    # the relay marked the terminal busy: the view looks again soon, not only at its next full age
    assert architecture.traffic_at(session.pk) >= typed_at - 0.01
    changed = next_snapshot(first["hash"], lambda snap: "archweb" in snap["diagram"])
    diagram = changed["diagram"]
    assert "archnet" in diagram and "archdata" in diagram and "running" in diagram
    assert changed["counts"]["containers"] >= 1 and changed["counts"]["volumes"] >= 1

    intruder = Browser(stack, other_learner)
    assert intruder.get(f"{url}?node=node1").status_code == 404
    assert browser.get(f"{url}?node=nosuchnode").status_code == 404


def test_download_my_work_packs_the_learners_files_and_only_for_them(started, stack, other_learner):
    import io
    import re
    import tarfile

    browser, session, _ = started
    get_backend("local").exec(
        session.sandboxes.get().container_id,
        "mkdir -p /root/project && echo kept-$((6*7)) > /root/project/notes.txt",
        10,
    )
    fragment = browser.post(f"/sessions/{session.pk}/download/").text
    assert "Packing your files" in fragment
    status_url = re.search(r'hx-get="([^"]+)"', fragment).group(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = browser.get(status_url)
        assert response.status_code == 200, response.text
        if "Packing" not in (fragment := response.text):
            break
        time.sleep(0.5)
    assert "berth-day01-work.tar.gz" in fragment, fragment
    file_url = re.search(r'href="([^"]+)"', fragment).group(1)
    intruder = Browser(stack, other_learner)
    assert intruder.get(file_url).status_code == 404 and intruder.get(status_url).status_code == 404
    response = browser.get(file_url)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as work:
        assert work.extractfile("node1/root/project/notes.txt").read() == b"kept-42\n"


def test_reset_gives_a_fresh_sandbox_and_keeps_passed_steps(started):
    browser, session, _ = started
    backend = get_backend("local")
    old_container = session.sandboxes.get().container_id
    backend.exec(old_container, "touch /root/scratch-before-reset", 10)
    CheckRun.objects.create(session=session, step=session.lab.steps.first(), user=session.user, state="passed")
    response = browser.post(f"/sessions/{session.pk}/reset/")
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.state == "ended" and "reset" in session.end_reason
    fresh = LabSession.objects.exclude(pk=session.pk).get(user=session.user)
    with browser.websocket(f"/ws/sessions/{fresh.pk}/events/") as ws:
        events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
    fresh.refresh_from_db()
    assert fresh.state == "ready", fresh.error
    result = backend.exec(fresh.sandboxes.get().container_id, "ls /root/scratch-before-reset", 10)
    assert result.exit_code != 0  # a fresh sandbox
    assert 'class="step passed' in browser.get("/course/day/1/lab/").text


def test_the_terminal_is_recorded_as_asciicast_and_replayable_by_its_owner_only(started, stack, other_learner):
    from terminals.models import Recording

    browser, session, _ = started
    with browser.websocket(f"/ws/sessions/{session.pk}/terminal/node1/?rows=30&cols=100") as ws:
        ws.send(json.dumps(["stdin", "echo recorded-$((20+3))\r"]))
        terminal_until(ws, b"recorded-23")
        ws.send(json.dumps(["set_size", 33, 111]))
        ws.send(json.dumps(["stdin", "stty size\r"]))
        terminal_until(ws, b"33 111")
    deadline = time.monotonic() + 20  # the relay writes every few seconds
    while time.monotonic() < deadline:
        recording = Recording.objects.filter(session=session).first()
        if recording and recording.size and "33 111" in "".join(recording.chunks.values_list("events", flat=True)):
            break
        time.sleep(0.5)
    cast = browser.get(f"/recordings/{recording.pk}.cast?download=1")
    assert cast.status_code == 200 and "attachment" in cast.headers["Content-Disposition"]
    header, *events = [json.loads(line) for line in cast.text.splitlines()]
    assert header["version"] == 2 and (header["width"], header["height"]) == (100, 30)
    assert any(kind == "r" and data == "111x33" for _, kind, data in events)
    assert "recorded-23" in "".join(data for _, kind, data in events if kind == "o")
    times = [t for t, _, _ in events]
    assert times == sorted(times)
    assert "Your terminal recordings" in browser.get("/course/day/1/lab/").text
    assert browser.get(f"/recordings/{recording.pk}/").status_code == 200
    intruder = Browser(stack, other_learner)
    assert intruder.get(f"/recordings/{recording.pk}.cast").status_code == 404
    assert intruder.get(f"/recordings/{recording.pk}/").status_code == 404


def test_pause_and_resume_the_same_sandbox_with_files_and_inner_engine_state(started):
    """End (or leave) a lab, come back later: the same sandbox, stopped meanwhile, with the
    learner's files and their engine's containers and volumes; "Start fresh" throws it away."""
    from sandboxes.models import Sandbox

    browser, session, _ = started
    backend = get_backend("local")
    container = session.sandboxes.get().container_id
    backend.exec(
        container,
        "echo my-notes > /root/notes.txt && docker volume create keepvol >/dev/null"
        " && docker run -d --name keeper --restart unless-stopped -v keepvol:/data busybox sleep 3600",
        60,
    )
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e["kind"] == "progress")
        browser.post(f"/sessions/{session.pk}/end/")
        events_until(ws, lambda e: e.get("state") == "ended", timeout=30)
    kept = Sandbox.objects.get(session=session)
    assert kept.kept_until is not None and not backend.poll(container)  # stopped, not removed
    page = browser.get("/course/day/1/lab/").text  # the day's lab panel, as the page fetches it
    assert "is kept until" in page and "Resume lab" in page

    assert browser.post("/sessions/start/1/").status_code == 200
    resumed = LabSession.objects.filter(user=session.user).exclude(pk=session.pk).get()
    with browser.websocket(f"/ws/sessions/{resumed.pk}/events/") as ws:
        seen = events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
    resumed.refresh_from_db()
    assert resumed.state == "ready", resumed.error
    # Told while it happens (unless the socket connected after it was ready), and the same machine.
    messages = [e.get("message", "") for e in seen]
    assert seen[0].get("state") == "ready" or any("Resuming" in m or "where you left off" in m for m in messages)
    assert resumed.sandboxes.get().container_id == container
    out = backend.exec(
        container, "cat /root/notes.txt; docker inspect -f '{{.State.Status}}' keeper; docker volume ls -q", 60
    )
    assert "my-notes" in out.output and "running" in out.output and "keepvol" in out.output, out.output

    # End again, then choose a fresh start: the kept sandbox is deleted, a new one is made.
    with browser.websocket(f"/ws/sessions/{resumed.pk}/events/") as ws:
        events_until(ws, lambda e: e["kind"] == "progress")
        browser.post(f"/sessions/{resumed.pk}/end/")
        events_until(ws, lambda e: e.get("state") == "ended", timeout=30)
    assert browser.post("/sessions/start/1/", {"fresh": "1"}).status_code == 200
    fresh = LabSession.objects.filter(user=session.user).order_by("-pk").first()
    with browser.websocket(f"/ws/sessions/{fresh.pk}/events/") as ws:
        events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
    fresh.refresh_from_db()
    assert fresh.state == "ready" and fresh.sandboxes.get().container_id != container
    assert backend.exec(fresh.sandboxes.get().container_id, "ls /root/notes.txt", 10).exit_code != 0
    for _ in range(50):
        if not any(info.container_id == container for info in backend.list_sandboxes()):
            break
        time.sleep(0.2)
    assert not any(info.container_id == container for info in backend.list_sandboxes())


def test_pause_and_resume_a_multi_node_lab_keeps_every_node_and_their_network(
    stack, learner, course, sandboxes_removed_after
):
    """A two-node lab ended and started again: both sandboxes come back with their files, on the
    same network (so with the same addresses, which a cluster's certificates name) where they
    still find each other by name; "Start fresh" removes them and their network."""
    import docker
    from django.conf import settings

    from sandboxes.lifecycle import network_name
    from sandboxes.models import Sandbox
    from tests.helpers import save_test_lab, save_test_lesson

    lab = save_test_lab("keep-two-nodes", nodes=("node1", "node2"))
    save_test_lesson(46, lab, "Two nodes kept")
    browser, backend = Browser(stack, learner), get_backend("local")
    engine = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])

    def start(fresh=False) -> LabSession:
        assert browser.post("/sessions/start/46/", {"fresh": "1"} if fresh else None).status_code == 200
        session = LabSession.objects.filter(user=learner).order_by("-pk").first()
        with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
            events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
        session.refresh_from_db()
        assert session.state == "ready", session.error
        return session

    def end(session):
        with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
            events_until(ws, lambda e: e["kind"] == "progress")
            browser.post(f"/sessions/{session.pk}/end/")
            events_until(ws, lambda e: e.get("state") == "ended", timeout=60)

    def networks() -> set[str]:
        return {n.name for n in engine.networks.list(filters={"label": f"berth.prefix={settings.SANDBOX_PREFIX}"})}

    def addresses() -> dict[str, dict[str, str]]:
        return {
            c: {net: v["IPAddress"] for net, v in engine.containers.get(c).attrs["NetworkSettings"]["Networks"].items()}
            for c in containers.values()
        }

    first = start()
    containers = {s.node: s.container_id for s in first.sandboxes.all()}
    before = addresses()
    for node, container in containers.items():
        assert backend.exec(container, f"echo notes-of-{node} > /root/notes.txt", 10).exit_code == 0
    end(first)
    kept = Sandbox.objects.filter(session=first, kept_until__isnull=False)
    assert kept.count() == 2 and not any(backend.poll(c) for c in containers.values())
    assert network_name(first.pk) in networks()
    page = browser.get("/course/day/46/lab/").text
    assert "Your sandboxes from" in page and "are kept until" in page and "on every node" in page

    resumed = start()
    assert {s.node: s.container_id for s in resumed.sandboxes.all()} == containers  # the same machines
    for node, container in containers.items():
        out = backend.exec(container, "cat /root/notes.txt; getent hosts node1 node2 | wc -l", 10).output
        assert f"notes-of-{node}" in out and out.split()[-1] == "2", out
    assert addresses() == before and all(list(nets) == [network_name(first.pk)] for nets in before.values())
    assert resumed.network == network_name(first.pk) and network_name(resumed.pk) not in networks()

    end(resumed)
    fresh = start(fresh=True)
    assert not set(containers.values()) & {s.container_id for s in fresh.sandboxes.all()}
    deadline = time.monotonic() + 30
    while network_name(first.pk) in networks() or any(
        info.container_id in containers.values() for info in backend.list_sandboxes()
    ):
        assert time.monotonic() < deadline, "the kept sandboxes or their network were not removed"
        time.sleep(0.3)
