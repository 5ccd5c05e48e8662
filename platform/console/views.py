"""The admin console: every live sandbox and host, at a glance and under control. Only the admin
role (the sandboxes.manage_sandboxes permission) gets in; every action is POST, CSRF-checked and
audited. The data is the database's: stats and host health are sampled on the worker side."""

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from berth.env import pool_key
from classes.standing import may_watch
from console import charts, workers
from console.models import AuditEvent, audit
from course.models import Course
from sandboxes import lifecycle, limits, placement, pressure
from sandboxes.models import LabSession, PlatformLimits, SandboxHost, WarmSandbox

admin_only = permission_required("sandboxes.manage_sandboxes", raise_exception=True)
SORTS = {
    "age": "created_at",
    "-age": "-created_at",
    "left": "expires_at",
    "-left": "-expires_at",
    "learner": "user__username",
    "lab": "lab__slug",
    "host": "host",
    "activity": "-last_activity_at",
}


def describe(session: LabSession) -> str:
    return f"session {session.pk} ({session.user.username}, {session.lab.slug})"


def live_sessions(request):
    sessions = LabSession.objects.filter(state__in=LabSession.LIVE_STATES).select_related("user", "lab")
    if q := request.GET.get("q", "").strip():
        sessions = sessions.filter(Q(user__username__icontains=q) | Q(lab__slug__icontains=q) | Q(host__icontains=q))
    if state := request.GET.get("state"):
        sessions = sessions.filter(state=state)
    if course := request.GET.get("course"):  # the labs that course's days use
        sessions = sessions.filter(lab__lessons__course__slug=course).distinct()
    sessions = sessions.order_by(SORTS.get(request.GET.get("sort", ""), "-created_at"))
    rows = []
    now = timezone.now()
    for session in sessions.prefetch_related("sandboxes"):
        boxes = list(session.sandboxes.all())
        rows.append(
            {
                "session": session,
                "nodes": len(boxes),
                "age": now - session.created_at,
                "left": max(session.expires_at - now, timezone.timedelta(0)),
                "cpu": sum(b.cpu_percent or 0 for b in boxes),
                "memory": sum(b.memory_bytes or 0 for b in boxes),
                "sampled": any(b.stats_at for b in boxes),
                "pinned": next((b for b in boxes if b.pinned_since), None),
            }
        )
    return rows


def flagged_sessions():
    """Labs ended in the last day for staying at a limit (sandboxes/pressure.py)."""
    return (
        LabSession.objects.filter(
            end_reason__startswith=pressure.END_REASON_START, ended_at__gte=timezone.now() - timezone.timedelta(days=1)
        )
        .select_related("user", "lab")
        .order_by("-ended_at")[:20]
    )


def hosts():
    used = placement.used_slots()
    known = {h.name: h for h in SandboxHost.objects.all()}
    rows = []
    for name in settings.DOCKER_HOSTS:
        host = known.get(name) or SandboxHost(name=name)
        rows.append(
            {
                "host": host,
                "used": used.get(name, 0),
                "capacity": settings.SANDBOX_HOST_SLOTS,
                "sessions": LabSession.objects.filter(host=name, state__in=LabSession.LIVE_STATES).count(),
                "warm": WarmSandbox.objects.filter(host=name, state=WarmSandbox.READY).count(),
            }
        )
    return rows


@require_GET
@login_required
@admin_only
def index(request):
    context = {"rows": live_sessions(request), "waiting": len(placement.waiting()), "flagged": flagged_sessions()}
    if request.htmx and request.GET.get("part") == "sessions":  # the table's own refresh, every 5 s
        return render(request, "console/sessions.html", context)
    context.update(
        hosts=hosts(),
        states=LabSession.LIVE_STATES,
        q=request.GET.get("q", ""),
        state=request.GET.get("state", ""),
        courses=Course.objects.all(),
        course=request.GET.get("course", ""),
        sort=request.GET.get("sort", ""),
        starts_chart=charts.bars(charts.starts_per_hour()),
        live_chart=charts.bars(charts.live_over_time()),
    )
    return render(request, "console/index.html", context)


@require_POST
@login_required
@admin_only
def end(request, session_id: int):
    session = get_object_or_404(LabSession.objects.select_related("user", "lab"), pk=session_id)
    lifecycle.request_end(session, "ended by an administrator", request.user)
    return redirect_back(request)


@require_POST
@login_required
@admin_only
def extend(request, session_id: int):
    session = get_object_or_404(LabSession.objects.select_related("user", "lab"), pk=session_id)
    if lifecycle.extend(session):
        audit(request.user, "session.extend", describe(session), f"now expires {session.expires_at:%H:%M:%S}")
    return redirect_back(request)


@require_POST
@login_required
@admin_only
def drain(request, host: str):
    if host not in settings.DOCKER_HOSTS:
        raise Http404(f"no Docker host {host!r}")
    drained = request.POST.get("drained") == "1"
    SandboxHost.objects.update_or_create(name=host, defaults={"drained": drained})
    audit(request.user, "host.drain" if drained else "host.undrain", f"host {host}")
    return redirect_back(request)


@require_GET
@login_required
@admin_only
def audit_log(request):
    events = AuditEvent.objects.select_related("actor")
    if action := request.GET.get("action"):
        events = events.filter(action__startswith=action)
    if who := request.GET.get("actor"):
        events = events.filter(actor__username=who)
    return render(request, "console/audit.html", {"events": events[:500], "action": action or "", "actor": who or ""})


def redirect_back(request):
    return redirect("console:index")  # htmx follows it and swaps the refreshed page in


@require_GET
@login_required
def watch(request, session_id: int):
    """Admins watch any learner's terminal; a teacher, those of their classes' learners."""
    session = get_object_or_404(LabSession.objects.select_related("user", "lab"), pk=session_id)
    if not may_watch(request.user, session):
        raise PermissionDenied
    return render(request, "console/watch.html", {"session": session})


@require_GET
@login_required
@admin_only
def tasks(request):
    """Workers, queues and failures: a partial the console loads on its own (pinging takes a second)."""
    return render(
        request,
        "console/tasks.html",
        {
            "workers": workers.workers(),
            "queues": workers.queue_lengths(),
            "failures": workers.recent_failures()[:50],
        },
    )


def limit_fields() -> list[dict]:
    """Every editable limit with its meaning, its value now and its environment default."""
    fields = [
        {
            "name": name,
            "meaning": meaning,
            "current": limits.limit(name),
            "default": getattr(settings, name),
            "checkbox": kind is bool,
        }
        for name, (kind, _, meaning) in limits.EDITABLE.items()
    ]
    for (profile, image, nodes), size in limits.warm_pool().items():
        what = f"{nodes}-node clusters" if nodes > 1 else "sandboxes"
        fields.append(
            {
                "name": f"{limits.POOL_PREFIX}{pool_key(profile, image, nodes)}",
                "meaning": f"warm {profile} {what} of {image} per host",
                "current": size,
                "default": settings.SANDBOX_WARM_POOL.get((profile, image, nodes), 0),
                "checkbox": False,
            }
        )
    return fields


@login_required
@admin_only
def edit_limits(request):
    """Limits and quotas, saved over the environment's defaults; every change is audited."""
    fields = limit_fields()
    errors = {}
    if request.method == "POST":
        row, _ = PlatformLimits.objects.get_or_create(pk=1)
        changes = []
        for field in fields:
            name = field["name"]
            if name not in request.POST and not field["checkbox"]:
                continue  # an unchecked checkbox is absent from the form; anything else absent is untouched
            try:
                value = limits.parse(name, request.POST.get(name, ""))
            except ValueError as e:
                errors[name] = str(e) or "not a valid value"
                continue
            if value != field["current"]:
                changes.append(f"{name}: {field['current']} -> {value}")
                row.values[name] = value
        if not errors:
            row.save()
            limits.forget()
            if changes:
                audit(request.user, "limits.change", "platform limits", "; ".join(changes))
            return redirect("console:limits")
        for field in fields:
            field["error"] = errors.get(field["name"], "")
    return render(request, "console/limits.html", {"fields": fields})
