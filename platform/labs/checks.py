"""Running a step's check inside the learner's sandbox and streaming what it prints."""

import logging
import time

from django.db import IntegrityError, transaction
from django.utils import timezone

from labs.models import CheckRun, Step
from sandboxes import architecture, events
from sandboxes.backends import get_backend
from sandboxes.backends.base import SandboxError
from sandboxes.models import LabSession

log = logging.getLogger(__name__)


class CheckRefused(Exception):
    pass


def start_check(session: LabSession, step: Step) -> CheckRun:
    """Record a running check (one at a time per learner and step) and queue it."""
    from labs.tasks import run_check_task

    if session.state != LabSession.READY:
        raise CheckRefused("The sandbox is not ready.")
    try:
        with transaction.atomic():
            run = CheckRun.objects.create(session=session, step=step, user=session.user)
            transaction.on_commit(lambda: run_check_task.apply_async(args=[run.pk], queue=f"sandboxes.{session.host}"))
    except IntegrityError:
        raise CheckRefused("This step is already being checked.") from None
    return run


def run_check(check_run_id: int) -> None:
    run = CheckRun.objects.select_related("session__lab", "step").get(pk=check_run_id)
    if run.state != CheckRun.RUNNING:
        return  # a retried task whose work is done
    session, step = run.session, run.step
    sandbox = session.sandboxes.filter(node=step.node).first() or session.sandboxes.first()
    started = time.monotonic()
    LabSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())

    def line_out(line: str) -> None:
        events.publish(session.pk, "check.output", run=run.pk, step=step.position, line=line)

    backend = get_backend(session.host)
    try:
        result = backend.exec(sandbox.container_id, step.check_script, timeout=step.timeout_seconds, on_output=line_out)
        if step.check_architecture:
            result = architecture.verify(backend, sandbox.container_id, session.lab.architecture, result, line_out)
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
    log.info("check %s step %s: %s in %.2f s", run.pk, step.position, state, time.monotonic() - started)
    finish(run, state, result.exit_code, output)


def finish(run: CheckRun, state: str, exit_code: int | None, output: str) -> None:
    CheckRun.objects.filter(pk=run.pk, state=CheckRun.RUNNING).update(
        state=state, exit_code=exit_code, output=output, finished_at=timezone.now()
    )
    events.publish(run.session_id, "check.result", run=run.pk, step=run.step.position, state=state)
    if state == CheckRun.PASSED:
        from course.progress import update_day_completion

        update_day_completion(run.user, run.step.lab)
