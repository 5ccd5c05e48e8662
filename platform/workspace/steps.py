"""A lab step on the day page: its partial, its Check button and its solution."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from course.progress import passed_step_ids
from labs.checks import CheckRefused, start_check
from labs.models import SolutionReveal
from sandboxes.access import get_own_session
from workspace.context import step_context
from workspace.lab import back_to_day


def render_step(request, session, step, error=""):
    context = step_context(request.user, step, session, passed_step_ids(request.user, session.lab))
    return render(request, "workspace/step.html", {**context, "error": error})


@require_POST
@login_required
def check(request, session_id: int, position: int):
    session = get_own_session(request, session_id)
    step = get_object_or_404(session.lab.steps, position=position)
    error = ""
    try:
        start_check(session, step)
    except CheckRefused as e:
        error = str(e)
    if request.htmx:
        return render_step(request, session, step, error)
    return back_to_day(session)


@require_GET
@login_required
def step(request, session_id: int, position: int):
    session = get_own_session(request, session_id)
    return render_step(request, session, get_object_or_404(session.lab.steps, position=position))


@require_POST
@login_required
def reveal_solution(request, session_id: int, position: int):
    session = get_own_session(request, session_id)
    step = get_object_or_404(session.lab.steps, position=position)
    SolutionReveal.objects.get_or_create(
        user=request.user, step=step, defaults={"session": session, "reason": SolutionReveal.ASKED}
    )
    if request.htmx:
        return render_step(request, session, step)
    return back_to_day(session)
