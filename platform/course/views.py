from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from course.models import DayProgress, Module
from course.progress import day_states, streak


@require_GET
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
