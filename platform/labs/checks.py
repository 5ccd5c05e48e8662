"""Running a step's check inside the learner's sandbox and streaming what it prints."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from course.progress import update_day_completion
from labs import runner
from labs.models import CheckRun, SolutionReveal, Step
from sandboxes import events, queues
from sandboxes.backends import get_backend
from sandboxes.backends.base import SandboxError
from sandboxes.models import LabSession

log = logging.getLogger(__name__)


class CheckRefused(Exception):
    pass


def start_check(session: LabSession, step: Step) -> CheckRun:
    """Record a running check (one at a time per learner and step) and queue it."""
    if session.state != LabSession.READY:
        raise CheckRefused("The sandbox is not ready.")
    try:
        with transaction.atomic():
            run = CheckRun.objects.create(session=session, step=step, user=session.user)
            queues.send_to_host(queues.RUN_CHECK, session.host, run.pk)
    except IntegrityError:
        raise CheckRefused("This step is already being checked.") from None
    return run


def run_check(check_run_id: int) -> None:
    """Run a recorded check in the learner's sandbox (labs/runner.py, as labtest does), streaming
    each line to the learner's page and keeping the result."""
    run = CheckRun.objects.select_related("session__lab", "step").get(pk=check_run_id)
    if run.state != CheckRun.RUNNING:
        return  # a retried task whose work is done
    session, step = run.session, run.step.definition()
    started = time.monotonic()
    LabSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())

    def line_out(line: str) -> None:
        events.publish(session.pk, "check.output", run=run.pk, step=run.step.position, line=line)

    ids = {sandbox.node: sandbox.container_id for sandbox in session.sandboxes.all()}
    try:
        result = runner.run_check(get_backend(session.host), ids, session.lab.definition(), step, line_out)
    except SandboxError as e:
        log.warning("check %s could not run: %s", run.pk, e)
        finish(run, CheckRun.ERROR, None, e.learner_message)
        return
    output = result.output
    if result.timed_out:
        state = CheckRun.TIMED_OUT
        note = f"The check did not finish within {step.timeout_seconds} s and was stopped."
        output = (output + "\n" + note).strip()
        line_out(note)
    else:
        state = CheckRun.PASSED if result.exit_code == 0 else CheckRun.FAILED
    log.info("check %s step %s: %s in %.2f s", run.pk, run.step.position, state, time.monotonic() - started)
    finish(run, state, result.exit_code, output)


def finish(run: CheckRun, state: str, exit_code: int | None, output: str) -> None:
    CheckRun.objects.filter(pk=run.pk, state=CheckRun.RUNNING).update(
        state=state, exit_code=exit_code, output=output, finished_at=timezone.now()
    )
    events.publish(run.session_id, "check.result", run=run.pk, step=run.step.position, state=state)
    if state in (CheckRun.FAILED, CheckRun.TIMED_OUT):
        offer_solution(run)
    if state == CheckRun.PASSED:
        update_day_completion(run.user, run.step.lab)


def offer_solution(run: CheckRun) -> None:
    """After SOLUTION_AFTER_FAILURES failed checks of a step, its solution is shown: recorded here,
    once, so the page that shows it only reads."""
    failed = CheckRun.objects.filter(
        user=run.user, step=run.step, state__in=[CheckRun.FAILED, CheckRun.TIMED_OUT]
    ).count()
    if failed >= settings.SOLUTION_AFTER_FAILURES:
        SolutionReveal.objects.get_or_create(
            user=run.user, step=run.step, defaults={"session": run.session, "reason": SolutionReveal.AFTER_FAILURES}
        )


def close_interrupted(host: str, now) -> int:
    """A check whose worker died (SIGKILL, a lost machine) would stay "running" until the broker
    redelivers it, an hour later: past its own timeout and a minute more, it is closed with a
    message, and the learner can check again."""
    closed = 0
    stale = CheckRun.objects.filter(
        session__host=host, state=CheckRun.RUNNING, started_at__lt=now - timedelta(seconds=60)
    ).select_related("step", "session")
    for run in stale:
        if run.started_at + timedelta(seconds=run.step.timeout_seconds + 60) < now:
            finish(
                run, CheckRun.ERROR, None, "The check was interrupted (the worker running it stopped). Run it again."
            )
            closed += 1
    return closed
