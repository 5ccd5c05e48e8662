"""The warm pool: sandboxes created and started ahead of time, per host, image and profile
(settings.SANDBOX_WARM_POOL). A start claims one and only runs the lab's setup in it."""

import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandboxes.backends import get_backend
from sandboxes.backends.base import SandboxError, SandboxSpec
from sandboxes.limits import limit, warm_pool
from sandboxes.models import Sandbox, WarmSandbox
from sandboxes.placement import open_hosts, slots_for, used_slots
from sandboxes.profiles import ELEVATED, PROFILES

log = logging.getLogger(__name__)
POOL_NODE = "node1"  # a pool sandbox's hostname; only labs whose one node has this name can claim it


def spec_for(
    name: str,
    image: str,
    profile: str,
    hostname: str,
    labels: dict,
    network: str | None = None,
    resources: dict | None = None,
    nodes: list[str] | None = None,
) -> SandboxSpec:
    """The sandbox's settings: the profile's defaults, raised where the lab asks (`resources:`),
    never beyond the admin's maxima. `nodes`: every node of the lab (a Kubernetes node learns
    from them which is its control plane)."""
    kind = PROFILES[profile]
    wanted = resources or {}
    defaults = {
        "memory_mb": limit(kind.memory),
        "cpus": limit("SANDBOX_CPUS"),
        "pids": limit(kind.pids),
        "disk_mb": limit(kind.disk),
    }
    maxima = {
        "memory_mb": limit("SANDBOX_MAX_MEMORY_MB"),
        "cpus": limit("SANDBOX_MAX_CPUS"),
        "pids": limit("SANDBOX_MAX_PIDS"),
        "disk_mb": limit("SANDBOX_MAX_DISK_MB"),
    }
    limits = {key: min(wanted.get(key, default), max(maxima[key], default)) for key, default in defaults.items()}
    nodes = nodes or [hostname]
    env = {"BERTH_CONTROL_PLANE": nodes[0], "BERTH_CLUSTER_NODES": " ".join(nodes)} if profile == "kubernetes" else {}
    return SandboxSpec(
        name=name,
        image=image,
        profile=profile,
        hostname=hostname,
        labels=labels,
        network=network,
        runtime=limit("SANDBOX_DOCKER_RUNTIME") if profile in ELEVATED else None,
        env=env,
        **limits,
    )


def refill(host: str) -> int:
    """Create the missing warm sandboxes on this host (within its free slots); return how many."""
    if host not in open_hosts():
        return 0
    backend = get_backend(host)
    made = 0
    for (profile, image), size in warm_pool().items():
        if PROFILES[profile].enabled and not limit(PROFILES[profile].enabled):
            continue
        have = WarmSandbox.objects.filter(
            host=host, profile=profile, image=image, state__in=[WarmSandbox.WARMING, WarmSandbox.READY]
        ).count()
        for _ in range(size - have):
            if settings.SANDBOX_HOST_SLOTS - used_slots()[host] < slots_for(profile):
                return made
            name = f"{settings.SANDBOX_PREFIX}-pool-{secrets.token_hex(4)}"
            warm = WarmSandbox.objects.create(host=host, image=image, profile=profile, name=name)
            labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.pool": "1"}
            try:
                warm.container_id = backend.create(spec_for(name, image, profile, POOL_NODE, labels))
                warm.save(update_fields=["container_id"])
                backend.start(warm.container_id)
                backend.wait_ready(warm.container_id, settings.SANDBOX_READY_TIMEOUT, lambda phase: None)
            except SandboxError as e:
                log.warning("warm sandbox %s failed: %s", name, e)
                backend.remove(warm.container_id or name)
                warm.delete()
                return made
            WarmSandbox.objects.filter(pk=warm.pk, state=WarmSandbox.WARMING).update(state=WarmSandbox.READY)
            made += 1
    return made


def claim(host: str, sandbox: Sandbox, image: str, profile: str) -> str | None:
    """Hand a ready warm sandbox to this session's node: renamed to the node's sandbox name.
    Returns its container id, or None when none is ready."""
    if sandbox.node != POOL_NODE:
        return None
    for warm in WarmSandbox.objects.filter(host=host, image=image, profile=profile, state=WarmSandbox.READY):
        with transaction.atomic():
            if not WarmSandbox.objects.filter(pk=warm.pk, state=WarmSandbox.READY).update(
                state=WarmSandbox.CLAIMED, claimed_by=sandbox
            ):
                continue  # another start took it first
        backend = get_backend(host)
        if not backend.poll(warm.container_id):
            backend.remove(warm.container_id)
            warm.delete()
            continue
        backend.rename(warm.container_id, sandbox.name)
        warm.delete()
        return warm.container_id
    return None


def discard_stale(host: str) -> int:
    """Remove pool records whose container is gone and pool containers nobody records."""
    backend = get_backend(host)
    removed = 0
    known = set(WarmSandbox.objects.filter(host=host).values_list("name", flat=True))
    for info in backend.list_sandboxes():
        if (
            info.labels.get("berth.pool") == "1"
            and info.name not in known
            and info.name.startswith(f"{settings.SANDBOX_PREFIX}-pool-")
        ):
            backend.remove(info.container_id)
            removed += 1
    stale = timezone.now() - timezone.timedelta(seconds=settings.SANDBOX_READY_TIMEOUT * 3)
    for warm in WarmSandbox.objects.filter(host=host):
        if (warm.state == WarmSandbox.READY and not backend.poll(warm.container_id)) or (
            warm.state == WarmSandbox.WARMING and warm.created_at < stale
        ):
            backend.remove(warm.container_id or warm.name)
            warm.delete()
            removed += 1
    return removed
