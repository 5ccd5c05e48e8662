"""What the lab panel of a day's page shows, for one learner."""

from django.conf import settings

from course.models import Lesson
from course.progress import passed_step_ids
from labs.models import CheckRun, SolutionReveal, Step
from sandboxes.models import LabSession


def live_session(user, lab) -> LabSession | None:
    return LabSession.objects.filter(user=user, lab=lab, state__in=LabSession.LIVE_STATES).first()


def step_context(user, step: Step, session: LabSession | None, passed: set[int]) -> dict:
    last = CheckRun.objects.filter(user=user, step=step).first()
    failures = CheckRun.objects.filter(user=user, step=step, state__in=[CheckRun.FAILED, CheckRun.TIMED_OUT]).count()
    revealed = SolutionReveal.objects.filter(user=user, step=step).exists()
    if not revealed and failures >= settings.SOLUTION_AFTER_FAILURES:
        SolutionReveal.objects.get_or_create(
            user=user, step=step, defaults={"session": session, "reason": SolutionReveal.AFTER_FAILURES}
        )
        revealed = True
    return {
        "step": step,
        "last_run": last,
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
        "other_session": other,
        "other_lesson": other.lab.lessons.first() if other else None,
        "steps": [step_context(user, step, session, passed) for step in lab.steps.all()],
        "passed_count": len(passed),
    }
