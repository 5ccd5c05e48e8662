"""Where learners get stuck: per lab step and per quiz question, for instructors and admins.

Who counts: a *learner* is anyone who cannot open this page (no course.author_course, not a
superuser), so instructors trying their own labs do not blur the figures.

Per step of a lab (every figure counts distinct learners unless it says runs):

- **started**: learners who reached the step. Step 1: every learner with a session of the lab
  (in any state). Step n: learners who passed step n-1, or who ran any check of step n (steps
  are not locked in order, so a learner may skip ahead).
- **passed**: learners with a passed check of the step.
- **gave up**: started, not passed, and no live session of the lab now (every session of theirs
  ended or failed). A snapshot: a learner who comes back moves to **working**, the rest.
- **median time to pass**: the median, over learners who passed, of the wall-clock time from
  reaching the step to their first passed check (its finish). Reaching step 1 is the start of
  their first session of the lab; reaching step n is their first pass of step n-1, or the start
  of their first session if they passed step n without passing step n-1 first.
- **failure rate**: failed and timed-out runs over all runs that judged the work (passed, failed,
  timed out). Runs in *error* (the check could not run at all: the platform's fault, not the
  learner's) are left out of both and counted on their own.
- **most frequent failing output**: among failed and timed-out runs, the most common output,
  whitespace-stripped and cut to its first 200 characters, with the number of runs that printed
  it (ties: the alphabetically first).
- **solutions revealed**: learners shown the solution, and how many of them asked for it (the
  rest were offered it after repeated failures).

Per quiz question of every lesson using the lab: **answers** (every answer given, retries
included), **wrong** answers, **share wrong**, and the wrong choice picked most often; the most
missed (highest share wrong) first.

A lab page costs a fixed number of queries whatever the number of learners: every figure is
grouped in SQL by step, by learner and step, or by question and choice; only the medians, which
SQLite cannot compute, are taken in Python from one row per learner and step.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, F, Func, Min, Q, QuerySet, TextField, Value, Window
from django.db.models.functions import Coalesce, RowNumber, Substr
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from console.charts import bars
from course.models import Course, Lesson, QuizAttempt
from labs.models import CheckRun, Lab, SolutionReveal, Step
from sandboxes.models import LabSession

OUTPUT_CHARS = 200  # enough to recognise a check's message; outputs with the same start group together
FAILING = (CheckRun.FAILED, CheckRun.TIMED_OUT)
JUDGED = (CheckRun.PASSED, *FAILING)

author_only = permission_required("course.author_course", raise_exception=True)


# --- who counts ----------------------------------------------------------------------------------
def staff_users() -> QuerySet:
    """The users who may read these figures (course.author_course, through a group or their own, or
    superusers): they are left out of them."""
    return (
        get_user_model()
        .objects.filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="author_course", groups__permissions__content_type__app_label="course")
            | Q(user_permissions__codename="author_course", user_permissions__content_type__app_label="course")
        )
        .values("pk")
    )


def by_learners(queryset: QuerySet) -> QuerySet:
    return queryset.exclude(user__in=staff_users())


# --- what a page shows ---------------------------------------------------------------------------
@dataclass
class StepInsight:
    position: int
    title: str
    started: int = 0
    passed: int = 0
    gave_up: int = 0
    median_seconds: float | None = None
    judged_runs: int = 0
    failing_runs: int = 0
    error_runs: int = 0
    top_failure: str | None = None
    top_failure_count: int = 0
    reveals: int = 0
    reveals_asked: int = 0

    @property
    def working(self) -> int:
        return self.started - self.passed - self.gave_up

    @property
    def failure_rate(self) -> float | None:
        return self.failing_runs / self.judged_runs if self.judged_runs else None

    @property
    def failure_percent(self) -> int | None:
        return None if self.failure_rate is None else round(100 * self.failure_rate)

    @property
    def median_text(self) -> str:
        return "" if self.median_seconds is None else duration(self.median_seconds)


@dataclass
class QuestionInsight:
    day: int
    number: int
    question: str
    answers: int = 0
    wrong: int = 0
    common_wrong_choice: str | None = None
    common_wrong_count: int = 0

    @property
    def share_wrong(self) -> float | None:
        return self.wrong / self.answers if self.answers else None

    @property
    def wrong_percent(self) -> int | None:
        return None if self.share_wrong is None else round(100 * self.share_wrong)


@dataclass
class LabInsight:
    lab: Lab
    learners: int  # with a session of the lab
    finished: int  # passed every step
    working_now: int  # with a live session
    steps: list[StepInsight] = field(default_factory=list)
    questions: list[QuestionInsight] = field(default_factory=list)


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 12 min, 2 h 5 min, 3 d 4 h."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# --- the figures, one grouped query each ---------------------------------------------------------
@dataclass
class LearnerSessions:
    first_started: datetime
    live: bool


def learner_sessions(lab: Lab) -> dict[int, LearnerSessions]:
    """{learner id: when their first session of the lab began, whether one is live now}."""
    rows = (
        by_learners(LabSession.objects.filter(lab=lab))
        .values("user_id")
        .annotate(first=Min("created_at"), live=Count("pk", filter=Q(state__in=LabSession.LIVE_STATES)))
        .order_by()
    )
    return {row["user_id"]: LearnerSessions(row["first"], row["live"] > 0) for row in rows}


@dataclass
class CheckHistory:
    tried: set[tuple[int, int]]  # (learner id, step id) with any check run
    passes: dict[tuple[int, int], datetime]  # (learner id, step id): when their first pass finished


def check_history(lab: Lab) -> CheckHistory:
    """Which learners ran a check of which step, and when each first passed: one row per pair."""
    rows = (
        by_learners(CheckRun.objects.filter(step__lab=lab))
        .values("user_id", "step_id")
        .annotate(first_pass=Min(Coalesce("finished_at", "started_at"), filter=Q(state=CheckRun.PASSED)))
        .order_by()
    )
    history = CheckHistory(tried=set(), passes={})
    for row in rows:
        key = (row["user_id"], row["step_id"])
        history.tried.add(key)
        if row["first_pass"] is not None:
            history.passes[key] = row["first_pass"]
    return history


def run_counts(check_runs: QuerySet) -> dict[int, dict[str, int]]:
    """{step id: {judged, failing, errors}} over the given check runs."""
    rows = (
        by_learners(check_runs)
        .values("step_id")
        .annotate(
            judged=Count("pk", filter=Q(state__in=JUDGED)),
            failing=Count("pk", filter=Q(state__in=FAILING)),
            errors=Count("pk", filter=Q(state=CheckRun.ERROR)),
        )
        .order_by()
    )
    return {row["step_id"]: row for row in rows}


class StripWhitespace(Func):
    """TRIM of spaces, tabs and line ends (SQL's plain TRIM strips only spaces)."""

    function = "TRIM"  # SQLite's TRIM(text, characters); PostgreSQL spells it BTRIM

    def __init__(self, expression, **extra):
        super().__init__(expression, Value(" \t\r\n"), output_field=TextField(), **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="BTRIM", **extra)


def top_failing_outputs(lab: Lab) -> dict[int, tuple[str, int]]:
    """{step id: (the most frequent failing output, how many runs printed it)}, in one query."""
    rows = (
        by_learners(CheckRun.objects.filter(step__lab=lab, state__in=FAILING))
        .annotate(text=Substr(StripWhitespace("output"), 1, OUTPUT_CHARS))
        .values("step_id", "text")
        .annotate(n=Count("pk"))
        .annotate(rank=Window(RowNumber(), partition_by=[F("step_id")], order_by=[F("n").desc(), F("text").asc()]))
        .filter(rank=1)
        .order_by()
    )
    return {row["step_id"]: (row["text"], row["n"]) for row in rows}


def reveal_counts(lab: Lab) -> dict[int, tuple[int, int]]:
    """{step id: (learners shown the solution, of whom asked for it)}."""
    rows = (
        by_learners(SolutionReveal.objects.filter(step__lab=lab))
        .values("step_id")
        .annotate(n=Count("pk"), asked=Count("pk", filter=Q(reason=SolutionReveal.ASKED)))
        .order_by()
    )
    return {row["step_id"]: (row["n"], row["asked"]) for row in rows}


# --- putting them together -----------------------------------------------------------------------
def step_insights(
    lab: Lab, steps: list[Step], sessions: dict[int, LearnerSessions], history: CheckHistory
) -> list[StepInsight]:
    """One StepInsight per step, in the steps' order."""
    counts = run_counts(CheckRun.objects.filter(step__lab=lab))
    outputs = top_failing_outputs(lab)
    reveals = reveal_counts(lab)
    insights, previous = [], None
    for step in steps:
        insight = learner_outcomes(step, previous, sessions, history)
        count = counts.get(step.pk, {})
        insight.judged_runs, insight.failing_runs = count.get("judged", 0), count.get("failing", 0)
        insight.error_runs = count.get("errors", 0)
        insight.top_failure, insight.top_failure_count = outputs.get(step.pk, (None, 0))
        insight.reveals, insight.reveals_asked = reveals.get(step.pk, (0, 0))
        insights.append(insight)
        previous = step
    return insights


def learner_outcomes(
    step: Step, previous: Step | None, sessions: dict[int, LearnerSessions], history: CheckHistory
) -> StepInsight:
    """Started, passed, gave up and the median time to pass of one step, from the learners' rows."""
    insight = StepInsight(step.position, step.title)
    waits = []
    for user_id, learner in sessions.items():
        passed_at = history.passes.get((user_id, step.pk))
        passed_previous_at = history.passes.get((user_id, previous.pk)) if previous else None
        reached = previous is None or passed_previous_at is not None or (user_id, step.pk) in history.tried
        if not reached:
            continue
        insight.started += 1
        if passed_at is not None:
            insight.passed += 1
            waits.append(time_on_step(learner, passed_previous_at, passed_at))
        elif not learner.live:
            insight.gave_up += 1
    insight.median_seconds = median(waits) if waits else None
    return insight


def time_on_step(learner: LearnerSessions, passed_previous_at: datetime | None, passed_at: datetime) -> float:
    """Seconds from reaching a step to passing it (see the module's docstring)."""
    reached = learner.first_started
    if passed_previous_at is not None and passed_previous_at <= passed_at:
        reached = max(reached, passed_previous_at)
    return max((passed_at - reached).total_seconds(), 0.0)


def question_insights(lessons: list[Lesson]) -> list[QuestionInsight]:
    """Every question of these lessons, the most missed first; one query for all of them."""
    questions, choices = {}, {}
    for lesson in lessons:
        for number, q in enumerate(lesson.quiz, start=1):
            questions[(lesson.pk, number)] = QuestionInsight(lesson.day, number, q["question"])
            choices[(lesson.pk, number)] = q.get("choices", [])
    rows = (
        by_learners(QuizAttempt.objects.filter(lesson__in=lessons))
        .values("lesson_id", "question", "choice", "correct")
        .annotate(n=Count("pk"))
        .order_by("lesson_id", "question", "-n", "choice")
    )
    for row in rows:
        key = (row["lesson_id"], row["question"])
        insight = questions.get(key)
        if insight is None:
            continue  # a question since removed from the quiz
        insight.answers += row["n"]
        if not row["correct"]:
            insight.wrong += row["n"]
            if insight.common_wrong_choice is None:  # rows come most picked first
                insight.common_wrong_count = row["n"]
                insight.common_wrong_choice = choice_text(choices[key], row["choice"])
    return sorted(questions.values(), key=most_missed_first)


def choice_text(choices: list[str], number: int) -> str:
    return choices[number - 1] if 0 < number <= len(choices) else f"choice {number}"


def most_missed_first(q: QuestionInsight) -> tuple:
    return (-(q.share_wrong or 0), -q.wrong, q.day, q.number)


def lab_insight(lab: Lab) -> LabInsight:
    """Everything the lab's page shows, in a fixed number of queries."""
    steps = list(lab.steps.order_by("position"))
    sessions = learner_sessions(lab)
    history = check_history(lab)
    return LabInsight(
        lab=lab,
        learners=len(sessions),
        finished=sum(1 for user_id in sessions if passed_every_step(user_id, steps, history)),
        working_now=sum(1 for learner in sessions.values() if learner.live),
        steps=step_insights(lab, steps, sessions, history),
        questions=question_insights(list(lab.lessons.order_by("day"))),
    )


def passed_every_step(user_id: int, steps: list[Step], history: CheckHistory) -> bool:
    return bool(steps) and all((user_id, step.pk) in history.passes for step in steps)


# --- every lab at a glance -----------------------------------------------------------------------
@dataclass
class LabSummary:
    lab: Lab
    lesson: Lesson | None  # the first day using it (its course and day)
    learners: int
    finished: int
    worst: StepInsight | None  # the step with the highest failure rate


def lab_summaries(course=None) -> list[LabSummary]:
    """One line per lab (of one course, or of all), in five queries."""
    steps = defaultdict(list)
    for step in Step.objects.order_by("lab_id", "position"):
        steps[step.lab_id].append(step)
    lessons = Lesson.objects.filter(lab__isnull=False).select_related("course")
    if course is not None:
        lessons = lessons.filter(course=course)
    days = {}
    for lesson in lessons:  # in course order: a lab's first day wins
        days.setdefault(lesson.lab_id, lesson)
    labs = Lab.objects.filter(pk__in=days) if course is not None else Lab.objects.all()
    learners = dict(
        by_learners(LabSession.objects.all())
        .values("lab_id")
        .annotate(n=Count("user_id", distinct=True))
        .order_by()
        .values_list("lab_id", "n")
    )
    finished = finishers({lab_id: len(lab_steps) for lab_id, lab_steps in steps.items()})
    counts = run_counts(CheckRun.objects.all())
    summaries = [
        LabSummary(
            lab=lab,
            lesson=days.get(lab.pk),
            learners=learners.get(lab.pk, 0),
            finished=finished.get(lab.pk, 0),
            worst=worst_step(steps[lab.pk], counts),
        )
        for lab in labs
    ]
    return sorted(summaries, key=in_course_order)


def in_course_order(summary: LabSummary) -> tuple:
    lesson = summary.lesson
    if lesson is None:
        return (1, 0, "", 0, summary.lab.slug)
    return (0, lesson.course.position, lesson.course.slug, lesson.day, summary.lab.slug)


def finishers(step_counts: dict[int, int]) -> dict[int, int]:
    """{lab id: learners who passed every step}, from one row per lab and learner with a pass."""
    rows = (
        by_learners(CheckRun.objects.filter(state=CheckRun.PASSED))
        .values("step__lab_id", "user_id")
        .annotate(n=Count("step_id", distinct=True))
        .order_by()
    )
    done = defaultdict(int)
    for row in rows:
        if row["n"] == step_counts.get(row["step__lab_id"]):
            done[row["step__lab_id"]] += 1
    return done


def worst_step(steps: list[Step], counts: dict[int, dict[str, int]]) -> StepInsight | None:
    """The step whose checks fail most often (then: fail most), among steps checked at all."""
    checked = [
        StepInsight(step.position, step.title, judged_runs=c["judged"], failing_runs=c["failing"])
        for step in steps
        if (c := counts.get(step.pk)) and c["judged"]
    ]
    return max(checked, key=lambda s: (s.failure_rate, s.failing_runs, -s.position), default=None)


# --- the pages -----------------------------------------------------------------------------------
@require_GET
@author_only
def insights_index(request):
    course = Course.objects.filter(slug=request.GET.get("course", "")).first()
    context = {"summaries": lab_summaries(course), "course": course, "courses": Course.objects.all()}
    return render(request, "studio/insights_index.html", context)


@require_GET
@author_only
def lab_insights(request, slug: str):
    lab = get_object_or_404(Lab, slug=slug)
    insight = lab_insight(lab)
    # Passed per step, step 1 at the left: the drop between two bars is where learners stop.
    chart = bars([(f"step {s.position} ({s.title}), learners who passed", s.passed) for s in insight.steps])
    return render(request, "studio/insights.html", {"insight": insight, "chart": chart, "output_chars": OUTPUT_CHARS})
