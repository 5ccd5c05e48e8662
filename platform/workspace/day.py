"""The day page itself, its quiz, and the learner's place in the course."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from course.models import DayProgress, Lesson
from course.progress import answer_question
from course.views import lesson_or_404
from workspace.context import lab_panel_context


@require_GET
@login_required
def day(request, day: int, course: str | None = None):
    """The lesson and its quiz; the lab panel, the learner's own, is fetched by the page itself
    (`day_panel`). Reads only: the page itself reports the visit (`seen`)."""
    lesson = lesson_or_404(course, day)
    progress = DayProgress.objects.filter(user=request.user, lesson=lesson).first()
    context = {
        "lesson": lesson,
        "article": article(lesson),
        "progress": progress,
        "questions": quiz_questions(lesson, progress),
    }
    return render(request, "workspace/day.html", context)


ARTICLES_KEPT = 200
_articles: dict[tuple, str] = {}


def article(lesson: Lesson) -> str:
    """The lesson as every learner sees it, rendered once per published version in each web
    process: a publish saves the lesson, and a new `updated_at` is a new key."""
    days = sorted(Lesson.objects.filter(course=lesson.course_id).values_list("day", flat=True))
    previous = max((d for d in days if d < lesson.day), default=None)
    following = min((d for d in days if d > lesson.day), default=None)
    key = (lesson.pk, lesson.updated_at, lesson.day, lesson.module.number, lesson.module.title, previous, following)
    if key not in _articles:
        if len(_articles) >= ARTICLES_KEPT:
            _articles.clear()  # old versions go all at once; the live ones come back at first use
        _articles[key] = render_to_string(
            "workspace/lesson.html", {"lesson": lesson, "previous": previous, "next": following}
        )
    return _articles[key]


@require_GET
@login_required
def day_panel(request, day: int, course: str | None = None):
    """The day's lab panel for this learner: their live session, or the start button."""
    lesson = lesson_or_404(course, day)
    return render(request, "workspace/panel.html", {"lesson": lesson, **lab_panel_context(request.user, lesson)})


@require_POST
@login_required
def seen(request, day: int, course: str | None = None):
    """The page, once loaded, says the learner is on this day ("Continue" on the course map)."""
    lesson = lesson_or_404(course, day)
    progress, created = DayProgress.objects.get_or_create(user=request.user, lesson=lesson)
    if not created:
        progress.save(update_fields=["last_seen_at"])
    return HttpResponse(status=204)


def quiz_questions(lesson: Lesson, progress: DayProgress | None) -> list[dict]:
    """The quiz as the page shows it: each question with the learner's standing answer."""
    answers = progress.quiz_answers if progress else {}
    return [{"number": n, **q, "given": answers.get(str(n))} for n, q in enumerate(lesson.quiz, start=1)]


@require_POST
@login_required
def quiz_answer(request, day: int, number: int, course: str | None = None):
    lesson = lesson_or_404(course, day)
    try:
        choice = int(request.POST.get("choice", ""))
    except ValueError:
        return HttpResponseBadRequest("Choose one of the answers.")
    if not 1 <= number <= len(lesson.quiz) or not 1 <= choice <= len(lesson.quiz[number - 1]["choices"]):
        return HttpResponseBadRequest("No such question or answer.")
    progress = answer_question(request.user, lesson, number, choice)
    if not request.htmx:
        return redirect(reverse("workspace:day", args=[lesson.course.slug, day]) + f"#question-{number}")
    questions = quiz_questions(lesson, progress)
    return render(request, "workspace/quiz.html", {"lesson": lesson, "progress": progress, "questions": questions})
