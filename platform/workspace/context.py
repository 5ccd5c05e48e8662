"""What the lab panel of a day's page shows, for one learner. Reading it writes nothing."""

from django.conf import settings
from django.db.models import Count, Max, Subquery

from course.models import Lesson
from course.progress import passed_step_ids
from labs.models import CheckRun, SolutionReveal, Step
from sandboxes import pressure
from sandboxes.lifecycle import kept_sandbox
from sandboxes.limits import limit
from sandboxes.models import LabSession
from terminals.models import Recording


def live_session(user, lab) -> LabSession | None:
    return LabSession.objects.filter(user=user, lab=lab, state__in=LabSession.LIVE_STATES).first()


class StepHistory:
    """A learner's check runs and reveals on some steps, read in three queries whatever their number."""

    def __init__(self, user, steps: list[Step]):
        runs = CheckRun.objects.filter(user=user, step__in=steps)
        latest = runs.values("step_id").annotate(last=Max("pk")).values("last")
        self.last_run = {run.step_id: run for run in CheckRun.objects.filter(pk__in=Subquery(latest))}
        self.failures = dict(
            runs.filter(state__in=[CheckRun.FAILED, CheckRun.TIMED_OUT])
            .values("step_id")
            .annotate(n=Count("pk"))
            .values_list("step_id", "n")
        )
        self.revealed = set(SolutionReveal.objects.filter(user=user, step__in=steps).values_list("step_id", flat=True))


def step_context(user, step: Step, session: LabSession | None, passed: set[int], history=None) -> dict:
    history = history or StepHistory(user, [step])
    failures = history.failures.get(step.pk, 0)
    # Offered after repeated failures (the check that made it so recorded the reveal: labs/checks.py).
    revealed = step.pk in history.revealed or failures >= settings.SOLUTION_AFTER_FAILURES
    return {
        "step": step,
        "last_run": history.last_run.get(step.pk),
        "passed": step.pk in passed,
        "session": session,
        "solution_shown": revealed,
        "failures_before_solution": max(0, settings.SOLUTION_AFTER_FAILURES - failures),
    }


def lab_panel_context(user, lesson: Lesson, session: LabSession | None = None) -> dict:
    lab = lesson.lab
    if lab is None:
        return {"lab": None}
    session = session or live_session(user, lab)
    last_session = session or LabSession.objects.filter(user=user, lab=lab).first()
    passed = passed_step_ids(user, lab)
    steps = list(lab.steps.all())
    history = StepHistory(user, steps)
    other = (
        LabSession.objects.filter(user=user, state__in=LabSession.LIVE_STATES)
        .exclude(lab=lab)
        .select_related("lab")
        .first()
    )
    return {
        "lab": lab,
        "session": session,
        "last_session": last_session,
        "ended_for_pressure": bool(last_session and pressure.ended_for_pressure(last_session)),
        "other_session": other,
        "other_lesson": other.lab.lessons.first() if other else None,
        "steps": [step_context(user, step, session, passed, history) for step in steps],
        "passed_count": len(passed),
        "kept": None if session else kept_sandbox(user, lab),
        "keep_days": limit("SANDBOX_KEEP_DAYS") if len(lab.nodes) == 1 else 0,
        "recordings": Recording.objects.filter(session__user=user, session__lab=lab).exclude(size=0)[:6],
    }
