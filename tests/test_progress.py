"""Progress: the quiz is graded in place, a day is done when its lab and its quiz are, streaks."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from course.models import DayProgress, QuizAttempt
from course.progress import streak, update_day_completion
from labs.models import CheckRun
from sandboxes.models import LabSession
from tests.helpers import lesson_of

pytestmark = pytest.mark.django_db


def answer(client, day, number, choice, htmx=True):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("workspace:quiz", args=[day, number]), {"choice": choice}, **headers)


def pass_every_step(user, lab):
    session = LabSession.objects.create(
        user=user, lab=lab, host="local", state=LabSession.READY, expires_at=timezone.now() + timedelta(hours=1)
    )
    for step in lab.steps.all():
        CheckRun.objects.create(session=session, step=step, user=user, state=CheckRun.PASSED)
    update_day_completion(user, lab)


def test_a_quiz_answer_is_graded_and_explained_in_place(client, learner, course):
    client.force_login(learner)
    lesson = lesson_of(1)
    first = lesson.quiz[0]
    wrong = next(n for n in range(1, len(first["choices"]) + 1) if n != first["answer"])
    page = answer(client, 1, 1, wrong).content.decode()
    assert "Not this one" in page and first["explanation"][:40] in page.replace("&#x27;", "'")
    page = answer(client, 1, 1, first["answer"]).content.decode()
    assert "✓ Right." in page
    assert list(QuizAttempt.objects.filter(user=learner).values_list("correct", flat=True).order_by("pk")) == [
        False,
        True,
    ]
    # without htmx the form still works: back to the question on the day page
    response = answer(client, 1, 2, 1, htmx=False)
    assert response.status_code == 302 and response.url.endswith("#question-2")


def test_bad_quiz_answers_are_refused(client, learner, course):
    client.force_login(learner)
    assert answer(client, 1, 1, "x").status_code == 400
    assert answer(client, 1, 1, 99).status_code == 400
    assert answer(client, 1, 42, 1).status_code == 400
    assert client.get(reverse("workspace:quiz", args=[1, 1])).status_code == 405
    assert not QuizAttempt.objects.exists()


def test_a_day_is_done_only_when_both_its_lab_and_its_quiz_are(client, learner, course):
    client.force_login(learner)
    lesson = lesson_of(1)
    pass_every_step(learner, lesson.lab)
    assert DayProgress.objects.get(user=learner, lesson=lesson).completed_at is None  # quiz still open
    for number, question in enumerate(lesson.quiz, start=1):
        answer(client, 1, number, question["answer"])
    progress = DayProgress.objects.get(user=learner, lesson=lesson)
    assert progress.quiz_passed and progress.completed_at is not None
    assert "Day 1 is done" in client.get(reverse("workspace:day", args=[1])).content.decode()
    # a later wrong answer does not take a right one back
    wrong = 1 if lesson.quiz[0]["answer"] != 1 else 2
    answer(client, 1, 1, wrong)
    assert DayProgress.objects.get(user=learner, lesson=lesson).quiz_passed


def test_the_quiz_alone_does_not_finish_a_day_with_a_lab(client, learner, course):
    client.force_login(learner)
    lesson = lesson_of(2)
    for number, question in enumerate(lesson.quiz, start=1):
        answer(client, 2, number, question["answer"])
    progress = DayProgress.objects.get(user=learner, lesson=lesson)
    assert progress.quiz_passed and progress.completed_at is None


def test_streak_counts_days_in_a_row_with_learning(client, learner, course):
    lesson = lesson_of(1)
    today = timezone.localdate()
    assert streak(learner) == 0
    for days_ago in (1, 2, 4):  # yesterday and the day before in a row; a gap before that
        attempt = QuizAttempt.objects.create(user=learner, lesson=lesson, question=1, choice=1, correct=False)
        QuizAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    assert streak(learner, today) == 2  # today not yet active: the streak still stands
    QuizAttempt.objects.create(user=learner, lesson=lesson, question=1, choice=1, correct=False)
    assert streak(learner, today) == 3
    client.force_login(learner)
    assert "3-day streak" in client.get(reverse("course:map")).content.decode()
