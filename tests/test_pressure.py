"""A sandbox held at its process or CPU cap (a fork bomb, a miner) gets the least CPU weight at
once, is slowed, then ended, its learner told and the admin shown (sandboxes/pressure.py); one
that lets go gets its weight and CPUs back. On the real engine: real fork bombs and busy loops,
the sampler the beat runs, the console and the learner's panel as the browser gets them."""

import os
import signal
import time

import docker
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEvent
from sandboxes import lifecycle, pressure, queues
from sandboxes.backends.base import SandboxSpec
from sandboxes.backends.docker.usage import Reader
from sandboxes.capwatch import CapWatch
from sandboxes.models import LabSession, Sandbox
from tests.conftest import LOGS, start_worker
from tests.helpers import lesson_of

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


def sample_until_let_go(sandbox: Sandbox, samples: int = 5) -> None:
    """Sample until the sandbox is seen idle: a throttled loop killed just now may still have
    used its quota in the first sample's window."""
    for _ in range(samples):
        lifecycle.sample("local")
        sandbox.refresh_from_db()
        if sandbox.pinned_since is None:
            return
    raise AssertionError(f"still held after {samples} samples since it let go")


def cpu_settings(container_id: str) -> tuple[float, int]:
    config = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"]).api.inspect_container(container_id)
    return config["HostConfig"]["NanoCpus"] / 1e9, config["HostConfig"]["CpuShares"]


def test_a_fork_bomb_is_slowed_then_ended_the_learner_told_and_the_admin_shown(
    backend, sandboxes_removed_after, client, admin_user, learner, course
):

    lesson = lesson_of(2)
    sandbox = live_session(backend, learner, lesson.lab, "bomb", cpus=0.5, pids=64)
    # The admin sets the thresholds in the console: slow at the second sample, end a second later.
    client.force_login(admin_user)
    client.post(
        reverse("console:limits"),
        {"SANDBOX_PINNED_SLOW_SECONDS": "0", "SANDBOX_PINNED_END_SECONDS": "1", "SANDBOX_PINNED_CPUS": "0.1"},
    )
    backend.exec(sandbox.container_id, "nohup bash -c 'b(){ b|b& }; b' >/dev/null 2>&1 &", timeout=10)
    wait_until_pinned(backend, sandbox, "process")

    assert lifecycle.sample("local")["slowed"] == 0  # the first sample notes it and lowers its weight
    sandbox.refresh_from_db()
    assert sandbox.pinned_since and sandbox.pinned_what == "process"
    assert cpu_settings(sandbox.container_id) == (0.5, pressure.LEAST_WEIGHT)  # its quota stays
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


def test_a_fork_bomb_is_held_by_the_cap_watch_before_any_sample(backend, sandboxes_removed_after, learner, course):
    """Between samples the cap watch reads only the process counts: a bomb is held (the least
    weight, its quota kept) as soon as it passes a quarter of its cap; its neighbour is left
    alone, and the next sample carries the hold on."""
    lab = lesson_of(2).lab
    bomb = live_session(backend, learner, lab, "capwatch-bomb", cpus=0.5, pids=64)
    neighbour = live_session(backend, learner, lab, "capwatch-quiet", cpus=0.5, pids=64)
    untouched = cpu_settings(neighbour.container_id)
    watch = CapWatch("local")
    assert watch.look() == 0
    backend.exec(bomb.container_id, "nohup bash -c 'b(){ b|b& }; b' >/dev/null 2>&1 &", timeout=10)
    held = 0
    for _ in range(100):  # the bomb passes 16 processes at once; a busy host may take a moment
        if held := watch.look():
            break
        time.sleep(0.1)
    assert held == 1
    bomb.refresh_from_db()
    assert bomb.pinned_since and bomb.pinned_what == "process"
    assert cpu_settings(bomb.container_id) == (0.5, pressure.LEAST_WEIGHT)
    neighbour.refresh_from_db()
    assert neighbour.pinned_since is None and cpu_settings(neighbour.container_id) == untouched
    assert watch.look() == 0, "held once, not looked at again"
    assert CapWatch("local").look() == 0, "nor by a watch that lists the sandboxes afresh"
    sampled = lifecycle.sample("local")
    assert (sampled["pinned"], sampled["held"]) == (0, 1)


def test_a_sandbox_growing_by_a_sixteenth_of_its_cap_between_looks_is_held_at_once(
    backend, sandboxes_removed_after, learner, course
):
    """A bomb's first tenth of a second is what holds its neighbours back, long before it passes a
    quarter: the watch holds a sandbox that grew by a sixteenth of its cap since its last look. A
    smaller burst (a daemon starting its threads) is left alone, and a burst that stops growing is
    let go by the next sample."""
    sandbox = live_session(backend, learner, lesson_of(2).lab, "capwatch-rise", cpus=0.5, pids=2048)
    watch = CapWatch("local")
    assert watch.look() == 0

    def start_sleepers(count: int) -> int:
        backend.exec(sandbox.container_id, f"for i in $(seq {count}); do sleep 600 >/dev/null 2>&1 & done", timeout=30)
        return backend.pids_many([sandbox.container_id])[sandbox.container_id]["pids"]

    assert start_sleepers(100) > 100
    assert watch.look() == 0, "100 processes at once: a lab's burst"
    found = start_sleepers(200)
    assert 300 < found < pressure.PIDS_HELD * 2048, "not yet at a quarter of its cap"
    assert watch.look() == 1
    sandbox.refresh_from_db()
    assert sandbox.pinned_since and sandbox.pinned_what == "process"
    assert cpu_settings(sandbox.container_id) == (0.5, pressure.LEAST_WEIGHT)
    sampled = lifecycle.sample("local")
    assert sampled["let go"] == 1, sampled
    sandbox.refresh_from_db()
    assert sandbox.pinned_since is None and cpu_settings(sandbox.container_id) == (0.5, pressure.USUAL_WEIGHT)


def test_a_weight_set_now_is_the_kernels_before_the_engines(backend, sandboxes_removed_after, learner, course):
    """The cap watch's first move writes the weight into the sandbox's cgroup itself: the
    engine's API is slowest in a fork storm, when the weight is needed."""
    sandbox = live_session(backend, learner, lesson_of(2).lab, "weight-now", cpus=0.5, pids=64)
    reader = Reader()
    cgroup = reader.directories(sandbox.container_id, only="cpu")
    weight_file = cgroup[""] / "cpu.weight" if reader.v2 else cgroup["cpu"] / "cpu.shares"
    backend.set_weight_now([sandbox.container_id], pressure.LEAST_WEIGHT)
    assert weight_file.read_text().strip() == ("1" if reader.v2 else str(pressure.LEAST_WEIGHT))
    assert cpu_settings(sandbox.container_id)[1] in (0, pressure.USUAL_WEIGHT), "the engine is told only by set_cpu"
    backend.set_weight_now(["no-such-container"], pressure.LEAST_WEIGHT)  # gone meanwhile: nothing to do


@pytest.mark.django_db(transaction=True)
def test_each_hosts_worker_runs_its_cap_watch(backend, sandboxes_removed_after, learner, course):
    """The watch is a thread of the worker that serves the host's queue, from the worker's start:
    a bomb in a live sandbox is held with no task sent and no sample taken."""
    lab = lesson_of(2).lab
    bomb = live_session(backend, learner, lab, "workerwatch-bomb", cpus=0.5, pids=64)
    worker = start_worker(queues.host_queue("local"), "test-cap-watch-worker.log")
    try:
        backend.exec(bomb.container_id, "nohup bash -c 'b(){ b|b& }; b' >/dev/null 2>&1 &", timeout=10)
        for _ in range(600):
            bomb.refresh_from_db()
            if bomb.pinned_since:
                break
            time.sleep(0.1)
        log = (LOGS / "test-cap-watch-worker.log").read_text()
        assert bomb.pinned_since and bomb.pinned_what == "process", log[-2000:]
        assert f"held {bomb.name} at " in log
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    assert cpu_settings(bomb.container_id) == (0.5, pressure.LEAST_WEIGHT)


def test_a_busy_loop_that_stops_gets_its_cpus_back(backend, sandboxes_removed_after, learner, course, settings):

    settings.SANDBOX_PINNED_SLOW_SECONDS, settings.SANDBOX_PINNED_END_SECONDS = 0, 3600
    sandbox = live_session(backend, learner, lesson_of(2).lab, "miner", cpus=0.5, pids=64)
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
    sample_until_let_go(sandbox)
    assert sandbox.slowed_at is None
    assert cpu_settings(sandbox.container_id) == (0.5, pressure.USUAL_WEIGHT)
    assert AuditEvent.objects.filter(action="sandbox.restored", detail__contains="0.5 CPU again").exists()
    assert LabSession.objects.get(pk=sandbox.session_id).state == LabSession.READY


def test_a_build_that_ends_before_it_is_slowed_gets_its_weight_back(
    backend, sandboxes_removed_after, learner, course, settings
):

    settings.SANDBOX_PINNED_SLOW_SECONDS = 3600
    sandbox = live_session(backend, learner, lesson_of(2).lab, "build", cpus=0.5, pids=64)
    build = "nohup sh -c 'echo $$ > /tmp/build; while :; do :; done' >/dev/null 2>&1 &"
    backend.exec(sandbox.container_id, build, timeout=10)
    wait_until_pinned(backend, sandbox, "CPU")
    assert lifecycle.sample("local")["slowed"] == 0
    assert cpu_settings(sandbox.container_id) == (0.5, pressure.LEAST_WEIGHT)

    backend.exec(sandbox.container_id, "kill $(cat /tmp/build)", timeout=10)
    sample_until_let_go(sandbox)
    assert cpu_settings(sandbox.container_id) == (0.5, pressure.USUAL_WEIGHT)
    assert not AuditEvent.objects.filter(action__in=["sandbox.slowed", "sandbox.restored"]).exists()


def test_the_sampler_reads_from_cgroups_what_the_engine_would_say(backend, sandboxes_removed_after, learner, course):
    """The host's sampler reads a local engine's sandboxes from their cgroups, all at once
    (backends/docker/usage.py): the figures are the engine's stats API's."""

    sandbox = live_session(backend, learner, lesson_of(2).lab, "reader", cpus=0.5, pids=64)
    backend.exec(sandbox.container_id, "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &", timeout=10)
    api = wait_until_pinned(backend, sandbox, "CPU")
    found = backend.stats_many([sandbox.container_id, "0" * 64])
    assert list(found) == [sandbox.container_id], "a sandbox that is not there is left out"
    read = found[sandbox.container_id]
    assert (
        (read["cpus"], read["pids_limit"], read["memory_limit"])
        == (0.5, 64, 256 * 2**20)
        == (
            api["cpus"],
            api["pids_limit"],
            api["memory_limit"],
        )
    )
    assert 35 <= read["cpu_percent"] <= 65 and read["throttled"] >= 0.9  # held at its half CPU
    assert read["cpu_demand"] >= read["cpu_percent"] - 5  # ran, and waited for more
    assert 0 < read["memory_bytes"] < 256 * 2**20 and 2 <= read["pids"] < 64
    assert pressure.pinned_at(read) == "CPU"


@pytest.mark.parametrize(
    "stats, held",
    [
        ({"pids": 64, "pids_limit": 64, "cpu_percent": 3.0, "cpus": 1.0}, "process"),
        ({"pids": 1900, "pids_limit": 2048, "cpu_percent": 3.0, "cpus": 1.0}, "process"),  # short of memory
        ({"pids": 12, "pids_limit": 64, "cpu_percent": 95.0, "cpus": 1.0}, "CPU"),
        ({"pids": 12, "pids_limit": 64, "cpu_percent": 55.0, "cpus": 1.0}, "CPU"),  # a miner on a full host
        ({"pids": 12, "pids_limit": 64, "cpu_percent": 30.0, "cpus": 2.0, "throttled": 0.95}, "CPU"),
        # an idle Kubernetes node: a few hundred processes of 4096, a fifth of its CPU
        ({"pids": 300, "pids_limit": 4096, "cpu_percent": 20.0, "cpus": 1.0, "throttled": 0.1}, ""),
        ({"pids": 12, "pids_limit": 64, "cpu_percent": 45.0, "cpus": 1.0}, ""),
        ({"pids": 5, "pids_limit": 0, "cpu_percent": 250.0, "cpus": 0}, ""),  # no caps, nothing to hold
        # a miner with the least weight on a full host: it runs little, but waits for a CPU
        ({"pids": 12, "pids_limit": 64, "cpu_percent": 0.4, "cpus": 1.0, "cpu_demand": 190.0}, "CPU"),
        ({"pids": 12, "pids_limit": 64, "cpu_percent": 10.0, "cpus": 1.0, "cpu_demand": 12.0}, ""),
        # a bomb growing (the cap watch's look), or held at the least weight and draining slowly
        ({"pids": 520, "pids_limit": 2048, "cpu_percent": 0.0, "cpus": 1.0}, "process"),
        # the busiest lab of the Docker days (147 processes), a Kubernetes node at its busiest
        ({"pids": 147, "pids_limit": 2048, "cpu_percent": 30.0, "cpus": 1.0}, ""),
        ({"pids": 293, "pids_limit": 4096, "cpu_percent": 40.0, "cpus": 1.0}, ""),
    ],
)
def test_what_counts_as_held_at_a_limit(stats, held):
    assert pressure.pinned_at(stats) == held


@pytest.mark.parametrize(
    "before, stats, growing",
    [
        (None, {"pids": 900, "pids_limit": 2048}, False),  # the watch's first look: nothing to compare
        (5, {"pids": 250, "pids_limit": 2048}, True),  # a fork bomb's first tenth of a second
        (50, {"pids": 147, "pids_limit": 2048}, False),  # the swarm day's daemons starting: 97 at once
        (100, {"pids": 293, "pids_limit": 4096}, False),  # a Kubernetes node's control plane starting
        (30, {"pids": 300, "pids_limit": 4096}, True),
        (600, {"pids": 40, "pids_limit": 2048}, False),  # a bomb's processes ending
        (0, {"pids": 900, "pids_limit": 0}, False),  # no cap, nothing to hold
    ],
)
def test_what_counts_as_growing_towards_the_cap(before, stats, growing):
    assert pressure.rising(before, stats) == growing
