"""Where a session's sandboxes go: the Docker host with the most free slots, never a drained one.
When every host is full, the session waits in line and is placed as soon as slots free up."""

from django.conf import settings
from django.db import transaction

from sandboxes import events, queues
from sandboxes.models import LabSession, SandboxHost, WarmSandbox
from sandboxes.profiles import PROFILES


def slots_for(profile: str, nodes: int = 1) -> int:
    setting = PROFILES[profile].slots
    return nodes * (getattr(settings, setting) if setting else 1)


def used_slots() -> dict[str, int]:
    """Slots taken on every configured host: live sessions plus warm-pool sandboxes."""
    used = dict.fromkeys(settings.DOCKER_HOSTS, 0)
    live = LabSession.objects.filter(state__in=LabSession.LIVE_STATES).exclude(host="")
    for host, profile, nodes in live.values_list("host", "lab__profile", "lab__nodes"):
        if host in used:
            used[host] += slots_for(profile, len(nodes))
    pool = WarmSandbox.objects.filter(state__in=[WarmSandbox.WARMING, WarmSandbox.READY])
    for host, profile in pool.values_list("host", "profile"):
        if host in used:
            used[host] += slots_for(profile)
    return used


def open_hosts() -> list[str]:
    drained = set(SandboxHost.objects.filter(drained=True).values_list("name", flat=True))
    return [host for host in settings.DOCKER_HOSTS if host not in drained]


def lock_hosts() -> None:
    """Placement reads the free slots, then takes some: inside a transaction, this makes
    placements wait for each other (row locks on PostgreSQL, where 100 simultaneous starts
    otherwise overfill a host; SQLite writes one transaction at a time anyway)."""
    names = sorted(settings.DOCKER_HOSTS)
    SandboxHost.objects.bulk_create([SandboxHost(name=name) for name in names], ignore_conflicts=True)
    list(SandboxHost.objects.select_for_update().filter(name__in=names).order_by("name"))


def pick_host(profile: str, nodes: int, image: str = "") -> str | None:
    """The open host with the most free slots that fits, preferring one with a warm sandbox (or
    warm cluster of as many nodes) ready for this image; None when all are full."""
    used = used_slots()
    need = slots_for(profile, nodes)
    candidates = [h for h in open_hosts() if settings.SANDBOX_HOST_SLOTS - used[h] >= need]
    if not candidates:
        # A warm sandbox or cluster already holds its slots: claiming it needs no more.
        candidates = [h for h in open_hosts() if warm_ready(h, profile, image, nodes)]
        if not candidates:
            return None
    return max(candidates, key=lambda h: (warm_ready(h, profile, image, nodes), -used[h]))


def warm_ready(host: str, profile: str, image: str, nodes: int = 1) -> bool:
    return WarmSandbox.objects.filter(
        host=host, profile=profile, image=image, nodes=nodes, node="node1", state=WarmSandbox.READY
    ).exists()


def waiting() -> list[LabSession]:
    return list(
        LabSession.objects.filter(state=LabSession.QUEUED, host="").select_related("lab").order_by("created_at", "pk")
    )


def queue_position(session: LabSession) -> int:
    return (
        LabSession.objects.filter(state=LabSession.QUEUED, host="", created_at__lte=session.created_at)
        .exclude(created_at=session.created_at, pk__gt=session.pk)
        .count()
    )


def dispatch_waiting() -> int:
    """Place waiting sessions, oldest first, while hosts have room; tell the rest their place.
    Runs after every start and end, so it stays cheap with a long line: a shape of lab that found
    no room is not tried again this round, and only a place that changed is written and sent."""
    placed = 0
    full: set[tuple] = set()  # (profile, nodes, image) no host has room for, this round
    for position, session in enumerate(waiting(), start=1):
        lab = session.lab
        shape = (lab.profile, len(lab.nodes), lab.image)
        if shape not in full:
            with transaction.atomic():
                lock_hosts()
                host = pick_host(*shape)
                if host and LabSession.objects.filter(pk=session.pk, state=LabSession.QUEUED, host="").update(
                    host=host, message="Waiting for a worker"
                ):
                    placed += 1
                    queues.send_to_host(queues.PROVISION, host, session.pk)
            if host:
                continue  # placed, here or by a dispatch running at the same time
            full.add(shape)
        place = position - placed
        message = f"All sandboxes are busy: you are number {place} in line"
        if session.message != message:
            LabSession.objects.filter(pk=session.pk, state=LabSession.QUEUED, host="").update(message=message)
            events.publish(session.pk, "progress", state=LabSession.QUEUED, progress=0, message=message, position=place)
    return placed
