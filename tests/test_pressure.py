"""A sandbox held at its process or CPU cap (a fork bomb, a miner) is slowed, then ended, its
learner told and the admin shown (sandboxes/pressure.py); one that lets go gets its CPUs back.
On the real engine: real fork bombs and busy loops, the sampler the beat runs, the console and
the learner's panel as the browser gets them."""

import time

import docker
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEvent
from sandboxes import lifecycle, pressure
from sandboxes.backends.base import SandboxSpec
from sandboxes.models import LabSession, Sandbox

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def live_session(backend, learner, lab, name: str, cpus: float, pids: int) -> Sandbox:
    spec = SandboxSpec(
        name=f"{settings.SANDBOX_PREFIX}-{name}",
        image="berth/base:latest",
        profile="standard",
        hostname="node1",
        labels={"berth.prefix": settings.SANDBOX_PREFIX},
        memory_mb=256,
        cpus=cpus,
        pids=pids,
    )
    container_id = backend.create(spec)
    backend.start(container_id)
    backend.wait_ready(container_id, 60, lambda phase: None)
    session = LabSession.objects.create(
        user=learner,
        lab=lab,
        host="local",
        state=LabSession.READY,
        ready_at=timezone.now(),
        expires_at=timezone.now() + timezone.timedelta(hours=1),
    )
    return Sandbox.objects.create(session=session, node="node1", name=spec.name, container_id=container_id)


def wait_until_pinned(backend, sandbox: Sandbox, what: str) -> dict:
    for _ in range(60):
        stats = backend.stats(sandbox.container_id)
        if pressure.pinned_at(stats) == what:
            return stats
    raise AssertionError(f"never at its {what} limit: {stats}")


def cpu_settings(container_id: str) -> tuple[float, int]:
    config = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"]).api.inspect_container(container_id)
    return config["HostConfig"]["NanoCpus"] / 1e9, config["HostConfig"]["CpuShares"]


def test_a_fork_bomb_is_slowed_then_ended_the_learner_told_and_the_admin_shown(
    backend, sandboxes_removed_after, client, admin_user, learner, course
):
    from course.models import Lesson

    lesson = Lesson.objects.get(day=2)
    sandbox = live_session(backend, learner, lesson.lab, "bomb", cpus=0.5, pids=64)
    # The admin sets the thresholds in the console: slow at the second sample, end a second later.
    client.force_login(admin_user)
    client.post(
        reverse("console:limits"),
        {"SANDBOX_PINNED_SLOW_SECONDS": "0", "SANDBOX_PINNED_END_SECONDS": "1", "SANDBOX_PINNED_CPUS": "0.1"},
    )
    backend.exec(sandbox.container_id, "nohup bash -c 'b(){ b|b& }; b' >/dev/null 2>&1 &", timeout=10)
    wait_until_pinned(backend, sandbox, "process")

    assert lifecycle.sample("local")["slowed"] == 0  # the first sample only notes it
    sandbox.refresh_from_db()
    assert sandbox.pinned_since and sandbox.pinned_what == "process"
    assert lifecycle.sample("local")["slowed"] == 1
    assert cpu_settings(sandbox.container_id) == (0.1, pressure.LEAST_WEIGHT)
    slowed = AuditEvent.objects.get(action="sandbox.slowed")
    assert sandbox.name in slowed.target and "process limit" in slowed.detail and slowed.actor is None
    console = client.get(reverse("console:index")).content.decode()
    assert "slowed: at its process limit" in console

    time.sleep(1.2)  # past SANDBOX_PINNED_END_SECONDS
    assert lifecycle.sample("local")["ended"] == 1
    session = LabSession.objects.get(pk=sandbox.session_id)
    assert session.state == LabSession.ENDED and session.end_reason == "held its process limit for 1 min"
    lifecycle.end(session.pk, session.end_reason, keep=False)  # what the host's worker is sent to do
    assert not backend.poll(sandbox.container_id), "not kept: what held the limit would start again"
    assert AuditEvent.objects.filter(action="sandbox.ended", target__contains=sandbox.name).exists()
    flagged = client.get(reverse("console:index")).content.decode()
    assert 'id="flagged-sessions"' in flagged and "held its process limit" in flagged

    client.force_login(learner)
    page = client.get(reverse("workspace:day_panel", args=[lesson.day])).content.decode()
    assert 'id="ended-for-pressure"' in page and "held its process limit for 1 min" in page


def test_a_busy_loop_that_stops_gets_its_cpus_back(backend, sandboxes_removed_after, learner, course, settings):
    from course.models import Lesson

    settings.SANDBOX_PINNED_SLOW_SECONDS, settings.SANDBOX_PINNED_END_SECONDS = 0, 3600
    sandbox = live_session(backend, learner, Lesson.objects.get(day=2).lab, "miner", cpus=0.5, pids=64)
    miner = "nohup sh -c 'echo $$ > /tmp/miner; while :; do :; done' >/dev/null 2>&1 &"
    backend.exec(sandbox.container_id, miner, timeout=10)
    wait_until_pinned(backend, sandbox, "CPU")
    lifecycle.sample("local")
    assert lifecycle.sample("local")["slowed"] == 1
    assert cpu_settings(sandbox.container_id) == (settings.SANDBOX_PINNED_CPUS, pressure.LEAST_WEIGHT)
    # still at its (new, lower) quota: still held, not ended before its time
    assert lifecycle.sample("local")["ended"] == 0
    sandbox.refresh_from_db()
    assert sandbox.slowed_at and sandbox.pinned_what == "CPU"

    backend.exec(sandbox.container_id, "kill $(cat /tmp/miner)", timeout=10)
    lifecycle.sample("local")
    sandbox.refresh_from_db()
    assert sandbox.pinned_since is None and sandbox.slowed_at is None
    assert cpu_settings(sandbox.container_id) == (0.5, pressure.USUAL_WEIGHT)
    assert AuditEvent.objects.filter(action="sandbox.restored", detail__contains="0.5 CPU again").exists()
    assert LabSession.objects.get(pk=sandbox.session_id).state == LabSession.READY


@pytest.mark.parametrize(
    "stats, held",
    [
        ({"pids": 64, "pids_limit": 64, "cpu_percent": 3.0, "cpus": 1.0}, "process"),
        ({"pids": 1900, "pids_limit": 2048, "cpu_percent": 3.0, "cpus": 1.0}, "process"),  # short of memory
        ({"pids": 40, "pids_limit": 64, "cpu_percent": 95.0, "cpus": 1.0}, "CPU"),
        ({"pids": 40, "pids_limit": 64, "cpu_percent": 55.0, "cpus": 1.0}, "CPU"),  # a miner on a full host
        ({"pids": 40, "pids_limit": 64, "cpu_percent": 30.0, "cpus": 2.0, "throttled": 0.95}, "CPU"),
        # an idle Kubernetes node: a few hundred processes of 4096, a fifth of its CPU
        ({"pids": 300, "pids_limit": 4096, "cpu_percent": 20.0, "cpus": 1.0, "throttled": 0.1}, ""),
        ({"pids": 50, "pids_limit": 64, "cpu_percent": 45.0, "cpus": 1.0}, ""),
        ({"pids": 5, "pids_limit": 0, "cpu_percent": 250.0, "cpus": 0}, ""),  # no caps, nothing to hold
    ],
)
def test_what_counts_as_held_at_a_limit(stats, held):
    assert pressure.pinned_at(stats) == held
