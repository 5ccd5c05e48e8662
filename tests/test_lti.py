"""LTI 1.3, end to end in Chromium, against a real learning platform run by the test (a Django
project around lti1p3platform: tests/lms/): an instructor adds a day of Berth to their course by
deep linking; a learner launches it from the platform and lands on the day, signed in; the day
done, Berth's worker sends the grade back (Assignment and Grade Services) and the platform has it."""

import json
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import ROOT, free_port, peer_env, peer_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.stack, pytest.mark.e2e]


@pytest.fixture
def learning_platform(tmp_path, stack):
    port = free_port()
    url = f"http://127.0.0.1:{port}"  # the same site as Berth's test server, as a real one would be set up for
    state = tmp_path / "lms"
    env = peer_env("tests.lms.settings", LMS_STATE=str(state), LMS_URL=url, BERTH_URL=stack.http)
    subprocess.run([sys.executable, "-m", "tests.lms.seed"], cwd=ROOT, env=env, check=True)
    with peer_server(env, port, "learning-platform", f"{url}/jwks/"):
        call_command(
            "lti_register",
            title="Test platform",
            issuer=url,
            client_id="berth-tool",
            deployment_id=["deployment-1"],
            login_url=f"{url}/authorize/",
            token_url=f"{url}/token/",
            keyset_url=f"{url}/jwks/",
        )
        yield url, state


def test_a_platform_deep_links_a_day_launches_a_learner_into_it_and_gets_the_grade(
    chromium, learning_platform, stack, roles, course
):
    from django.contrib.auth.models import User

    from accounts.roles import role_of
    from course.models import DayProgress
    from lti.models import GradeLink
    from tests.helpers import lesson_of

    lms, state = learning_platform

    # The instructor adds Day 2 of the Kubernetes course to their course on the platform.
    page = chromium.new_context().new_page()
    page.goto(f"{lms}/course/?as=ines")
    page.click("#add-content")
    expect(page.locator("h1")).to_have_text("Add a day of Berth to your course")
    page.select_option("#lesson", "containers-to-kubernetes/2")
    page.click("#pick-day button[type=submit]")
    title = f"From containers to Kubernetes in 40 days, Day 2: {lesson_of(2).title}"
    expect(page.locator("#links a.launch")).to_have_text(title)
    assert role_of(User.objects.get(email="ines@lms.test")) == "instructor"
    page.click("#add-content")  # and the whole course, as a link to its map
    page.select_option("#lesson", "containers-to-kubernetes/")
    page.click("#pick-day button[type=submit]")
    expect(page.locator("#links a.launch").nth(1)).to_have_text("From containers to Kubernetes in 40 days")
    page.context.close()

    # The learner opens it from the platform and lands on Day 2, signed in to a new account.
    # Berth's links ask for a window of their own (its pages are not to be framed).
    context = chromium.new_context()
    course_page = context.new_page()
    course_page.goto(f"{lms}/course/?as=lee")
    with context.expect_page() as opened:
        course_page.click("#links a.launch")
    page = opened.value
    expect(page.locator("h1")).to_contain_text("Day 2")
    assert page.url.endswith("/course/containers-to-kubernetes/day/2/")
    lee = User.objects.get(email="lee@lms.test")
    expect(page.locator(".topbar .who")).to_have_text(lee.username)
    assert role_of(lee) == "learner"
    link = GradeLink.objects.get(user=lee, lesson=lesson_of(2))
    assert link.service["lineitem"].endswith("/lineitems/0") and link.sent_at is None
    with context.expect_page() as opened:  # Berth's pages keep their window to themselves (COOP)
        course_page.locator("#links a.launch").nth(1).click()
    page = opened.value
    expect(page.locator("h2", has_text="Module 8")).to_be_visible()  # the course's map
    assert page.url.endswith("/course/containers-to-kubernetes/")
    assert User.objects.filter(email="lee@lms.test").count() == 1  # the same account, launched again
    page.context.close()

    # The day done (its lab and quiz, recorded as the checks and the quiz would): the worker
    # sends the score to the platform's line item.
    progress, _ = DayProgress.objects.get_or_create(user=lee, lesson=lesson_of(2))
    progress.completed_at = timezone.now()
    progress.save(update_fields=["completed_at"])
    scores = state / "scores.jsonl"
    for _ in range(300):
        if scores.exists():
            break
        time.sleep(0.1)
    score = json.loads(scores.read_text().splitlines()[0])
    assert score["lineitem"] == 0 and score["userId"] == link.subject
    assert (score["scoreGiven"], score["scoreMaximum"], score["activityProgress"]) == (1, 1, "Completed")
    link.refresh_from_db()
    assert link.sent_score == 1.0 and link.sent_at and not link.error


def test_a_launch_not_signed_by_a_registered_platform_is_refused(client, db):
    response = client.post("/lti/launch/", {"id_token": "not.a.token", "state": "x"})
    assert response.status_code == 400 and "This launch was refused" in response.content.decode()
    response = client.get("/lti/login/", {"iss": "https://unknown.example", "login_hint": "u", "target_link_uri": "/"})
    assert response.status_code == 400
