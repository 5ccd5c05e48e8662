"""Where a class stands: for each learner, each day of the class's course (done, in progress,
overdue), the last activity, the step they are stuck on and the lab they have open now."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import timezone

from classes.models import Classroom
from course.models import DayProgress, Lesson, QuizAttempt
from labs.models import CheckRun
from sandboxes.models import LabSession

STUCK_AFTER = 3  # failed checks of one step, with no pass since: the learner needs a word


@dataclass
class Cell:
    lesson: Lesson
    state: str  # "done", "in progress" or "" (not started)
    due_on: date | None = None
    overdue: bool = False


@dataclass
class Stuck:
    lesson: Lesson
    step: int  # 1-based, as the learner sees it
    step_title: str
    failures: int


@dataclass
class Row:
    user: object
    cells: list[Cell] = field(default_factory=list)
    last_activity: datetime | None = None
    stuck: Stuck | None = None
    live_session: LabSession | None = None  # a lab of this course the learner has open now

    @property
    def done(self) -> int:
        return sum(1 for cell in self.cells if cell.state == "done")


def class_standing(classroom: Classroom, today: date | None = None) -> tuple[list[Lesson], list[Row]]:
    """The course's days in order and one row per learner of the class, by username."""
    today = today or timezone.localdate()
    course = classroom.course
    lessons = list(Lesson.objects.filter(course=course).select_related("lab").order_by("day"))
    due = dict(classroom.due_dates.values_list("lesson_id", "due_on"))
    users = [m.user for m in classroom.memberships.select_related("user")]
    user_ids = [u.pk for u in users]
    lab_ids = {lesson.lab_id for lesson in lessons if lesson.lab_id}
    lesson_of_lab = {lesson.lab_id: lesson for lesson in lessons if lesson.lab_id}

    progress = {}
    last = defaultdict(lambda: None)

    def seen(user_id, when):
        if when and (last[user_id] is None or when > last[user_id]):
            last[user_id] = when

    for p in DayProgress.objects.filter(user_id__in=user_ids, lesson__course=course):
        progress[p.user_id, p.lesson_id] = "done" if p.completed_at else "in progress"
        seen(p.user_id, p.last_seen_at)
    for user_id, when in QuizAttempt.objects.filter(user_id__in=user_ids, lesson__course=course).values_list(
        "user_id", "created_at"
    ):
        seen(user_id, when)

    # Each learner's check runs in this course, oldest first: failures since the last pass, per step.
    failing = defaultdict(int)
    steps = {}
    latest_step = {}
    runs = (
        CheckRun.objects.filter(user_id__in=user_ids, step__lab_id__in=lab_ids)
        .exclude(state=CheckRun.RUNNING)
        .select_related("step")
        .order_by("started_at", "pk")
    )
    for run in runs:
        key = (run.user_id, run.step_id)
        steps[run.step_id] = run.step
        failing[key] = 0 if run.state == CheckRun.PASSED else failing[key] + 1
        latest_step[run.user_id] = run.step_id
        seen(run.user_id, run.started_at)

    live = {}
    for session in LabSession.objects.filter(
        user_id__in=user_ids, lab_id__in=lab_ids, state__in=LabSession.LIVE_STATES
    ).select_related("lab"):
        live[session.user_id] = session
        seen(session.user_id, session.last_activity_at)

    rows = []
    for user in users:
        row = Row(user=user, last_activity=last[user.pk], live_session=live.get(user.pk))
        for lesson in lessons:
            state = progress.get((user.pk, lesson.pk), "")
            due_on = due.get(lesson.pk)
            row.cells.append(Cell(lesson, state, due_on, bool(due_on and due_on < today and state != "done")))
        step_id = latest_step.get(user.pk)  # the step the learner last checked: stuck there?
        if step_id and failing[user.pk, step_id] >= STUCK_AFTER:
            step = steps[step_id]
            row.stuck = Stuck(lesson_of_lab[step.lab_id], step.position, step.title, failing[user.pk, step_id])
        rows.append(row)
    return lessons, rows


def may_teach(user, classroom: Classroom) -> bool:
    """The class's own teacher, or an admin (who may see every class)."""
    return user.is_authenticated and (classroom.teacher_id == user.pk or user.has_perm("sandboxes.manage_sandboxes"))


def may_watch(user, session: LabSession) -> bool:
    """Admins watch any terminal; a teacher watches those of their classes' learners, on a lab
    of that class's course."""
    if user.has_perm("sandboxes.manage_sandboxes"):
        return True
    return Classroom.objects.filter(
        teacher=user, memberships__user_id=session.user_id, course__lessons__lab_id=session.lab_id
    ).exists()
