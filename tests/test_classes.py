"""Classes: an instructor creates one for a course and shares its invite link; learners join;
the instructor follows their progress in that course (days, due dates, stuck steps, last
activity), exports it as CSV and may watch their terminals. Nobody else sees the class."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from classes.models import Classroom, Membership
from course.models import DayProgress
from labs.models import CheckRun
from sandboxes.models import LabSession
from tests.conftest import make_user
from tests.helpers import lesson_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def classroom(client, instructor, course):
    client.force_login(instructor)
    response = client.post(
        reverse("classes:create"),
        {"name": "Platform team, spring", "course": course_id("containers-to-kubernetes"), "starts_on": "2026-12-01"},
    )
    classroom = Classroom.objects.get(name="Platform team, spring")
    assert response.status_code == 302 and response.url == reverse("classes:detail", args=[classroom.pk])
    client.logout()
    return classroom


def course_id(slug):
    from course.models import Course

    return Course.objects.get(slug=slug).pk


def join(client, user, classroom):
    client.force_login(user)
    link = reverse("classes:join", args=[classroom.invite_code])
    page = client.get(link).content.decode()
    assert classroom.name in page and "Join the class" in page
    assert client.post(link).url == reverse("course:map", args=["containers-to-kubernetes"])


def failed_checks(user, lesson, position, count):
    session = LabSession.objects.create(
        user=user, lab=lesson.lab, host="local", state=LabSession.READY, expires_at=timezone.now() + timedelta(hours=1)
    )
    step = lesson.lab.steps.get(position=position)
    for _ in range(count):
        CheckRun.objects.create(
            session=session, step=step, user=user, state=CheckRun.FAILED, finished_at=timezone.now()
        )
    return session


def test_only_instructors_and_admins_create_classes(client, learner, course):
    client.force_login(learner)
    assert "New class" not in client.get(reverse("classes:index")).content.decode()
    response = client.post(reverse("classes:create"), {"name": "Mine", "course": course_id("docker-in-depth")})
    assert response.status_code == 403 and not Classroom.objects.exists()


def test_a_class_is_created_with_a_clear_error_for_a_missing_name(client, instructor, course):
    client.force_login(instructor)
    response = client.post(reverse("classes:create"), {"name": "", "course": course_id("docker-in-depth")})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert not Classroom.objects.exists()


def test_a_learner_joins_by_the_invite_link_once(client, classroom, learner):
    join(client, learner, classroom)
    join_again = client.post(reverse("classes:join", args=[classroom.invite_code]))
    assert join_again.status_code == 302 and Membership.objects.filter(classroom=classroom).count() == 1
    assert (
        "You are in this class already"
        in client.get(reverse("classes:join", args=[classroom.invite_code])).content.decode()
    )
    page = client.get(reverse("classes:index")).content.decode()
    assert "Platform team, spring" in page and "taught by ivan" in page
    assert client.get(reverse("classes:detail", args=[classroom.pk])).status_code == 404  # a learner sees no progress


def test_a_new_invite_link_retires_the_old_one(client, classroom, instructor, learner):
    old = classroom.invite_code
    client.force_login(instructor)
    client.post(reverse("classes:invite", args=[classroom.pk]))
    classroom.refresh_from_db()
    assert classroom.invite_code != old
    client.force_login(learner)
    response = client.get(reverse("classes:join", args=[old]))
    assert response.status_code == 404 and "Ask your teacher for the current link" in response.content.decode()
    assert client.post(reverse("classes:join", args=[old])).status_code == 404
    assert not Membership.objects.exists()


def test_the_teacher_sees_each_learners_days_due_dates_stuck_steps_and_exports_them(
    client, classroom, instructor, learner, other_learner
):
    join(client, learner, classroom)
    join(client, other_learner, classroom)
    day1, day2, day15 = (lesson_of(day) for day in (1, 2, 15))
    DayProgress.objects.create(user=learner, lesson=day1, completed_at=timezone.now())
    DayProgress.objects.create(user=learner, lesson=day2)
    DayProgress.objects.create(user=other_learner, lesson=lesson_of(1, "docker-in-depth"), completed_at=timezone.now())
    failed_checks(other_learner, day15, 2, 3)  # three failures in a row on day 15's step 2: stuck

    client.force_login(instructor)
    yesterday = timezone.localdate() - timedelta(days=1)
    client.post(reverse("classes:due", args=[classroom.pk]), {"day": 2, "due_on": yesterday.isoformat()})
    client.post(reverse("classes:due", args=[classroom.pk]), {"day": 3, "due_on": "2099-01-01"})
    response = client.post(
        reverse("classes:due", args=[classroom.pk]), {"day": 41, "due_on": "2099-01-01"}, follow=True
    )
    assert "has no day 41" in response.content.decode()

    page = client.get(reverse("classes:detail", args=[classroom.pk])).content.decode()
    assert "2 learners" in page and classroom.invite_code in page
    alice = page[page.index('data-learner="alice"') :]
    alice = alice[: alice.index("</tr>")]
    assert "1 / 40" in alice and 'class="cell state-done" data-day="1"' in alice
    assert 'class="cell state-in-progress overdue" data-day="2"' in alice and "never" not in alice
    mallory = page[page.index('data-learner="mallory"') :]
    mallory = mallory[: mallory.index("</tr>")]
    assert "0 / 40" in mallory  # a day done in the other course does not count here
    step_title = day15.lab.steps.get(position=2).title
    assert f'title="{step_title}"><strong class="bad">Day 15, step 2</strong> 3 failed' in mallory
    assert "Watch" in mallory and 'class="cell state-none overdue" data-day="2"' in mallory

    export = client.get(reverse("classes:export", args=[classroom.pk]))
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [r["learner"] for r in rows] == ["alice", "mallory"]
    assert rows[0]["day 1"] == "done" and rows[0]["day 2"] == "in progress, overdue" and rows[0]["days done"] == "1"
    assert (
        rows[1]["day 2"] == "overdue"
        and rows[1]["day 3"] == ""
        and rows[1]["stuck on"] == "day 15 step 2 (3 failed checks)"
    )
    assert rows[0]["last activity"] and len(rows[0]) == 4 + 40

    client.post(reverse("classes:due", args=[classroom.pk]), {"day": 2, "due_on": ""})  # no due date any more
    rows = list(
        csv.DictReader(io.StringIO(client.get(reverse("classes:export", args=[classroom.pk])).content.decode()))
    )
    assert rows[0]["day 2"] == "in progress" and rows[1]["day 2"] == ""


def test_a_pass_ends_being_stuck(client, classroom, instructor, learner):
    join(client, learner, classroom)
    day15 = lesson_of(15)
    session = failed_checks(learner, day15, 1, 4)
    CheckRun.objects.create(
        session=session,
        step=day15.lab.steps.get(position=1),
        user=learner,
        state=CheckRun.PASSED,
        finished_at=timezone.now(),
    )
    client.force_login(instructor)
    page = client.get(reverse("classes:detail", args=[classroom.pk])).content.decode()
    assert "failed checks)" not in page


def test_only_the_teacher_or_an_admin_sees_a_class_and_watches_its_learners(
    client, classroom, roles, learner, other_learner, admin_user
):
    join(client, learner, classroom)
    member_session = failed_checks(learner, lesson_of(15), 1, 0)
    stranger_session = failed_checks(other_learner, lesson_of(15), 1, 0)  # not in the class
    other_teacher = make_user(roles, "otto", "instructor")

    client.force_login(other_teacher)
    for name in ("detail", "export"):
        assert client.get(reverse(f"classes:{name}", args=[classroom.pk])).status_code == 404
    assert client.post(reverse("classes:invite", args=[classroom.pk])).status_code == 404
    assert client.get(reverse("console:watch", args=[member_session.pk])).status_code == 403
    assert f'data-class="{classroom.pk}"' not in client.get(reverse("classes:index")).content.decode()

    client.force_login(classroom.teacher)
    assert client.get(reverse("console:watch", args=[member_session.pk])).status_code == 200
    assert client.get(reverse("console:watch", args=[stranger_session.pk])).status_code == 403
    assert client.get(reverse("console:index")).status_code == 403  # watching is all a teacher may do there

    client.force_login(admin_user)
    assert client.get(reverse("classes:detail", args=[classroom.pk])).status_code == 200
    assert f'data-class="{classroom.pk}"' in client.get(reverse("classes:index")).content.decode()
    assert client.get(reverse("console:watch", args=[stranger_session.pk])).status_code == 200
