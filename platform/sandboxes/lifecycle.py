"""What happens to a lab session, as plain functions the Celery tasks and commands call.

Each function is idempotent: it claims its work with a conditional update and treats work
already done (a container already created, already removed) as done, so a task retried after
a worker was killed yields exactly one sandbox per node or none.
"""

import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.models import audit
from labs import checks, runner
from labs.models import Lab
from sandboxes import events, placement, pool, pressure, queues
from sandboxes.backends import get_backend
from sandboxes.backends.base import SandboxError
from sandboxes.limits import limit
from sandboxes.models import LabSession, Sandbox, SandboxHost, WarmSandbox
from sandboxes.profiles import PROFILES

log = logging.getLogger(__name__)


class StartRefused(Exception):
    """A start the learner cannot have right now; the message says why."""


def sandbox_name(session_id: int, node: str) -> str:
    """Unique even across database resets or two installations sharing an engine: a retried task
    reads the same name back from the Sandbox row; a new session never meets an old container."""
    return f"{settings.SANDBOX_PREFIX}-s{session_id}-{secrets.token_hex(4)}-{node}"


def network_name(session_id: int) -> str:
    return f"{settings.SANDBOX_PREFIX}-s{session_id}-net"


def use_network(session: LabSession, network: str) -> None:
    session.network = network
    LabSession.objects.filter(pk=session.pk).update(network=network)


def create_session(user, lab: Lab) -> LabSession:
    """Record a new session and, if a host has room, queue its provisioning (after the commit);
    otherwise it waits in line (placement.dispatch_waiting places it when room frees up)."""
    profile = PROFILES[lab.profile]
    if profile.enabled and not limit(profile.enabled):
        raise StartRefused(
            f"This lab needs a sandbox {profile.what}, and the administrator has not enabled "
            f"{profile.kind} on this platform."
        )
    recent = LabSession.objects.filter(user=user, created_at__gte=timezone.now() - timedelta(hours=1)).count()
    if recent >= limit("SANDBOX_STARTS_PER_HOUR"):
        raise StartRefused(
            f"You have started {recent} labs in the last hour, the most allowed. Please wait a little "
            "before starting another; your running work is not affected."
        )
    with transaction.atomic():
        placement.lock_hosts()
        host = placement.pick_host(lab.profile, len(lab.nodes), lab.image)
        session = LabSession.objects.create(
            user=user,
            lab=lab,
            host=host or "",
            expires_at=timezone.now() + timedelta(minutes=lab.time_limit_minutes),
            message="Waiting for a worker" if host else "All sandboxes are busy: waiting for a place",
        )
        for node in lab.nodes:
            Sandbox.objects.create(session=session, node=node, name=sandbox_name(session.pk, node))
        if host:
            queues.send_to_host(queues.PROVISION, host, session.pk)
        else:
            transaction.on_commit(placement.dispatch_waiting)
    return session


def extend(session: LabSession) -> bool:
    """Add SANDBOX_EXTEND_MINUTES, never past SANDBOX_TIME_LIMIT_MAX_MINUTES from the start."""
    if session.state != LabSession.READY:
        return False
    started = session.ready_at or session.created_at
    latest = started + timedelta(minutes=limit("SANDBOX_TIME_LIMIT_MAX_MINUTES"))
    new_expiry = min(session.expires_at + timedelta(minutes=limit("SANDBOX_EXTEND_MINUTES")), latest)
    if new_expiry <= session.expires_at:
        return False
    LabSession.objects.filter(pk=session.pk, state=LabSession.READY).update(expires_at=new_expiry)
    session.expires_at = new_expiry
    events.publish(session.pk, "expires", expires_at=new_expiry.isoformat())
    return True


class Cancelled(Exception):
    """The session was ended while it was being provisioned."""


def set_state(session: LabSession, state: str, progress: int, message: str) -> None:
    """Record and publish a start phase, unless the session ended meanwhile (then stop the start)."""
    live = LabSession.objects.filter(pk=session.pk, state__in=LabSession.LIVE_STATES)
    if not live.update(state=state, progress=progress, message=message):
        raise Cancelled
    session.state, session.progress, session.message = state, progress, message
    events.publish(session.pk, "progress", state=state, progress=progress, message=message)


def provision(session_id: int) -> None:
    """Bring a session's lab up (labs/runner.py, the path labtest takes too), publishing progress."""
    claimed = LabSession.objects.filter(
        pk=session_id, state__in=[LabSession.QUEUED, LabSession.CREATING, LabSession.STARTING, LabSession.SETUP]
    ).update(state=LabSession.CREATING)
    if not claimed:
        return  # ended, failed or ready already
    session = LabSession.objects.select_related("lab").get(pk=session_id)
    lab = session.lab.definition()
    backend = get_backend(session.host)
    labels = {
        "berth.prefix": settings.SANDBOX_PREFIX,
        "berth.session": str(session.pk),
        "berth.user": str(session.user_id),
        "berth.lab": lab.slug,
    }
    sandboxes = {sandbox.node: sandbox for sandbox in session.sandboxes.all()}

    def created(node: str, sandbox_id: str) -> None:
        sandboxes[node].container_id = sandbox_id
        sandboxes[node].save(update_fields=["container_id"])

    def claim() -> dict[str, str] | None:
        made = {node: sandbox.container_id for node, sandbox in sandboxes.items() if sandbox.container_id}
        if made or lab.resources:  # a retried task keeps what it made or took
            return made
        warm = pool.claim(session.host, sandboxes, lab.image, lab.profile)
        if warm is None:
            return None
        ids, cluster = warm
        for node, sandbox_id in ids.items():
            created(node, sandbox_id)
        if cluster:
            use_network(session, cluster)
        set_state(session, LabSession.CREATING, 40, "Taking a warm " + ("cluster" if cluster else "sandbox"))
        return ids

    if len(lab.nodes) > 1 and not session.network:
        use_network(session, network_name(session.pk))
    try:
        runner.bring_up(
            backend,
            lab,
            names={node: sandbox.name for node, sandbox in sandboxes.items()},
            labels=labels,
            network=session.network or None,
            progress=lambda phase, percent, message: set_state(session, phase, percent, message),
            resume=lambda: resume_kept(session, list(sandboxes.values()), backend),
            claim=claim,
            created=created,
        )
    except Cancelled:
        remove_sandboxes(session)  # ended by the learner or an admin while starting
        return
    except SandboxError as e:
        log.warning("session %s failed to start: %s", session.pk, e)
        fail(session, e.learner_message)
        return
    except Exception:
        log.exception("session %s failed to start", session.pk)
        fail(session, "The sandbox could not be started because of an internal error.")
        raise
    now = timezone.now()
    LabSession.objects.filter(pk=session.pk, state=LabSession.SETUP).update(
        state=LabSession.READY,
        progress=100,
        message="Ready",
        ready_at=now,
        last_activity_at=now,
        expires_at=now + timedelta(minutes=lab.time_limit_minutes),
    )
    events.publish(session.pk, "progress", state=LabSession.READY, progress=100, message="Ready")


def kept_sandbox(user, lab: Lab) -> Sandbox | None:
    """The learner's stopped sandbox of this lab, kept to resume (of a multi-node lab: one of the
    kept session's sandboxes; `kept_set` gives them all)."""
    return (
        Sandbox.objects.filter(
            session__user=user, session__lab=lab, kept_until__gt=timezone.now(), removed_at__isnull=True
        )
        .select_related("session")
        .order_by("-kept_until")
        .first()
    )


def kept_set(kept: Sandbox):
    """Every kept sandbox of the session `kept` belongs to (one per node)."""
    return kept.session.sandboxes.filter(kept_until__isnull=False, removed_at__isnull=True)


def resume_kept(session: LabSession, sandboxes: list[Sandbox], backend) -> dict[str, str] | None:
    """Hand the learner's kept sandboxes to this session: the same containers, renamed, on the
    same network (a cluster's certificates name its nodes' addresses), with their files and (on
    Docker days) their inner engines' images, containers and volumes. Returns {node: sandbox id},
    or None when there are none."""
    kept = kept_sandbox(session.user, session.lab)
    if kept is None or kept.session.host != session.host:
        return None
    old_session = kept.session
    by_node = {k.node: k for k in kept_set(kept)}
    if set(by_node) != {s.node for s in sandboxes}:
        return None  # the lab's nodes changed since: start fresh
    with transaction.atomic():
        claimed = Sandbox.objects.filter(
            pk__in=[k.pk for k in by_node.values()], kept_until__isnull=False, removed_at__isnull=True
        ).update(kept_until=None, removed_at=timezone.now())
        if claimed != len(by_node):
            transaction.set_rollback(True)
            return None  # another start took them
    set_state(session, LabSession.CREATING, 20, "Resuming your sandbox" + ("es" if len(sandboxes) > 1 else ""))
    for sandbox in sandboxes:
        container_id = by_node[sandbox.node].container_id
        backend.rename(container_id, sandbox.name)
        sandbox.container_id = container_id
        sandbox.save(update_fields=["container_id"])
    if old_session.network:  # the nodes keep their network, and so their addresses
        use_network(session, old_session.network)
        LabSession.objects.filter(pk=old_session.pk).update(network="")
    return {sandbox.node: sandbox.container_id for sandbox in sandboxes}


def fail(session: LabSession, learner_message: str) -> None:
    LabSession.objects.filter(pk=session.pk).update(
        state=LabSession.FAILED,
        error=learner_message,
        message="Failed",
        ended_at=timezone.now(),
        end_reason="failed to start",
    )
    events.publish(session.pk, "progress", state=LabSession.FAILED, progress=100, message=learner_message)
    remove_sandboxes(session)


def request_end(session: LabSession, reason: str, actor, keep: bool = True) -> bool:
    """End a live session from the web tier or the sampler: marked ended at once (nobody
    reattaches, its slots are free), then its host's worker keeps or removes its sandboxes
    (`end`); audited as the actor's (the sampler, actor None, audits its own reason). False when
    it had ended already."""
    if not LabSession.objects.filter(pk=session.pk, state__in=LabSession.LIVE_STATES).update(
        state=LabSession.ENDED, end_reason=reason, message="Ended"
    ):
        return False
    # Read after the update: once ended, a waiting session can no longer be placed on a host.
    host = LabSession.objects.filter(pk=session.pk).values_list("host", flat=True).get()
    if host:
        queues.send_to_host(queues.END_SESSION, host, session.pk, reason, keep)
    else:  # still waiting in line: no sandbox was made, nothing for a worker to do
        end(session.pk, reason, keep=False)
    if actor is not None:
        action = "lab.end" if actor.pk == session.user_id else "session.end"
        audit(actor, action, f"session {session.pk} ({session.user.username}, {session.lab.slug})", reason)
    return True


def end(session_id: int, reason: str, keep: bool = True) -> None:
    """End a session: mark it ended first (so nobody reattaches), then stop its sandbox to keep
    (single-node labs, when keeping is on) or remove its sandboxes. The web side may already
    have marked it ended; the event is published either way."""
    session = LabSession.objects.select_related("lab").get(pk=session_id)
    was_ready = session.state == LabSession.READY or session.ready_at is not None
    LabSession.objects.filter(pk=session_id, state__in=LabSession.LIVE_STATES).update(
        state=LabSession.ENDED, end_reason=reason, message="Ended"
    )
    LabSession.objects.filter(pk=session_id, ended_at__isnull=True).update(ended_at=timezone.now())
    if not (keep and was_ready and keep_sandbox(session)):
        remove_sandboxes(session)
    events.publish(session_id, "progress", state=LabSession.ENDED, progress=100, message=f"Ended: {reason}")
    placement.dispatch_waiting()  # slots freed: the next in line gets them


def keep_sandbox(session: LabSession) -> bool:
    """Stop (not remove) a session's sandboxes, and its network if it has one, and keep them for
    SANDBOX_KEEP_DAYS."""
    days = limit("SANDBOX_KEEP_DAYS")
    sandboxes = list(session.sandboxes.filter(removed_at__isnull=True).exclude(container_id=""))
    if not days or len(sandboxes) != len(session.lab.nodes):
        return False
    backend = get_backend(session.host)
    try:
        for sandbox in sandboxes:
            backend.stop(sandbox.container_id)
    except SandboxError:
        return False
    # One kept session per learner and lab: an older one goes.
    for older in Sandbox.objects.filter(
        session__user=session.user, session__lab=session.lab, kept_until__isnull=False, removed_at__isnull=True
    ).exclude(session=session):
        discard_kept(older)
    session.sandboxes.filter(pk__in=[s.pk for s in sandboxes]).update(kept_until=timezone.now() + timedelta(days=days))
    return True


def discard_kept(sandbox: Sandbox) -> None:
    session = sandbox.session
    get_backend(session.host).remove(sandbox.container_id or sandbox.name)
    Sandbox.objects.filter(pk=sandbox.pk).update(kept_until=None, removed_at=timezone.now())
    if session.network and not session.sandboxes.filter(removed_at__isnull=True).exists():
        get_backend(session.host).remove_network(session.network)  # its last node went


def remove_sandboxes(session: LabSession) -> None:
    if not session.host:
        return  # it never left the line: nothing was made
    backend = get_backend(session.host)
    for sandbox in session.sandboxes.filter(removed_at__isnull=True):
        backend.remove(sandbox.container_id or sandbox.name)
        sandbox.removed_at = timezone.now()
        sandbox.save(update_fields=["removed_at"])
    if session.network:
        backend.remove_network(session.network)


def known_names(host: str) -> set[str]:
    """Container names the database accounts for on this host: live sessions and the warm pool."""
    live = Sandbox.objects.filter(session__host=host, session__state__in=LabSession.LIVE_STATES)
    kept = Sandbox.objects.filter(session__host=host, kept_until__isnull=False, removed_at__isnull=True)
    return (
        set(live.values_list("name", flat=True))
        | set(kept.values_list("name", flat=True))
        | set(WarmSandbox.objects.filter(host=host).values_list("name", flat=True))
    )


AUTO_EXTEND_WINDOW = timedelta(minutes=5)  # a session this close to its end, and in use, gets more time


def extend_active(host: str, now) -> int:
    """Honest timers: a learner at work (terminal input or a check in the last minutes) is not
    cut off; their session is extended as Extend would, never past the admin's maximum."""
    near_end = LabSession.objects.filter(
        host=host,
        state=LabSession.READY,
        expires_at__gte=now,
        expires_at__lt=now + AUTO_EXTEND_WINDOW,
        last_activity_at__gte=now - AUTO_EXTEND_WINDOW,
    )
    return sum(extend(session) for session in near_end)


def reap(host: str) -> dict:
    """End expired and idle sessions, and reconcile the database with what the engine runs."""
    now = timezone.now()
    counts = {"expired": 0, "idle": 0, "orphans_removed": 0, "vanished": 0, "volumes_removed": 0}
    counts["extended"] = extend_active(host, now)
    for session_id in LabSession.objects.filter(host=host, state=LabSession.READY, expires_at__lt=now).values_list(
        "pk", flat=True
    ):
        end(session_id, "time limit reached")
        counts["expired"] += 1
    idle_minutes = limit("SANDBOX_IDLE_MINUTES")
    idle_since = now - timedelta(minutes=idle_minutes)
    for session_id in LabSession.objects.filter(
        host=host, state=LabSession.READY, last_activity_at__lt=idle_since
    ).values_list("pk", flat=True):
        end(session_id, f"no activity for {idle_minutes} minutes")
        counts["idle"] += 1

    backend = get_backend(host)
    counts["pool_removed"] = pool.discard_stale(host)
    counts["checks_interrupted"] = checks.close_interrupted(host, now)
    counts["kept_expired"] = 0
    for sandbox in Sandbox.objects.filter(session__host=host, kept_until__lt=now, removed_at__isnull=True):
        discard_kept(sandbox)
        counts["kept_expired"] += 1
    # Rows are written before their containers are made, and a warm sandbox changes its name
    # when claimed: names known before OR after the listing are not orphans.
    known = known_names(host)
    running = backend.list_sandboxes()
    known |= known_names(host)
    labtest_grace = now.timestamp() - 3600  # a self-test cleans up after itself; only strays are reaped
    for info in running:
        if info.name in known or ("berth.labtest" in info.labels and info.created > labtest_grace):
            continue
        backend.remove(info.container_id)
        counts["orphans_removed"] += 1
    counts["volumes_removed"] = backend.remove_orphaned_storage()

    running_names = {info.name for info in running if info.running}
    stale = now - timedelta(seconds=settings.SANDBOX_READY_TIMEOUT * 3)
    for session in LabSession.objects.filter(host=host, state__in=LabSession.LIVE_STATES):
        names = set(session.sandboxes.values_list("name", flat=True))
        if session.state == LabSession.READY and not names <= running_names:
            end(session.pk, "sandbox stopped unexpectedly", keep=False)
            counts["vanished"] += 1
        elif session.state != LabSession.READY and session.created_at < stale:
            fail(session, "The sandbox did not start in time. Please start the lab again.")
            counts["vanished"] += 1
    return counts


def sessions_allowed() -> int:
    return limit("SANDBOX_SESSIONS_PER_LEARNER")


def sample(host: str) -> dict:
    """For the admin console (the web tier cannot ask Docker): the engine's health and response
    time, and CPU and memory of every live sandbox on it."""
    backend = get_backend(host)
    started = time.monotonic()
    try:
        backend.ping()
        healthy = True
    except SandboxError:
        healthy = False
    SandboxHost.objects.update_or_create(
        name=host,
        defaults={
            "healthy": healthy,
            "response_ms": (time.monotonic() - started) * 1000,
            "checked_at": timezone.now(),
        },
    )
    if not healthy:
        return {"healthy": False, "sampled": 0}
    live = list(pressure.live_sandboxes(host).exclude(container_id="").select_related("session__user", "session__lab"))
    found = backend.stats_many([sandbox.container_id for sandbox in live])
    now = timezone.now()
    sampled = [sandbox for sandbox in live if sandbox.container_id in found]
    for sandbox in sampled:
        stats = found[sandbox.container_id]
        sandbox.cpu_percent, sandbox.memory_bytes, sandbox.stats_at = stats["cpu_percent"], stats["memory_bytes"], now
    Sandbox.objects.bulk_update(sampled, ["cpu_percent", "memory_bytes", "stats_at"], batch_size=200)
    # what this sample did (the task's result; the benches print it): "held" counts those still held
    acted = {"pinned": 0, "held": 0, "let go": 0, "slowed": 0, "ended": 0}
    for sandbox in sampled:
        if (action := pressure.watch(backend, sandbox, found[sandbox.container_id], now)) in acted:
            acted[action] += 1
    return {"healthy": True, "sampled": len(sampled), **acted}
