"""Where learners get stuck: the figures per step and per quiz question, exact on a known story,
the pages for instructors only, and a page cost that does not grow with the number of learners."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from course.models import QuizAttempt
from labs.models import CheckRun, SolutionReveal
from sandboxes.models import LabSession
from studio.insights import duration, lab_insight, lab_summaries
from tests.helpers import save_test_lab, save_test_lesson

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
QUIZ = [
    {"question": "Which runs the build?", "choices": ["client", "daemon", "registry"], "answer": 2},
    {"question": "Where does Server come from?", "choices": ["config", "the API", "Docker Hub", "a file"], "answer": 2},
    {"question": "Which outlives containers?", "choices": ["a layer", "a volume"], "answer": 2},
]


# --- building a story ------------------------------------------------------------------------------
@pytest.fixture
def lab(db):
    lab = save_test_lab(
        "insight-lab",
        steps=[{"title": f"make file {name}", "check": f"test -f /root/{name}", "solution": "true"} for name in "abc"],
    )
    save_test_lesson(90, lab, title="Insight day", quiz=QUIZ)
    return lab


def new_learner(roles, username):
    """A learner with no usable password: hashing one per user would make the 30-learner test slow."""
    from django.contrib.auth.models import User

    user = User.objects.create_user(username)
    user.groups.add(roles["learner"])
    return user


def session(user, lab, state, at=T0):
    s = LabSession.objects.create(user=user, lab=lab, host="local", state=state, expires_at=at + timedelta(hours=1))
    LabSession.objects.filter(pk=s.pk).update(created_at=at)  # auto_now_add ignores a given value
    return s


def check(s, position, state, at, output=""):
    step = s.lab.steps.get(position=position)
    return CheckRun.objects.create(session=s, step=step, user=s.user, state=state, output=output, finished_at=at)


def answer(user, lesson, question, choice):
    correct = QUIZ[question - 1]["answer"] == choice
    QuizAttempt.objects.create(user=user, lesson=lesson, question=question, choice=choice, correct=correct)


@pytest.fixture
def story(lab, roles, learner, instructor):
    """Five learners (and an instructor, who must not count) with known outcomes on the lab's three steps."""
    bob, carol, dave, erin = (new_learner(roles, name) for name in ("bob", "carol", "dave", "erin"))
    lesson = lab.lessons.get()

    # alice: fails step 1 twice (same message, different whitespace), then passes every step.
    s = session(learner, lab, LabSession.ENDED)
    check(s, 1, CheckRun.FAILED, T0 + 3 * MINUTE, "  no file /root/a\n")
    check(s, 1, CheckRun.FAILED, T0 + 5 * MINUTE, "no file /root/a\n\n")
    check(s, 1, CheckRun.PASSED, T0 + 10 * MINUTE)
    check(s, 2, CheckRun.FAILED, T0 + 15 * MINUTE, "no file /root/b")
    check(s, 2, CheckRun.FAILED, T0 + 20 * MINUTE, "no file /root/b")
    check(s, 2, CheckRun.PASSED, T0 + 30 * MINUTE)
    check(s, 3, CheckRun.PASSED, T0 + 40 * MINUTE)
    SolutionReveal.objects.create(user=learner, step=s.lab.steps.get(position=2), reason=SolutionReveal.ASKED)

    # bob: passes step 1, then fails step 2 again and again, sees its solution, and leaves.
    s = session(bob, lab, LabSession.ENDED)
    check(s, 1, CheckRun.PASSED, T0 + 20 * MINUTE)
    for minute in (25, 26, 27):
        check(s, 2, CheckRun.FAILED, T0 + minute * MINUTE, "no file /root/b\n")
    check(s, 2, CheckRun.TIMED_OUT, T0 + 28 * MINUTE, "The check did not finish within 30 s and was stopped.")
    SolutionReveal.objects.create(user=bob, step=s.lab.steps.get(position=2), reason=SolutionReveal.AFTER_FAILURES)

    # carol: fails then passes step 1; on step 2 her check could not run; her sandbox is still up.
    s = session(carol, lab, LabSession.READY)
    check(s, 1, CheckRun.FAILED, T0 + 12 * MINUTE, "wrong\n")
    check(s, 1, CheckRun.PASSED, T0 + 30 * MINUTE)
    check(s, 2, CheckRun.ERROR, T0 + 31 * MINUTE, "The sandbox did not answer.")

    # dave: his only start failed; he never came back.
    session(dave, lab, LabSession.FAILED)

    # erin: ended one session, started another an hour later, no check yet.
    session(erin, lab, LabSession.ENDED)
    session(erin, lab, LabSession.READY, at=T0 + 60 * MINUTE)

    # the instructor tried the lab: none of this counts.
    s = session(instructor, lab, LabSession.ENDED)
    check(s, 1, CheckRun.PASSED, T0 + 1 * MINUTE)
    check(s, 3, CheckRun.FAILED, T0 + 2 * MINUTE, "zzz instructor output")
    SolutionReveal.objects.create(user=instructor, step=s.lab.steps.get(position=1), reason=SolutionReveal.ASKED)
    for _ in range(5):
        answer(instructor, lesson, 1, 1)

    # the quiz: question 2 is missed most (3 of 4), then question 3 (1 of 2), question 1 never.
    answer(learner, lesson, 1, 2)
    answer(bob, lesson, 1, 2)
    answer(learner, lesson, 2, 1)
    answer(learner, lesson, 2, 2)
    answer(bob, lesson, 2, 3)
    answer(carol, lesson, 2, 3)
    answer(bob, lesson, 3, 1)
    answer(bob, lesson, 3, 2)
    return lab


# --- the figures -----------------------------------------------------------------------------------
def test_the_lab_summary_counts_learners_only(story):
    insight = lab_insight(story)
    assert (insight.learners, insight.finished, insight.working_now) == (5, 1, 2)


def test_started_passed_gave_up_and_working_per_step(story):
    steps = lab_insight(story).steps
    assert [(s.started, s.passed, s.gave_up, s.working) for s in steps] == [
        (5, 3, 1, 1),  # dave gave up (start failed, never back); erin has a live sandbox
        (3, 1, 1, 1),  # reached by those who passed step 1: bob gave up, carol is working
        (1, 1, 0, 0),
    ]


def test_median_time_to_pass_counts_from_reaching_the_step(story):
    steps = lab_insight(story).steps
    # step 1: 10, 20, 30 min from the first session; step 2: 20 min after step 1; step 3: 10 min after step 2
    assert [s.median_seconds for s in steps] == [1200, 1200, 600]
    assert [s.median_text for s in steps] == ["20 min", "20 min", "10 min"]


def test_failure_rate_leaves_out_checks_that_could_not_run(story):
    steps = lab_insight(story).steps
    assert [(s.failing_runs, s.judged_runs, s.error_runs) for s in steps] == [(3, 6, 0), (6, 7, 1), (0, 1, 0)]
    assert [s.failure_rate for s in steps] == [0.5, 6 / 7, 0.0]
    assert [s.failure_percent for s in steps] == [50, 86, 0]


def test_the_most_frequent_failing_output_is_stripped_and_counted(story):
    steps = lab_insight(story).steps
    assert [(s.top_failure, s.top_failure_count) for s in steps] == [
        ("no file /root/a", 2),  # the same message with different whitespace counts once
        ("no file /root/b", 5),
        (None, 0),
    ]


def test_a_long_failing_output_is_cut_to_200_characters(lab, learner):
    s = session(learner, lab, LabSession.READY)
    for tail in ("first ending", "second ending"):
        check(s, 1, CheckRun.FAILED, T0 + MINUTE, "x" * 250 + tail)
    step = lab_insight(lab).steps[0]
    assert (step.top_failure, step.top_failure_count) == ("x" * 200, 2)


def test_solutions_revealed_per_step(story):
    steps = lab_insight(story).steps
    assert [(s.reveals, s.reveals_asked) for s in steps] == [(0, 0), (2, 1), (0, 0)]


def test_quiz_questions_most_missed_first(story):
    questions = lab_insight(story).questions
    assert [(q.number, q.answers, q.wrong, q.share_wrong) for q in questions] == [
        (2, 4, 3, 0.75),
        (3, 2, 1, 0.5),
        (1, 2, 0, 0.0),
    ]
    assert (questions[0].common_wrong_choice, questions[0].common_wrong_count) == ("Docker Hub", 2)
    assert questions[2].common_wrong_choice is None  # the instructor's wrong answers do not count


def test_a_learner_who_skips_ahead_has_started_the_step_they_checked(lab, learner):
    s = session(learner, lab, LabSession.ENDED)
    check(s, 3, CheckRun.FAILED, T0 + MINUTE, "no file /root/c")
    steps = lab_insight(lab).steps
    assert [(st.started, st.gave_up) for st in steps] == [(1, 1), (0, 0), (1, 1)]


def test_a_step_passed_before_the_previous_one_is_timed_from_the_first_session(lab, learner):
    s = session(learner, lab, LabSession.READY)
    check(s, 2, CheckRun.PASSED, T0 + 5 * MINUTE)
    check(s, 1, CheckRun.PASSED, T0 + 8 * MINUTE)
    steps = lab_insight(lab).steps
    assert [st.median_seconds for st in steps[:2]] == [480, 300]


def test_a_lab_nobody_tried_has_empty_figures(lab):
    insight = lab_insight(lab)
    assert (insight.learners, insight.finished) == (0, 0)
    assert all(s.started == 0 and s.failure_rate is None and s.median_seconds is None for s in insight.steps)
    assert [q.share_wrong for q in insight.questions] == [None, None, None]


def test_the_overview_has_one_line_per_lab(story):
    other = save_test_lab("untouched-lab")
    summaries = {s.lab.slug: s for s in lab_summaries()}
    line = summaries["insight-lab"]
    assert (line.lesson.day, line.learners, line.finished) == (90, 5, 1)
    assert (line.worst.position, line.worst.failing_runs, line.worst.judged_runs) == (2, 6, 7)
    assert (summaries[other.slug].learners, summaries[other.slug].worst) == (0, None)
    # Per course: a course's overview has the labs its days use, and only those.
    from course.models import Course

    own = [s.lab.slug for s in lab_summaries(line.lesson.course)]
    assert own == ["insight-lab"]
    assert lab_summaries(Course.objects.create(slug="elsewhere", title="Elsewhere", position=9)) == []


def test_durations_read_naturally():
    assert [duration(s) for s in (45, 60, 754, 3600, 7500, 86400, 97200)] == [
        "45 s",
        "1 min",
        "12 min",
        "1 h",
        "2 h 5 min",
        "1 d",
        "1 d 3 h",
    ]


# --- the pages -------------------------------------------------------------------------------------
def test_learners_cannot_see_the_insights(client, story, learner):
    client.force_login(learner)
    assert client.get(reverse("studio:insights")).status_code == 403
    assert client.get(reverse("studio:lab_insights", args=[story.slug])).status_code == 403


def test_anonymous_visitors_cannot_see_the_insights(client, story):
    assert client.get(reverse("studio:lab_insights", args=[story.slug])).status_code == 403


def test_the_lab_page_shows_the_tables_and_the_chart(client, story, instructor):
    client.force_login(instructor)
    page = client.get(reverse("studio:lab_insights", args=[story.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="steps"' in html and 'id="questions"' in html and "<svg" in html
    assert html.count('class="grid"') == 2
    assert "no file /root/b" in html and "86%" in html and "20 min" in html
    assert "zzz instructor output" not in html
    assert html.index('data-question="2"') < html.index('data-question="3"') < html.index('data-question="1"')


def test_the_overview_links_every_lab_and_the_studio_links_the_overview(client, story, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("studio:insights")).content.decode()
    assert reverse("studio:lab_insights", args=[story.slug]) in html and "86%" in html
    assert reverse("studio:insights") in client.get(reverse("studio:index")).content.decode()


def test_an_unknown_lab_is_not_found(client, instructor):
    client.force_login(instructor)
    assert client.get(reverse("studio:lab_insights", args=["no-such-lab"])).status_code == 404


def add_learners(lab, roles, first: int, count: int) -> None:
    """Learners with a session, failed and passed checks on each step, a reveal and quiz answers."""
    lesson = lab.lessons.get()
    for n in range(first, first + count):
        user = new_learner(roles, f"learner{n}")
        s = session(user, lab, LabSession.ENDED if n % 2 else LabSession.READY)
        for step in (1, 2, 3):
            check(s, step, CheckRun.FAILED, T0 + step * MINUTE, f"failure {n % 4}")
            check(s, step, CheckRun.PASSED, T0 + (step + 1) * MINUTE)
        SolutionReveal.objects.create(user=user, step=lab.steps.get(position=1), reason=SolutionReveal.ASKED)
        answer(user, lesson, 1, 1 + n % 3)


@pytest.mark.parametrize("url_name", ["studio:lab_insights", "studio:insights"])
def test_the_page_costs_the_same_queries_for_3_or_30_learners(
    client, lab, roles, instructor, url_name, django_assert_max_num_queries
):
    client.force_login(instructor)
    url = reverse(url_name, args=[lab.slug] if url_name == "studio:lab_insights" else [])
    add_learners(lab, roles, 0, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add_learners(lab, roles, 3, 27)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        page = client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries) <= 15
    assert page.status_code == 200 and ">30<" in page.content.decode()
