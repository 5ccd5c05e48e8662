"""The courses a learner can take (the home page) and each course's map of days."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from course.models import Course, DayProgress, Lesson
from course.progress import day_states, streak


def course_or_404(slug: str | None) -> Course:
    """The course of that slug; None is the default course (the first)."""
    course = Course.objects.filter(slug=slug).first() if slug else Course.default()
    if course is None:
        raise Http404("No such course.")
    return course


def lesson_or_404(course: str | None, day: int) -> Lesson:
    """Day N of a course (None: of the default course)."""
    queryset = Lesson.objects.select_related("course", "module", "lab")
    return get_object_or_404(queryset, course=course_or_404(course), day=day)


@require_GET
@login_required
def home(request):
    """Every course with the learner's progress in it; the default course first."""
    states = day_states(request.user)
    cards = []
    for course in Course.objects.prefetch_related("lessons"):
        lessons = list(course.lessons.all())
        cards.append(
            {
                "course": course,
                **days_done(lessons, states),
                "continue_lesson": continue_lesson(request.user, course),
                "started": any(lesson.pk in states for lesson in lessons),
            }
        )
    return render(request, "course/home.html", {"cards": cards, "streak": streak(request.user)})


@require_GET
@login_required
def course_map(request, course: str | None = None):
    if course is None and Course.default() is None:
        return render(request, "course/home.html", {"cards": []})  # "no course is loaded yet"
    course = course_or_404(course)
    states = day_states(request.user)
    modules = course.modules.prefetch_related("lessons")
    lessons = [lesson for module in modules for lesson in module.lessons.all()]
    rows = [
        (module, [(lesson, states.get(lesson.pk, "not started")) for lesson in module.lessons.all()])
        for module in modules
        if module.lessons.all()
    ]
    return render(
        request,
        "course/map.html",
        {
            "course": course,
            "courses": Course.objects.count(),
            "modules": rows,
            **days_done(lessons, states),
            "continue_lesson": continue_lesson(request.user, course),
            "streak": streak(request.user, course=course),
        },
    )


def days_done(lessons: list[Lesson], states: dict[int, str]) -> dict:
    """total, done and percent of these lessons, for a course's card and its map."""
    done = sum(1 for lesson in lessons if states.get(lesson.pk) == "done")
    return {"total": len(lessons), "done": done, "percent": round(100 * done / len(lessons)) if lessons else 0}


def continue_lesson(user, course: Course) -> Lesson | None:
    """The day of this course the learner last opened and has not finished."""
    last = (
        DayProgress.objects.filter(user=user, lesson__course=course, completed_at__isnull=True)
        .select_related("lesson__course")
        .order_by("-last_seen_at")
        .first()
    )
    return last.lesson if last else None
