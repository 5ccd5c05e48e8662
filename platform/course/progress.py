"""A learner's progress: which steps passed, which days are done."""

from datetime import timedelta

from django.utils import timezone

from course.models import DayProgress, Lesson, QuizAttempt
from labs.models import CheckRun, Lab


def passed_step_ids(user, lab: Lab | None) -> set[int]:
    if lab is None:
        return set()
    return set(
        CheckRun.objects.filter(user=user, step__lab=lab, state=CheckRun.PASSED).values_list("step_id", flat=True)
    )


def update_day_completion(user, lab: Lab) -> None:
    """After a check passed: every day using this lab may now be complete."""
    for lesson in Lesson.objects.filter(lab=lab):
        refresh_day_completion(user, lesson)


def lab_done(user, lab: Lab | None) -> bool:
    if lab is None:
        return True
    return set(lab.steps.values_list("pk", flat=True)) <= passed_step_ids(user, lab)


def refresh_day_completion(user, lesson: Lesson) -> DayProgress:
    """A day is done when every step of its lab has passed and every quiz question was answered right."""
    progress, _ = DayProgress.objects.get_or_create(user=user, lesson=lesson)
    if progress.completed_at is None and (progress.quiz_passed or not lesson.quiz) and lab_done(user, lesson.lab):
        progress.completed_at = timezone.now()
        progress.save(update_fields=["completed_at"])
    return progress


def answer_question(user, lesson: Lesson, number: int, choice: int) -> DayProgress:
    """Record an answer (1-based question and choice, already validated) and what it changes."""
    correct = lesson.quiz[number - 1]["answer"] == choice
    QuizAttempt.objects.create(user=user, lesson=lesson, question=number, choice=choice, correct=correct)
    progress, _ = DayProgress.objects.get_or_create(user=user, lesson=lesson)
    if correct or not progress.quiz_answers.get(str(number), {}).get("correct"):
        progress.quiz_answers[str(number)] = {"choice": choice, "correct": correct}
    progress.quiz_passed = all(
        progress.quiz_answers.get(str(n), {}).get("correct") for n in range(1, len(lesson.quiz) + 1)
    )
    progress.save(update_fields=["quiz_answers", "quiz_passed"])
    return refresh_day_completion(user, lesson)


def streak(user, today=None, course=None) -> int:
    """Calendar days in a row, up to today, with some learning done (a check, a quiz answer), in
    one course or in any. A streak still counts until the learner's first activity of the day."""
    today = today or timezone.localdate()
    checks, answers = CheckRun.objects.filter(user=user), QuizAttempt.objects.filter(user=user)
    if course is not None:
        checks, answers = checks.filter(step__lab__lessons__course=course), answers.filter(lesson__course=course)
    stamps = list(checks.values_list("started_at", flat=True)) + list(answers.values_list("created_at", flat=True))
    active = {timezone.localdate(stamp) for stamp in stamps}
    day = today if today in active else today - timedelta(days=1)
    count = 0
    while day in active:
        count += 1
        day -= timedelta(days=1)
    return count


def day_states(user) -> dict[int, str]:
    """{lesson id: "done" | "in progress"}, every course; lessons missing are not started."""
    return {
        lesson_id: "done" if completed_at else "in progress"
        for lesson_id, completed_at in DayProgress.objects.filter(user=user).values_list("lesson_id", "completed_at")
    }
