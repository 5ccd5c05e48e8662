"""Prove it: the lab self-test (labs/selftest.py) run from the studio, streamed to the page.

"Test this lab" records a SelfTestRun and queues it on a Docker host's own queue; the worker
parses the version's text, runs the self-test and appends every phase line to the run's output
(saved first, then sent to the run's channel-layer group, so a page that connects late reads the
start from the row and the rest live). On a schedule, every published lab is self-tested, one
after another, so content rot is caught before learners find it. A run whose worker died is
closed as interrupted: a live run keeps a heartbeat in the cache, a dead one stops beating.
"""

import logging
import threading
from datetime import timedelta

from asgiref.sync import async_to_sync
from celery import chain
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from labs import files
from labs.models import Lab
from labs.selftest import run_lab
from sandboxes import placement, queues
from studio import versions
from studio.models import ContentVersion, SelfTestRun

log = logging.getLogger(__name__)

ACTIVE = (SelfTestRun.QUEUED, SelfTestRun.RUNNING)
FINAL = (SelfTestRun.PASSED, SelfTestRun.FAILED, SelfTestRun.ERROR)
HEARTBEAT_SECONDS = 10  # how often a live run says so
HEARTBEAT_TTL = 30  # silence for this long: its worker is gone
STUDIO_QUEUE_LIMIT = timedelta(hours=1)  # a studio run waits only for its host's queue


class Refused(Exception):
    """The run cannot be queued; the message is for the instructor."""

    def __init__(self, message: str, active: SelfTestRun | None = None):
        super().__init__(message)
        self.active = active


# --- starting ---------------------------------------------------------------------------------
def start_self_test(
    lab_slug: str, text_or_version: str | ContentVersion, user, trigger: str = SelfTestRun.STUDIO
) -> SelfTestRun:
    """Record a run of this text (or saved version) and queue it on a Docker host. From the
    studio, one run of a lab at a time: a second is refused while one is queued or running."""
    run, task = record_run(lab_slug, text_or_version, user, trigger)
    transaction.on_commit(task.apply_async)
    return run


def record_run(lab_slug: str, text_or_version: str | ContentVersion, user, trigger: str):
    """The queued run and the task signature that will run it (not sent yet)."""
    if isinstance(text_or_version, ContentVersion):
        version, text = text_or_version, None  # the worker reads the version's own text
    else:
        version, text = version_with_text(lab_slug, text_or_version), text_or_version
    with transaction.atomic():
        # Locking the lab's row makes two clicks on "Test this lab" wait for each other.
        lab = Lab.objects.select_for_update().filter(slug=lab_slug).first()
        if lab is None:
            raise Refused(f"There is no lab {lab_slug!r}.")
        if trigger == SelfTestRun.STUDIO:
            active = SelfTestRun.objects.filter(lab_slug=lab_slug, trigger=SelfTestRun.STUDIO, state__in=ACTIVE).first()
            if active:
                raise Refused(f"A test of {lab_slug} is already {active.state}: wait for it to finish.", active)
        host = host_for(lab)
        run = SelfTestRun.objects.create(lab_slug=lab_slug, version=version, trigger=trigger, requested_by=user)
    task = queues.task_on_host(queues.RUN_SELF_TEST, host, run.pk, host, text)
    return run, task


def version_with_text(lab_slug: str, text: str) -> ContentVersion | None:
    """The newest saved version with exactly this text, so a run says which version it proved."""
    return ContentVersion.objects.filter(kind=versions.LAB, key=lab_slug, text=text).order_by("-number").first()


def host_for(lab: Lab) -> str:
    """The open host with the most room (placement's choice for a learner); when every host is
    full, the first open one still takes a self-test: it is short, and instructors wait for it."""
    host = placement.pick_host(lab.profile, len(lab.nodes), lab.image)
    if host is None:
        open_hosts = placement.open_hosts()
        if not open_hosts:
            raise Refused("Every Docker host is drained: no sandbox can start for the self-test.")
        host = open_hosts[0]
    return host


# --- running (worker side) --------------------------------------------------------------------
def run_self_test(run_id: int, host: str, text: str | None = None) -> None:
    """Run a queued self-test on `host` and stream it; a retried task whose run was taken or
    closed meanwhile does nothing."""
    heartbeat = Heartbeat(run_id)
    heartbeat.mark()  # before the claim: the reaper never sees this run running and silent
    if not SelfTestRun.objects.filter(pk=run_id, state=SelfTestRun.QUEUED).update(state=SelfTestRun.RUNNING):
        return
    with heartbeat:  # finished while still beating: the reaper never catches it in between
        publish(run_id, "state", state=SelfTestRun.RUNNING)
        finish(run_id, execute(SelfTestRun.objects.select_related("version").get(pk=run_id), host, text))


def execute(run: SelfTestRun, host: str, text: str | None) -> str:
    """Parse the text, run the lab's self-test with every line in the transcript; the final state."""
    transcript = Transcript(run.pk)
    described = f"version {run.version.number}" if run.version else "the published text"
    transcript.say(f"Self-test of {run.lab_slug} ({described}) on host {host}")
    if text is None:
        text = run.version.text if run.version else files.lab_text(Lab.objects.get(slug=run.lab_slug))
    try:
        lab = versions.parse(versions.Item(versions.LAB, run.lab_slug), text)
    except versions.Invalid as e:
        transcript.say("The text is not a valid lab, so nothing ran:")
        for error in e.errors:
            transcript.say(f"  line {error.line}, {error.field}: {error.message}")
        return SelfTestRun.ERROR
    try:
        result = run_lab(lab, host, say=transcript.say, verbose=True)
    except Exception as e:  # noqa: BLE001 - a broken run ends as an error, never a stuck row
        log.exception("self-test %s of %s broke", run.pk, run.lab_slug)
        transcript.say(f"The self-test could not finish: {e}")
        return SelfTestRun.ERROR
    failed = [f"{r.step} {r.phase}" for r in result.results if not r.ok]
    transcript.say(f"FAILED: {', '.join(failed)}" if failed else "PASSED: every phase proved the lab")
    return SelfTestRun.PASSED if result.ok else SelfTestRun.FAILED


class Transcript:
    """A run's output as it grows. Each line is saved before it is sent, so a page that connects
    late reads what it missed from the row, and numbers tell it which live lines it already has.
    A self-test says a few dozen lines: saving every one is cheap."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.lines.append(line)
            SelfTestRun.objects.filter(pk=self.run_id).update(output="\n".join(self.lines) + "\n")
            publish(self.run_id, "line", n=len(self.lines), line=line)


def finish(run_id: int, state: str) -> None:
    SelfTestRun.objects.filter(pk=run_id).update(state=state, finished_at=timezone.now())
    publish(run_id, "state", state=state)


def group_name(run_id: int) -> str:
    return f"selftest.{run_id}"


def publish(run_id: int, kind: str, **data) -> None:
    """Tell the pages watching this run; a lost message costs them a live line, never the run
    (the row has every line)."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            group_name(run_id), {"type": "selftest.event", "event": {"kind": kind, **data}}
        )
    except Exception as e:  # noqa: BLE001 - the channel layer is a convenience here
        log.warning("self-test %s: event %s not sent: %s", run_id, kind, e)


# --- interrupted runs ---------------------------------------------------------------------------
def heartbeat_key(run_id: int) -> str:
    return f"studio-selftest-alive-{run_id}"


class Heartbeat:
    """While a worker holds a run, a thread marks it alive in the (shared) cache. A killed worker
    stops marking it, so the reaper can tell a long run from a dead one without guessing a time."""

    def __init__(self, run_id: int):
        self.key = heartbeat_key(run_id)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.beat, name=f"selftest-heartbeat-{run_id}", daemon=True)

    def beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            self.mark()

    def mark(self) -> None:
        try:
            cache.set(self.key, 1, HEARTBEAT_TTL)
        except Exception as e:  # noqa: BLE001 - a cache hiccup must not stop the run
            log.warning("self-test heartbeat %s not recorded: %s", self.key, e)

    def __enter__(self):
        self.mark()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()
        cache.delete(self.key)


def close_interrupted(now=None) -> int:
    """On the beat schedule: a running run whose heartbeat stopped (its worker was killed) and a
    queued one whose task can no longer come (lost with its broker, or left behind by a broken
    schedule) are closed as errors, so the studio never shows them running for ever and
    "Test this lab" works again."""
    now = now or timezone.now()
    closed = 0
    for run_id in SelfTestRun.objects.filter(state=SelfTestRun.RUNNING).values_list("pk", flat=True):
        if cache.get(heartbeat_key(run_id)) is None:
            closed += close(run_id, SelfTestRun.RUNNING, "Interrupted: the worker running this test stopped.")
    # A scheduled run may wait its turn behind the rest of the course, until the next round.
    stale = SelfTestRun.objects.filter(state=SelfTestRun.QUEUED).filter(
        Q(trigger=SelfTestRun.STUDIO, created_at__lt=now - STUDIO_QUEUE_LIMIT)
        | Q(trigger=SelfTestRun.SCHEDULE, created_at__lt=now - timedelta(hours=settings.SELFTEST_HOURS))
    )
    for run_id in stale.values_list("pk", flat=True):
        closed += close(run_id, SelfTestRun.QUEUED, "Never started: no worker took this test in time.")
    return closed


def close(run_id: int, expected_state: str, reason: str) -> int:
    """Close a run still in `expected_state` (a conditional update: two reapers never both close it)."""
    count = SelfTestRun.objects.filter(pk=run_id, state=expected_state).update(
        state=SelfTestRun.ERROR, finished_at=timezone.now(), output=Concat(F("output"), Value(reason + "\n"))
    )
    if count:
        lines = SelfTestRun.objects.get(pk=run_id).output.count("\n")
        publish(run_id, "line", n=lines, line=reason)
        publish(run_id, "state", state=SelfTestRun.ERROR)
    return count


# --- the schedule -------------------------------------------------------------------------------
def schedule_published_labs() -> list[SelfTestRun]:
    """Queue a self-test of every published lab's text (what learners get now), as one chain: one
    lab after another, never forty sandboxes at once. A lab still waiting from the last round
    is not queued twice."""
    waiting = set(
        SelfTestRun.objects.filter(trigger=SelfTestRun.SCHEDULE, state__in=ACTIVE).values_list("lab_slug", flat=True)
    )
    runs, tasks = [], []
    try:
        with transaction.atomic():
            for lab in Lab.objects.exclude(slug__in=waiting).prefetch_related("steps").order_by("slug"):
                run, task = record_run(lab.slug, files.lab_text(lab), None, SelfTestRun.SCHEDULE)
                runs.append(run)
                tasks.append(task)
            if tasks:
                transaction.on_commit(chain(*tasks).apply_async)
    except Refused as e:
        log.warning("scheduled self-tests not queued: %s", e)
        return []
    return runs
