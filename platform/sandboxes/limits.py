"""Limits and quotas an admin can change in the console without a restart. Each starts at its
environment setting (berth/settings.py); a value saved in the console overrides it. Code reads
them with `limit(NAME)`, never settings.NAME directly."""

import time

from django.conf import settings

from berth.env import parse_pool_key
from sandboxes.models import PlatformLimits

# name: (type, minimum, what it means) -- the console's form is made from this table
EDITABLE = {
    "SANDBOX_SESSIONS_PER_LEARNER": (int, 1, "live labs per learner"),
    "SANDBOX_STARTS_PER_HOUR": (int, 1, "lab starts per learner per hour"),
    "SANDBOX_TIME_LIMIT_MAX_MINUTES": (int, 5, "how far Extend can take a session (minutes from its start)"),
    "SANDBOX_EXTEND_MINUTES": (int, 1, "minutes one Extend adds"),
    "SANDBOX_KEEP_DAYS": (int, 0, "days a learner's stopped sandbox is kept to resume (0: never kept)"),
    "SANDBOX_IDLE_MINUTES": (int, 1, "minutes without terminal input or a check before a session ends"),
    "SANDBOX_MEMORY_MB": (int, 64, "memory of a standard sandbox (MB)"),
    "SANDBOX_DOCKER_MEMORY_MB": (int, 256, "memory of a Docker-day sandbox (MB)"),
    "SANDBOX_CPUS": (float, 0.1, "CPUs per sandbox"),
    "SANDBOX_PIDS": (int, 32, "processes per standard sandbox"),
    "SANDBOX_DOCKER_PIDS": (int, 128, "processes per Docker-day sandbox"),
    "SANDBOX_DISK_MB": (int, 256, "disk of a standard sandbox (MB)"),
    "SANDBOX_DOCKER_DISK_MB": (int, 1024, "disk of a Docker-day sandbox (MB)"),
    "SANDBOX_MAX_MEMORY_MB": (int, 64, "most memory a lab may ask for (MB)"),
    "SANDBOX_MAX_CPUS": (float, 0.1, "most CPUs a lab may ask for"),
    "SANDBOX_MAX_PIDS": (int, 32, "most processes a lab may ask for"),
    "SANDBOX_MAX_DISK_MB": (int, 256, "most disk a lab may ask for (MB)"),
    "SANDBOX_DOCKER_PROFILE_ENABLED": (
        bool,
        None,
        "allow Docker-in-Docker sandboxes (elevated privileges: docs/security.md)",
    ),
    "SANDBOX_DOCKER_RUNTIME": (
        str,
        None,
        "runtime for Docker-in-Docker sandboxes, e.g. sysbox-runc (empty: Docker's default)",
    ),
    "SANDBOX_KUBERNETES_PROFILE_ENABLED": (
        bool,
        None,
        "allow Kubernetes node sandboxes (elevated privileges: docs/security.md)",
    ),
    "SANDBOX_KUBERNETES_MEMORY_MB": (int, 768, "memory of a Kubernetes node sandbox (MB)"),
    "SANDBOX_KUBERNETES_PIDS": (int, 512, "processes per Kubernetes node sandbox"),
    "SANDBOX_KUBERNETES_DISK_MB": (int, 2048, "disk of a Kubernetes node sandbox (MB)"),
    "SANDBOX_PINNED_SLOW_SECONDS": (
        int,
        0,
        "seconds a sandbox may stay at its process or CPU cap (a fork bomb, a miner) before it is slowed",
    ),
    "SANDBOX_PINNED_CPUS": (float, 0.01, "CPUs left to a sandbox slowed for staying at its cap"),
    "SANDBOX_PINNED_END_SECONDS": (
        int,
        1,
        "seconds at its cap before its lab is ended (the learner is told; console and audit log flag it)",
    ),
}
POOL_PREFIX = "WARM_POOL:"  # WARM_POOL:profile/image[*nodes] -> size
_cache: tuple[float, dict] = (0.0, {})


def overrides() -> dict:
    """The console's saved values (read at most once a second per process)."""
    global _cache
    if time.monotonic() - _cache[0] > 1.0:
        row = PlatformLimits.objects.filter(pk=1).first()
        _cache = (time.monotonic(), dict(row.values) if row else {})
    return _cache[1]


def forget() -> None:
    global _cache
    _cache = (0.0, {})


def limit(name: str):
    if name not in EDITABLE:
        raise KeyError(name)
    return overrides().get(name, getattr(settings, name))


def warm_pool() -> dict[tuple[str, str, int], int]:
    """{(profile, image, nodes): warm sandboxes (nodes 1) or clusters (nodes > 1) per host}."""
    pool = dict(settings.SANDBOX_WARM_POOL)
    for key, size in overrides().items():
        if key.startswith(POOL_PREFIX) and (parsed := parse_pool_key(key.removeprefix(POOL_PREFIX))):
            pool[parsed] = size
    return pool


def parse(name: str, raw: str):
    """Turn a form value into the limit's type; raise ValueError with a reason."""
    kind, minimum, _ = EDITABLE[name] if name in EDITABLE else (int, 0, "")
    raw = raw.strip()
    if kind is bool:
        return raw.lower() in ("1", "true", "on", "yes")
    if kind is str:
        return raw or None
    value = kind(raw)
    if minimum is not None and value < minimum:
        raise ValueError(f"at least {minimum}")
    return value
