"""The warm pool: sandboxes, and clusters of several nodes, created and started ahead of time,
per host, image, profile and node count (settings.SANDBOX_WARM_POOL). A start claims one and only
runs the lab's setup in it."""

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
    env = {"BERTH_CLUSTER_NODES": " ".join(nodes)} if profile in ELEVATED else {}  # every node of the lab
    if profile == "kubernetes":
        env["BERTH_CONTROL_PLANE"] = nodes[0]
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


def cluster_nodes(nodes: int) -> list[str]:
    """The node names of a warm cluster: only labs whose nodes are named so can claim it."""
    return [f"node{i}" for i in range(1, nodes + 1)]


def refill(host: str) -> int:
    """Create the missing warm sandboxes and clusters on this host (within its free slots);
    return how many sandboxes were made."""
    if host not in open_hosts():
        return 0
    made = 0
    for (profile, image, nodes), size in warm_pool().items():
        if PROFILES[profile].enabled and not limit(PROFILES[profile].enabled):
            continue
        have = WarmSandbox.objects.filter(
            host=host,
            profile=profile,
            image=image,
            nodes=nodes,
            node=POOL_NODE,
            state__in=[WarmSandbox.WARMING, WarmSandbox.READY],
        ).count()
        for _ in range(size - have):
            if settings.SANDBOX_HOST_SLOTS - used_slots()[host] < slots_for(profile, nodes):
                return made
            if not warm_up(host, profile, image, nodes):
                return made
            made += nodes
    return made


def warm_up(host: str, profile: str, image: str, nodes: int) -> bool:
    """One warm sandbox, or one warm cluster of `nodes` on a network of its own, started and
    waited for until usable (a cluster: every node joined and Ready)."""
    backend = get_backend(host)
    tag = secrets.token_hex(4)
    names = cluster_nodes(nodes)
    cluster = f"{settings.SANDBOX_PREFIX}-pool-{tag}-net" if nodes > 1 else ""
    labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.pool": "1"}
    members = [
        WarmSandbox.objects.create(
            host=host,
            image=image,
            profile=profile,
            node=node,
            nodes=nodes,
            cluster=cluster,
            name=f"{settings.SANDBOX_PREFIX}-pool-{tag}" + (f"-{node}" if nodes > 1 else ""),
        )
        for node in names
    ]
    try:
        if cluster:
            backend.create_network(cluster, labels)
        for warm in members:
            spec = spec_for(warm.name, image, profile, warm.node, labels, cluster or None, None, names)
            warm.container_id = backend.create(spec)
            warm.save(update_fields=["container_id"])
        for warm in members:
            backend.start(warm.container_id)
        for warm in members:
            backend.wait_ready(warm.container_id, settings.SANDBOX_READY_TIMEOUT, lambda phase: None)
    except SandboxError as e:
        log.warning("warm %s %s failed: %s", profile, cluster or members[0].name, e)
        discard(host, members)
        return False
    WarmSandbox.objects.filter(pk__in=[w.pk for w in members], state=WarmSandbox.WARMING).update(
        state=WarmSandbox.READY
    )
    return True


def discard(host: str, members: list[WarmSandbox]) -> None:
    backend = get_backend(host)
    for warm in members:
        backend.remove(warm.container_id or warm.name)
        warm.delete()
    for cluster in {warm.cluster for warm in members if warm.cluster}:
        backend.remove_network(cluster)


def claim(host: str, sandboxes: dict[str, Sandbox], image: str, profile: str) -> tuple[dict[str, str], str] | None:
    """Hand a ready warm sandbox, or a warm cluster of as many nodes, to a session's nodes: each
    renamed to its node's sandbox name. Returns ({node: container id}, the cluster's network or
    ""), or None when none is ready (or the lab's nodes are not named node1..nodeN)."""
    nodes = len(sandboxes)
    if sorted(sandboxes) != cluster_nodes(nodes):
        return None
    ready = WarmSandbox.objects.filter(
        host=host, image=image, profile=profile, nodes=nodes, node=POOL_NODE, state=WarmSandbox.READY
    )
    for first in ready:
        with transaction.atomic():
            group = (
                WarmSandbox.objects.filter(pk=first.pk)
                if nodes == 1
                else WarmSandbox.objects.filter(host=host, cluster=first.cluster)
            )
            if group.filter(state=WarmSandbox.READY).update(state=WarmSandbox.CLAIMED) != nodes:
                transaction.set_rollback(True)
                continue  # another start took it first, or a node of it is not ready
        members = {warm.node: warm for warm in group}
        backend = get_backend(host)
        if not all(backend.poll(warm.container_id) for warm in members.values()):
            discard(host, list(members.values()))
            continue
        for node, warm in members.items():
            backend.rename(warm.container_id, sandboxes[node].name)
            warm.delete()
        return {node: warm.container_id for node, warm in members.items()}, first.cluster
    return None


def discard_stale(host: str) -> int:
    """Remove pool records whose container is gone (with the rest of their cluster) and pool
    containers nobody records."""
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
    gone = set()
    for warm in WarmSandbox.objects.filter(host=host):
        if warm.pk not in gone and (
            (warm.state == WarmSandbox.READY and not backend.poll(warm.container_id))
            or (warm.state == WarmSandbox.WARMING and warm.created_at < stale)
        ):
            members = list(WarmSandbox.objects.filter(host=host, cluster=warm.cluster)) if warm.cluster else [warm]
            gone |= {member.pk for member in members}
            discard(host, members)
    return removed + len(gone)
