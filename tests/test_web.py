"""Accounts, roles, the course map and the day page; one learner never reaches another's session."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from labs.models import CheckRun
from sandboxes.models import LabSession, Sandbox
from tests.helpers import lesson_of

pytestmark = pytest.mark.django_db


def test_signup_creates_a_learner_and_logs_in(client, roles):
    response = client.post(
        reverse("signup"), {"username": "newbie", "password1": "a-long-pass-123!", "password2": "a-long-pass-123!"}
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert list(user.groups.values_list("name", flat=True)) == ["learner"]
    assert client.get(reverse("course:map")).status_code == 200


def test_login_and_logout(client, learner):
    assert client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"}).status_code == 302
    assert client.get(reverse("course:map")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("course:map")).status_code == 302


def test_roles_carry_their_permissions(learner, instructor, admin_user):
    assert not learner.has_perm("course.author_course")
    assert instructor.has_perm("course.author_course") and not instructor.has_perm("sandboxes.manage_sandboxes")
    assert admin_user.has_perm("sandboxes.manage_sandboxes")


def test_demo_users_command_creates_three_roles_and_prints_logins(roles, capsys):
    call_command("create_demo_users")
    out = capsys.readouterr().out
    for name in ("learner", "instructor", "admin"):
        assert User.objects.get(username=name).groups.filter(name=name).exists()
        assert name in out
    call_command("create_demo_users")  # idempotent
    assert User.objects.filter(username__in=["learner", "instructor", "admin"]).count() == 3


def test_course_map_lists_modules_and_days(client, learner, course):
    client.force_login(learner)
    page = client.get(reverse("course:map")).content.decode()
    assert "Module 1" in page and "Day 1" in page and "Day 3" in page


def test_the_home_page_lists_every_course_with_the_learners_progress_default_first(client, learner, course):
    from course.models import DayProgress

    client.force_login(learner)
    DayProgress.objects.create(user=learner, lesson=lesson_of(1, "docker-in-depth"), completed_at=timezone.now())
    DayProgress.objects.create(user=learner, lesson=lesson_of(2, "docker-in-depth"))
    page = client.get("/").content.decode()
    kubernetes = page.index('data-course="containers-to-kubernetes"')
    docker = page.index('data-course="docker-in-depth"')
    assert kubernetes < docker
    assert "0 of" in page[kubernetes:docker] and "Start with Day 1" in page[kubernetes:docker]
    assert "1 of 3" in page[docker:] and "/course/docker-in-depth/day/2/" in page[docker:]  # continue

    course_map = client.get(reverse("course:map", args=["docker-in-depth"])).content.decode()
    assert "Docker in depth" in course_map and "Module 6" in course_map and "1 of 3" in course_map
    assert 'href="/course/docker-in-depth/day/30/"' in course_map
    day = client.get("/course/docker-in-depth/day/1/").content.decode()
    assert lesson_of(1, "docker-in-depth").title in day and "/course/docker-in-depth/day/1/lab/" in day
    panel = client.get("/course/docker-in-depth/day/1/lab/").content.decode()
    assert 'hx-post="/sessions/start/docker-in-depth/1/"' in panel
    assert client.get("/course/no-such-course/").status_code == 404
    assert client.get("/course/docker-in-depth/day/99/").status_code == 404


def test_day_page_shows_lesson_quiz_and_start_button(client, learner, course):
    client.force_login(learner)
    page = client.get(reverse("workspace:day", args=[1])).content.decode()
    assert "Quiz" in page and "language-mermaid" in page
    # the learner's own lab panel is fetched by the page
    assert f'hx-get="{reverse("workspace:day_panel", args=["containers-to-kubernetes", 1])}"' in page
    assert 'id="start-lab"' in client.get(reverse("workspace:day_panel", args=[1])).content.decode()


def test_the_lesson_is_rendered_once_per_published_version(client, learner, course):
    from workspace import day

    day._articles.clear()  # other tests' lessons had these keys' pks
    client.force_login(learner)
    client.get(reverse("workspace:day", args=[1]))
    lesson = lesson_of(1)
    lesson.summary = "A new summary, published."
    lesson.save()
    assert "A new summary, published." in client.get(reverse("workspace:day", args=[1])).content.decode()
    kept = [key for key in day._articles if key[0] == lesson.pk]
    assert len(kept) == 2 and kept[-1][1] == lesson.updated_at


def test_anonymous_visitors_are_sent_to_login(client, course):
    assert client.get(reverse("workspace:day", args=[1])).status_code == 302


def make_session(user, lab, state=LabSession.READY):
    session = LabSession.objects.create(
        user=user, lab=lab, host="local", state=state, expires_at=timezone.now() + timezone.timedelta(hours=1)
    )
    Sandbox.objects.create(session=session, node="node1", name=f"x-{session.pk}", container_id="abc")
    return session


def test_other_learner_gets_404_on_every_session_url(client, learner, other_learner, course):

    session = make_session(learner, lesson_of(1).lab)
    client.force_login(other_learner)
    for url in (reverse("workspace:panel", args=[session.pk]), reverse("workspace:step", args=[session.pk, 1])):
        assert client.get(url).status_code == 404, url
    for url in (reverse("workspace:end", args=[session.pk]), reverse("workspace:check", args=[session.pk, 1])):
        assert client.post(url).status_code == 404, url
    assert not CheckRun.objects.exists()
    assert LabSession.objects.get(pk=session.pk).state == LabSession.READY


def test_state_changes_need_post_and_csrf(learner, course):
    from django.test import Client


    session = make_session(learner, lesson_of(1).lab)
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    assert client.get(reverse("workspace:end", args=[session.pk])).status_code == 405
    assert client.post(reverse("workspace:end", args=[session.pk])).status_code == 403
    assert client.post(reverse("workspace:check", args=[session.pk, 1])).status_code == 403


def test_a_second_check_of_the_same_step_is_refused_while_one_runs(client, learner, course):

    session = make_session(learner, lesson_of(1).lab)
    step = session.lab.steps.get(position=1)
    CheckRun.objects.create(session=session, step=step, user=learner)
    client.force_login(learner)
    response = client.post(reverse("workspace:check", args=[session.pk, 1]), HTTP_HX_REQUEST="true")
    assert "already being checked" in response.content.decode()
    assert CheckRun.objects.count() == 1


def test_starting_a_second_lab_offers_to_end_the_first(client, learner, course):

    make_session(learner, lesson_of(1).lab)
    client.force_login(learner)
    page = client.get(reverse("workspace:day_panel", args=[2])).content.decode()
    assert "You have a lab running for" in page and 'name="replace" value="1"' in page


def test_repeated_failed_logins_are_refused_for_a_while(client, learner, settings):
    from django.core.cache import cache
    from django.test import RequestFactory

    from accounts import throttle

    ours = throttle.keys(RequestFactory().post("/", REMOTE_ADDR="127.0.0.1"), "alice")
    cache.delete_many(ours)  # only this test's counters: the cache shares Redis with the stack
    settings.LOGIN_FAILURES_ALLOWED = 3
    for _ in range(3):
        assert client.post(reverse("login"), {"username": "alice", "password": "wrong"}).status_code == 200
    refused = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"})
    assert refused.status_code == 429 and "Too many failed attempts" in refused.content.decode()
    assert client.get(reverse("course:map")).status_code == 302  # not logged in
    cache.delete_many(ours)  # the lockout has passed
    assert client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"}).status_code == 302


def writes_while(client, url) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def test_reading_a_page_writes_nothing(client, learner, instructor, course):
    """The day page with failed checks past the point where the solution is offered, and the
    studio's editor and history: GET requests only read (the page reports a visit by POST)."""
    from labs import checks

    lesson = course_lesson_with_lab()
    session = LabSession.objects.create(
        user=learner, lab=lesson.lab, host="local", state=LabSession.READY, expires_at=timezone.now()
    )
    step = lesson.lab.steps.first()
    for _ in range(3):
        run = CheckRun.objects.create(session=session, step=step, user=learner)
        checks.finish(run, CheckRun.FAILED, 1, "not yet")
    client.force_login(learner)
    assert writes_while(client, reverse("workspace:day", args=[lesson.day])) == []
    assert writes_while(client, reverse("workspace:day_panel", args=[lesson.day])) == []
    assert writes_while(client, reverse("workspace:step", args=[session.pk, 1])) == []
    assert "solution" in client.get(reverse("workspace:step", args=[session.pk, 1])).content.decode()
    assert client.post(reverse("workspace:seen", args=[lesson.day])).status_code == 204
    assert "Continue: Day" in client.get(reverse("course:map")).content.decode()
    client.force_login(instructor)
    for kind, key in (("lesson", lesson.slug), ("lab", lesson.lab.slug)):
        assert writes_while(client, reverse("studio:edit", args=[kind, key])) == []
        assert writes_while(client, reverse("studio:history", args=[kind, key])) == []


def course_lesson_with_lab():
    from course.models import Lesson

    return Lesson.objects.filter(lab__isnull=False).select_related("lab").order_by("day").first()


def test_a_lab_ended_while_waiting_in_line_ends_at_once_without_a_worker(client, learner, course, settings):
    """No host had room, so nothing was made: ending it needs no worker's queue (there is none)."""
    settings.SANDBOX_HOST_SLOTS = 0
    client.force_login(learner)
    client.post(reverse("workspace:start", args=[1]))
    session = LabSession.objects.get(user=learner)
    assert session.state == LabSession.QUEUED and session.host == ""
    client.post(reverse("workspace:end", args=[session.pk]))
    session.refresh_from_db()
    assert session.state == LabSession.ENDED and session.ended_at is not None
    assert session.end_reason == "ended by the learner"
