from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from course.models import DayProgress, Lesson, Module
from course.progress import day_states
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
        **lab_panel_context(request.user, lesson),
    }
    return render(request, "course/day.html", context)
