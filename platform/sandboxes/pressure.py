"""Sandboxes that hold their limits: a fork bomb past a share of its process cap, a miner at its CPU
quota, minute after minute. One such sandbox is contained by its limits; several at once still
take the host's CPU from their neighbours and from the platform. So each sample of a host
(lifecycle.sample, every SAMPLE_SECONDS: 5 s) notes since when each sandbox has been held at a
limit, and gives it the least CPU weight at once: it keeps its quota, so a build on a quiet host
runs as fast as before, but on a full host its neighbours' shells and the platform come first (a
fork bomb with the usual weight holds a neighbour's echo back by hundreds of milliseconds). A fork
bomb does that from its first second, while it grows, so between samples the cap watch
(capwatch.py, ten times a second) reads only the process counts and holds at once a sandbox past
its share of its cap, or growing fast towards it; the next sample takes it from there. Past
SANDBOX_PINNED_SLOW_SECONDS it is slowed to SANDBOX_PINNED_CPUS; past SANDBOX_PINNED_END_SECONDS
its session is ended and its learner told why. Both steps show in the console and the audit log.
A sandbox that lets go of its limit gets its weight and CPUs back.
"""

from datetime import timedelta

from console.models import audit
from sandboxes.backends.base import SandboxBackend, SandboxError
from sandboxes.limits import limit
from sandboxes.models import LabSession, Sandbox

LEAST_WEIGHT = 2  # the kernel's lowest cpu.shares
USUAL_WEIGHT = 1024  # every container's unless changed
# A sandbox using a quarter of its PID cap or more is held: labs use a few percent of it (the
# Docker days' self-tests peak at 147 processes of 2,048, a Kubernetes node at 293 of 4,096)
# and a fork bomb passes a quarter in the first moments of its growth, when the cap watch sees it.
# A bomb held with the least weight drains slowly, if at all: it stays past a quarter while it
# lives. Also held: a sandbox using or wanting half its CPUs or more (on a full host a miner gets
# less than its quota, and is no longer throttled; with the least weight it gets next to nothing,
# but still waits for a CPU), or throttled in 90 % of its CPU periods. Any sample below lets it
# go: a Kubernetes node's busy start, a build, are bursts, not a hold.
PIDS_HELD = 0.25
# Held as well, by the cap watch: a sandbox whose process count rose by a sixteenth of its cap since
# the watch's last look, a tenth of a second before. That is a fork bomb in its first tenth of a
# second (it adds about 2,500 processes a second), long before a quarter, while its growth is
# what holds every other shell back. Labs start at most about a hundred tasks at once (a daemon's
# threads as it starts: 97 in 0.1 s during the swarm and Kubernetes days' self-tests).
PIDS_RISE_HELD = 1 / 16
CPU_HELD = 0.5
THROTTLED_HELD = 0.9
# What the learner and the console read; metrics and the panel find these sessions by it.
END_REASON = "held its {what} limit for {minutes} min"
END_REASON_START = "held its "


def pinned_at(stats: dict) -> str:
    """What the sandbox is held at right now: "process" (its PID cap), "CPU" (its quota), or "".
    "cpu_demand" (run + waited for a CPU) is there when the backend can tell
    (backends/docker/usage.py)."""
    cap = stats.get("pids_limit") or 0
    if cap and stats["pids"] >= PIDS_HELD * cap:
        return "process"
    cpus = stats.get("cpus") or 0
    wants = max(stats.get("cpu_percent", 0), stats.get("cpu_demand", 0))
    if cpus and (wants >= CPU_HELD * cpus * 100 or stats.get("throttled", 0) >= THROTTLED_HELD):
        return "CPU"
    return ""


def rising(before: int | None, stats: dict) -> bool:
    """Whether the process count grew by PIDS_RISE_HELD of the cap since `before`."""
    cap = stats.get("pids_limit") or 0
    return bool(cap) and before is not None and stats["pids"] - before >= PIDS_RISE_HELD * cap


def live_sandboxes(host: str):
    """The sandboxes of a host's ready sessions, not yet removed: what the sampler
    (lifecycle.sample), the cap watch and the terminal relay look at."""
    return Sandbox.objects.filter(session__host=host, session__state=LabSession.READY, removed_at__isnull=True)


def held_sessions(host: str) -> set[int]:
    """The live sessions of a host with a sandbox held at a cap: the terminal relay paces their
    output to a crawl (terminals/relay.py)."""
    return set(live_sandboxes(host).filter(pinned_since__isnull=False).values_list("session_id", flat=True))


def describe(sandbox: Sandbox) -> str:
    session = sandbox.session
    return f"sandbox {sandbox.name} (session {session.pk}, {session.user.username}, {session.lab.slug})"


def watch(backend: SandboxBackend, sandbox: Sandbox, stats: dict, now) -> str:
    """Act on one sample of a live sandbox: "" (not held), "pinned" (held from now), "held"
    (still), "let go", "slowed" or "ended"."""
    what = pinned_at(stats)
    if not what:
        if sandbox.pinned_since is not None:
            let_go(backend, sandbox)
            return "let go"
        return ""
    if sandbox.pinned_since is None:
        return "pinned" if hold(backend, sandbox, what, now) else ""
    if sandbox.pinned_what != what:  # a fork bomb burns its CPU too: still the same hold
        Sandbox.objects.filter(pk=sandbox.pk).update(pinned_what=what)
    held = now - sandbox.pinned_since
    if sandbox.slowed_at is None:  # slowed first, always: ended only if that was not enough
        if held >= timedelta(seconds=limit("SANDBOX_PINNED_SLOW_SECONDS")):
            slow_down(backend, sandbox, stats, what, held, now)
            return "slowed"
    elif held >= timedelta(seconds=limit("SANDBOX_PINNED_END_SECONDS")):
        end_pinned(sandbox, what, held)
        return "ended"
    return "held"


def hold(backend: SandboxBackend, sandbox: Sandbox, what: str, now) -> bool:
    """Held at a cap from `now`: the least weight, its quota kept. False if it is gone meanwhile
    (the reaper deals with it)."""
    try:
        backend.set_cpu(sandbox.container_id, None, LEAST_WEIGHT)
    except SandboxError:
        return False
    Sandbox.objects.filter(pk=sandbox.pk).update(pinned_since=now, pinned_what=what)
    return True


def slow_down(backend: SandboxBackend, sandbox: Sandbox, stats: dict, what: str, held: timedelta, now) -> None:
    slowest = limit("SANDBOX_PINNED_CPUS")
    cpus = min(slowest, stats.get("cpus") or slowest)
    try:
        backend.set_cpu(sandbox.container_id, cpus, LEAST_WEIGHT)
    except SandboxError:
        return  # gone meanwhile: the reaper deals with it
    Sandbox.objects.filter(pk=sandbox.pk).update(slowed_at=now, cpus_before=stats.get("cpus") or None)
    audit(
        None,
        "sandbox.slowed",
        describe(sandbox),
        f"at its {what} limit for {int(held.total_seconds())} s: slowed to {cpus:g} CPU with the least weight",
    )


def let_go(backend: SandboxBackend, sandbox: Sandbox) -> None:
    """No longer pinned: forget it, and give back its weight and the CPUs a slowed sandbox had."""
    cpus = (sandbox.cpus_before or limit("SANDBOX_CPUS")) if sandbox.slowed_at is not None else None
    try:
        backend.set_cpu(sandbox.container_id, cpus, USUAL_WEIGHT)
    except SandboxError:
        return
    if cpus is not None:
        audit(None, "sandbox.restored", describe(sandbox), f"no longer at a limit: {cpus:g} CPU again")
    Sandbox.objects.filter(pk=sandbox.pk).update(pinned_since=None, pinned_what="", slowed_at=None, cpus_before=None)


def end_pinned(sandbox: Sandbox, what: str, held: timedelta) -> None:
    """Ended as an admin's End would be: marked ended at once, the sandboxes removed by the host's
    worker, and not kept: what held the limit would start again with them. Removing a fork bomb
    can take a while, and the sampler has the host's other sandboxes to look at."""
    from sandboxes import lifecycle  # lifecycle samples through this module

    reason = END_REASON.format(what=what, minutes=max(1, round(held.total_seconds() / 60)))
    if lifecycle.request_end(sandbox.session, reason, actor=None, keep=False):
        audit(None, "sandbox.ended", describe(sandbox), reason)


def ended_for_pressure(session: LabSession) -> bool:
    return session.state == LabSession.ENDED and session.end_reason.startswith(END_REASON_START)
