"""Prove it, and content rot caught early: "Test this lab" runs the lab self-test in a real sandbox
on the worker and streams each phase to the instructor's page; every published lab is
self-tested on a schedule, and a failing one is flagged in the studio with its output. A run
whose worker is killed is closed as interrupted. Real stack, real Docker, real Celery."""

import os
import signal
import time
import uuid

import pytest
from django.conf import settings
from websockets.exceptions import InvalidStatus

from labs import files
from studio import selftests, tasks, versions
from studio.models import ContentVersion, SelfTestRun
from tests.conftest import LOGS, start_worker
from tests.helpers import Browser, events_until, save_test_lab, save_test_lesson

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.stack, pytest.mark.database]

FINAL = ("passed", "failed", "error")
HONEST_STEP = {"check": "test -f /root/done", "solution": "touch /root/done", "sabotage": "rm /root/done"}
PHASES = ["sandbox + setup", "check fails before", "check passes after", "check fails sabotaged"]


def finished(event) -> bool:
    return event["kind"] in ("snapshot", "state") and event["state"] in FINAL


def watch_until_final(browser, run_id: int, timeout=120) -> list[dict]:
    with browser.websocket(f"/ws/studio/selftests/{run_id}/") as ws:
        return events_until(ws, finished, timeout=timeout)


def all_lines(seen: list[dict]) -> list[str]:
    """What the page shows: the snapshot's lines, then the live ones it did not have yet."""
    lines, count = [], 0
    for event in seen:
        if event["kind"] == "snapshot":
            lines, count = event["output"].splitlines(), event["lines"]
        elif event["kind"] == "line" and event["n"] > count:
            lines.append(event["line"])
            count = event["n"]
    return lines


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def test_an_instructor_tests_a_lab_and_reads_each_phase_live(stack, instructor, sandboxes_removed_after):
    # The setup's sleep keeps the run going while the page connects: the phases arrive live.
    save_test_lab("st-honest", setup="sleep 3", steps=[HONEST_STEP])
    browser = Browser(stack, instructor)
    assert "Test this lab" in browser.get("/studio/lab/st-honest/").text

    response = browser.post("/studio/labs/st-honest/test/", {"version": "1"})
    assert response.status_code == 200, response.text
    run = SelfTestRun.objects.get(lab_slug="st-honest")
    assert f'data-ws-path="/ws/studio/selftests/{run.pk}/"' in response.text
    assert (run.trigger, run.requested_by, run.version.number) == ("studio", instructor, 1)

    again = browser.post("/studio/labs/st-honest/test/", {"version": "1"})
    assert again.status_code == 409 and "already" in again.text
    assert SelfTestRun.objects.filter(lab_slug="st-honest").count() == 1

    with browser.websocket(f"/ws/studio/selftests/{run.pk}/") as ws:
        seen = events_until(ws, lambda e: e["kind"] == "line" or e.get("state") == "running", timeout=60)
        # A live run beats: the reaper of interrupted runs leaves it alone.
        assert selftests.close_interrupted() == 0
        seen += events_until(ws, finished, timeout=120)

    assert seen[0]["kind"] == "snapshot"
    assert seen[-1] == {"kind": "state", "state": "passed"}
    lines = all_lines(seen)
    positions = [next(i for i, line in enumerate(lines) if phase in line) for phase in PHASES]
    assert positions == sorted(positions), lines
    assert all(" ok " in line for line in lines if any(phase in line for phase in PHASES)), lines
    live = [e["line"] for e in seen if e["kind"] == "line"]
    assert any("check passes after" in line for line in live), "the phases stream while the run goes on"

    run.refresh_from_db()
    assert run.state == "passed" and run.finished_at is not None
    assert run.output.splitlines() == lines
    edit_page = browser.get("/studio/lab/st-honest/").text
    assert "result-passed" in edit_page and f"/studio/selftests/{run.pk}/" in edit_page


def test_a_check_that_passes_before_the_work_fails_and_is_flagged_in_the_studio(
    stack, instructor, sandboxes_removed_after
):
    lab = save_test_lab("st-too-easy", steps=[{"check": "true", "solution": "true"}])
    save_test_lesson(97, lab, title="A lab that proves nothing")
    browser = Browser(stack, instructor)
    assert browser.post("/studio/labs/st-too-easy/test/").status_code == 200  # the newest version
    run = SelfTestRun.objects.get(lab_slug="st-too-easy")

    seen = watch_until_final(browser, run.pk)
    assert seen[-1]["state"] == "failed"
    failing = [line for line in all_lines(seen) if "check fails before" in line]
    assert failing and "FAIL" in failing[0] and "the check passed before the work was done" in failing[0]

    index = browser.get("/studio/").text
    row = index[index.index('data-day="97"') :].split("</tr>")[0]
    assert f'href="/studio/selftests/{run.pk}/"' in row and "result-failed" in row
    page = browser.get(f"/studio/selftests/{run.pk}/")
    assert page.status_code == 200 and "the check passed before the work was done" in page.text


def test_invalid_text_ends_in_error_naming_the_field(stack, instructor, sandboxes_removed_after):
    save_test_lab("st-broken")
    it = versions.item("lab", "st-broken")
    head = versions.head(it)
    assert "profile: standard" in head.text
    draft = ContentVersion.objects.create(  # a saved draft (saving keeps invalid text: work is never lost)
        kind="lab", key="st-broken", number=head.number + 1, text=head.text.replace("standard", "spaceship")
    )
    browser = Browser(stack, instructor)
    response = browser.post("/studio/labs/st-broken/test/", {"version": str(draft.number)})
    assert response.status_code == 200, response.text
    run = SelfTestRun.objects.get(lab_slug="st-broken")

    seen = watch_until_final(browser, run.pk)
    assert seen[-1]["state"] == "error"
    run.refresh_from_db()
    assert run.state == "error" and f"version {draft.number}" in run.output
    assert "profile: must be one of" in run.output and "nothing ran" in run.output


def test_a_learner_can_neither_test_nor_read_a_run(stack, learner):
    save_test_lab("st-private")
    run = SelfTestRun.objects.create(lab_slug="st-private", state="failed", output="what failed\n")
    browser = Browser(stack, learner)
    assert browser.post("/studio/labs/st-private/test/").status_code == 403
    assert browser.get(f"/studio/selftests/{run.pk}/").status_code == 403
    with pytest.raises(InvalidStatus) as refused:  # closed (4403) before the handshake completes
        browser.websocket(f"/ws/studio/selftests/{run.pk}/")
    assert refused.value.response.status_code == 403
    assert SelfTestRun.objects.count() == 1


def test_every_published_lab_is_self_tested_on_the_schedule_one_after_another(stack, sandboxes_removed_after):
    entry = settings.CELERY_BEAT_SCHEDULE["self-test-published-labs"]
    assert entry["task"] == "studio.tasks.self_test_published_labs"
    assert entry["schedule"] == settings.SELFTEST_HOURS * 3600
    assert "studio.tasks.close_interrupted_self_tests" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    for slug in ("st-nightly-a", "st-nightly-b"):
        save_test_lab(slug, setup="sleep 2", steps=[HONEST_STEP])

    assert tasks.self_test_published_labs() == 2  # queued on the stack's worker
    assert tasks.self_test_published_labs() == 0, "a lab still waiting is not queued twice"
    runs = SelfTestRun.objects.filter(trigger="schedule")
    running_at_once = 0
    deadline = time.monotonic() + 180
    while runs.exclude(state__in=FINAL).exists() and time.monotonic() < deadline:
        running_at_once = max(running_at_once, runs.filter(state="running").count())
        time.sleep(0.2)

    assert running_at_once == 1, "one lab after another, never all at once"
    assert sorted(runs.values_list("lab_slug", "state", "requested_by")) == [
        ("st-nightly-a", "passed", None),
        ("st-nightly-b", "passed", None),
    ]
    assert all("the published text" in run.output for run in runs)
    first, second = runs.get(lab_slug="st-nightly-a"), runs.get(lab_slug="st-nightly-b")
    assert first.finished_at <= second.finished_at


@pytest.fixture
def doomed_worker(transactional_db):
    """A worker on a queue of its own, to be killed mid-run (the stack's worker lives on)."""
    queue = f"selftest-doomed-{uuid.uuid4().hex[:6]}"
    log = LOGS / f"{queue}.log"
    LOGS.mkdir(parents=True, exist_ok=True)
    proc = start_worker(queue, log.name)
    try:
        wait_for(lambda: "ready" in log.read_text(), 30, "the doomed worker")
        yield proc, queue
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    log.unlink()


def test_a_run_whose_worker_is_killed_is_closed_as_interrupted(doomed_worker, sandboxes_removed_after):
    proc, queue = doomed_worker
    lab = save_test_lab("st-doomed", setup="sleep 120")
    run, task = selftests.record_run("st-doomed", files.lab_text(lab), None, SelfTestRun.STUDIO)
    task.set(queue=queue).apply_async()
    wait_for(lambda: "on host local" in SelfTestRun.objects.get(pk=run.pk).output, 60, "the run starting")

    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool process, mid-setup
    proc.wait(10)
    assert SelfTestRun.objects.get(pk=run.pk).state == "running"
    wait_for(lambda: selftests.close_interrupted() == 1, selftests.HEARTBEAT_TTL + 15, "the reaper closing it")

    run.refresh_from_db()
    assert run.state == "error" and run.finished_at is not None
    assert run.output.endswith("Interrupted: the worker running this test stopped.\n")
    still_active = SelfTestRun.objects.filter(lab_slug="st-doomed", state__in=selftests.ACTIVE)
    assert not still_active.exists(), '"Test this lab" is not held by the dead run'
