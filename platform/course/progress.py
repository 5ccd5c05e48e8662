"""A learner's progress: which steps passed, which days are done."""

from django.utils import timezone

from course.models import DayProgress, Lesson
from labs.models import CheckRun, Lab


def passed_step_ids(user, lab: Lab | None) -> set[int]:
    if lab is None:
        return set()
    return set(
        CheckRun.objects.filter(user=user, step__lab=lab, state=CheckRun.PASSED).values_list("step_id", flat=True)
    )


def update_day_completion(user, lab: Lab) -> None:
    """Mark every day using this lab complete once all of its steps have passed."""
    step_ids = set(lab.steps.values_list("pk", flat=True))
    if not step_ids <= passed_step_ids(user, lab):
        return
    for lesson in Lesson.objects.filter(lab=lab):
        progress, _ = DayProgress.objects.get_or_create(user=user, lesson=lesson)
        if progress.completed_at is None:
            progress.completed_at = timezone.now()
            progress.save(update_fields=["completed_at"])


def day_states(user) -> dict[int, str]:
    """{day: "done" | "in progress"}; days missing are not started."""
    states = {}
    for progress in DayProgress.objects.filter(user=user).select_related("lesson"):
        states[progress.lesson.day] = "done" if progress.completed_at else "in progress"
    return states
