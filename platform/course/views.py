from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from course.models import DayProgress, Lesson, Module
from course.progress import answer_question, day_states, streak
from labs.workspace import lab_panel_context


@login_required
def course_map(request):
    states = day_states(request.user)
    modules = Module.objects.prefetch_related("lessons")
    lessons = [lesson for module in modules for lesson in module.lessons.all()]
    done = sum(1 for state in states.values() if state == "done")
    last = (
        DayProgress.objects.filter(user=request.user, completed_at__isnull=True)
        .select_related("lesson")
        .order_by("-last_seen_at")
        .first()
    )
    rows = [
        (module, [(lesson, states.get(lesson.day, "not started")) for lesson in module.lessons.all()])
        for module in modules
    ]
    return render(
        request,
        "course/map.html",
        {
            "modules": rows,
            "states": states,
            "done": done,
            "total": len(lessons),
            "percent": round(100 * done / len(lessons)) if lessons else 0,
            "continue_lesson": last.lesson if last else None,
            "streak": streak(request.user),
        },
    )


@login_required
def day(request, day: int):
    lesson = get_object_or_404(Lesson.objects.select_related("module", "lab"), day=day)
    progress, _ = DayProgress.objects.get_or_create(user=request.user, lesson=lesson)
    progress.save(update_fields=["last_seen_at"])
    context = {
        "lesson": lesson,
        "progress": progress,
        "previous": Lesson.objects.filter(day__lt=day).order_by("-day").first(),
        "next": Lesson.objects.filter(day__gt=day).order_by("day").first(),
        "questions": quiz_questions(lesson, progress),
        **lab_panel_context(request.user, lesson),
    }
    return render(request, "course/day.html", context)


def quiz_questions(lesson: Lesson, progress: DayProgress) -> list[dict]:
    """The quiz as the page shows it: each question with the learner's standing answer."""
    return [{"number": n, **q, "given": progress.quiz_answers.get(str(n))} for n, q in enumerate(lesson.quiz, start=1)]


@login_required
@require_POST
def quiz_answer(request, day: int, number: int):
    lesson = get_object_or_404(Lesson, day=day)
    try:
        choice = int(request.POST.get("choice", ""))
    except ValueError:
        return HttpResponseBadRequest("Choose one of the answers.")
    if not 1 <= number <= len(lesson.quiz) or not 1 <= choice <= len(lesson.quiz[number - 1]["choices"]):
        return HttpResponseBadRequest("No such question or answer.")
    progress = answer_question(request.user, lesson, number, choice)
    if not request.headers.get("HX-Request"):
        return redirect(reverse("course:day", args=[day]) + f"#question-{number}")
    questions = quiz_questions(lesson, progress)
    return render(request, "course/quiz.html", {"lesson": lesson, "progress": progress, "questions": questions})
