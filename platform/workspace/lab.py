"""The lab panel of the day page: start, end, reset and extend a lab session, the live
architecture view, and "Download my work". Every view acts on the learner's own session only."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from console.models import audit
from course.views import lesson_or_404
from sandboxes import architecture, downloads, lifecycle, queues
from sandboxes.access import get_own_session
from sandboxes.limits import limit
from sandboxes.models import LabSession, Sandbox
from workspace.context import lab_panel_context, live_session


def render_panel(request, lesson, session=None):
    context = {"lesson": lesson, **lab_panel_context(request.user, lesson, session)}
    return render(request, "workspace/panel.html", context)


def back_to_day(session: LabSession):
    lesson = session.lab.lessons.first()
    return redirect("workspace:day", lesson.course.slug, lesson.day) if lesson else redirect("home")


@require_POST
@login_required
def start(request, day: int, course: str | None = None):
    lesson = lesson_or_404(course, day)
    if lesson.lab is None:
        raise Http404("This day has no lab.")
    session = live_session(request.user, lesson.lab)
    if session is None and request.POST.get("fresh") == "1":  # not the kept sandbox: a new one
        forget_kept_sandbox(request.user, lesson.lab)
    if session is None:
        others = LabSession.objects.filter(user=request.user, state__in=LabSession.LIVE_STATES)
        if others.count() >= lifecycle.sessions_allowed() and request.POST.get("replace") != "1":
            messages.warning(request, "You already have a lab running. End it to start this one.")
        else:
            if request.POST.get("replace") == "1":
                for other in others.select_related("lab", "user"):
                    lifecycle.request_end(other, "replaced by a new lab", request.user)
            try:
                session = lifecycle.create_session(request.user, lesson.lab)
                audit(request.user, "lab.start", f"session {session.pk} ({request.user.username}, {lesson.lab.slug})")
            except lifecycle.StartRefused as e:
                messages.error(request, str(e))
    if request.htmx:
        return render_panel(request, lesson, session)
    return redirect("workspace:day", lesson.course.slug, day)


def forget_kept_sandbox(user, lab) -> None:
    kept = lifecycle.kept_sandbox(user, lab)
    if kept:
        for sandbox in list(lifecycle.kept_set(kept)):
            Sandbox.objects.filter(pk=sandbox.pk).update(kept_until=None)  # never resumed from now on
            queues.send_to_host(queues.DISCARD_KEPT, kept.session.host, sandbox.pk)


@require_POST
@login_required
def end(request, session_id: int):
    session = get_own_session(request, session_id)
    if session.is_live and session.state == LabSession.READY and len(session.lab.nodes) == 1:
        if days := limit("SANDBOX_KEEP_DAYS"):
            messages.info(request, f"Lab ended. Your sandbox is kept for {days} days: starting this lab resumes it.")
    lifecycle.request_end(session, "ended by the learner", request.user)
    lesson = session.lab.lessons.first()
    if request.htmx and lesson:
        return render_panel(request, lesson)
    return back_to_day(session)


@require_POST
@login_required
def reset(request, session_id: int):
    """Start over: this sandbox goes, a fresh one starts (the lab's setup runs again)."""
    session = get_own_session(request, session_id)
    lesson = session.lab.lessons.first()
    lifecycle.request_end(session, "reset by the learner", request.user, keep=False)
    fresh = None
    try:
        fresh = lifecycle.create_session(request.user, session.lab)
        audit(request.user, "lab.start", f"session {fresh.pk} ({request.user.username}, {session.lab.slug}), a reset")
    except lifecycle.StartRefused as e:
        messages.error(request, str(e))
    if request.htmx and lesson:
        return render_panel(request, lesson, fresh)
    return back_to_day(session)


@require_GET
@login_required
def panel(request, session_id: int):
    session = get_own_session(request, session_id)
    lesson = session.lab.lessons.first()
    return render_panel(request, lesson, session if session.is_live else None)


@require_POST
@login_required
def extend(request, session_id: int):
    session = get_own_session(request, session_id)
    if not lifecycle.extend(session):
        messages.info(request, "This lab cannot be extended further.")
    if request.htmx:
        return render(request, "workspace/timer.html", {"session": session})
    return back_to_day(session)


@require_GET
@login_required
def architecture_view(request, session_id: int):
    """The learner's own engine (or cluster) as a diagram (JSON); 204 when it has not changed
    since `since`. A cluster is one whichever node's tab asks: it is read on the first node."""
    session = get_own_session(request, session_id)
    lab = session.lab
    node = lab.nodes[0] if lab.profile == "kubernetes" else request.GET.get("node") or lab.nodes[0]
    if lab.profile not in architecture.VIEWS or node not in lab.nodes:
        raise Http404("no Docker engine or cluster to draw here")
    if session.state != LabSession.READY:
        return JsonResponse({"state": session.state}, status=409)
    snapshot = architecture.latest(session.pk, node)
    if architecture.snapshot_wanted(session.pk, node, snapshot):
        queues.send_to_host(queues.SNAPSHOT_ARCHITECTURE, session.host, session.pk, node, expires=10)
    if snapshot is None:
        return JsonResponse({"state": "reading"}, status=202)
    if snapshot["hash"] == request.GET.get("since"):
        return HttpResponse(status=204)
    return JsonResponse({"state": "ready", **snapshot})


@require_POST
@login_required
def download(request, session_id: int):
    """Download my work: start packing; the fragment returned polls until the file is ready."""
    session = get_own_session(request, session_id)
    if session.state != LabSession.READY:
        raise Http404("no sandbox to pack")
    token = downloads.request_download(session)
    return render(request, "workspace/download.html", {"session": session, "token": token, "state": "packing"})


@require_GET
@login_required
def download_status(request, session_id: int, token: str):
    session = get_own_session(request, session_id)
    entry = downloads.status(token, session.pk)
    if entry is None:
        raise Http404("this download has expired")
    context = {**{k: v for k, v in entry.items() if k not in ("data", "session")}, "session": session, "token": token}
    return render(request, "workspace/download.html", context)


@require_GET
@login_required
def download_file(request, session_id: int, token: str):
    session = get_own_session(request, session_id)
    entry = downloads.status(token, session.pk)
    if entry is None or entry["state"] != "ready":
        raise Http404("this download is not ready or has expired")
    response = HttpResponse(entry["data"], content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{entry["name"]}"'
    return response
