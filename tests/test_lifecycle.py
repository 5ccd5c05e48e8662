"""Sandbox lifecycle on real engines: extend, idle culling, start rate limit, capacity and the
waiting line, drain, the warm pool, and placement across two Docker engines."""

import subprocess
import time
from datetime import timedelta
from pathlib import Path

import docker
import pytest
from django.utils import timezone

from sandboxes import lifecycle, placement, pool
from sandboxes.backends import get_backend
from sandboxes.models import LabSession, Sandbox, SandboxHost, WarmSandbox
from tests.helpers import save_test_lab

pytestmark = [pytest.mark.django_db, pytest.mark.database]


def make_lab(slug="life", profile="standard", nodes=("node1",)):
    return save_test_lab(slug, profile=profile, nodes=nodes, setup="echo set-up > /root/setup-ran")


def ready_session(user, lab, **fields):
    now = timezone.now()
    return LabSession.objects.create(
        user=user,
        lab=lab,
        host="local",
        state=LabSession.READY,
        ready_at=now,
        expires_at=now + timedelta(minutes=30),
        **fields,
    )


# --- rules (no Docker needed) -------------------------------------------------------------------
def test_extend_adds_time_but_never_past_the_maximum(learner, settings):
    settings.SANDBOX_EXTEND_MINUTES, settings.SANDBOX_TIME_LIMIT_MAX_MINUTES = 15, 50
    session = ready_session(learner, make_lab())
    before = session.expires_at
    assert lifecycle.extend(session)
    assert session.expires_at - before == timedelta(minutes=15)
    assert lifecycle.extend(session)  # capped at ready_at + 50 min
    assert session.expires_at == session.ready_at + timedelta(minutes=50)
    assert not lifecycle.extend(session)


def test_a_learner_at_work_is_extended_near_the_end_and_an_idle_one_is_not(learner, other_learner, settings):
    settings.SANDBOX_EXTEND_MINUTES, settings.SANDBOX_TIME_LIMIT_MAX_MINUTES = 15, 50
    now = timezone.now()
    lab = make_lab()
    working = ready_session(learner, lab, last_activity_at=now - timedelta(minutes=1))
    idle = ready_session(other_learner, lab, last_activity_at=now - timedelta(minutes=20))
    far = ready_session(learner, lab, last_activity_at=now)  # 30 minutes left: nothing to do yet
    LabSession.objects.filter(pk__in=[working.pk, idle.pk]).update(expires_at=now + timedelta(minutes=3))
    assert lifecycle.extend_active("local", now) == 1
    working.refresh_from_db(), idle.refresh_from_db(), far.refresh_from_db()
    assert working.expires_at == now + timedelta(minutes=18)
    assert idle.expires_at == now + timedelta(minutes=3)
    assert far.expires_at == far.ready_at + timedelta(minutes=30)
    later = working.ready_at + timedelta(minutes=46)
    LabSession.objects.filter(pk=working.pk).update(
        expires_at=working.ready_at + timedelta(minutes=48), last_activity_at=later - timedelta(minutes=1)
    )
    assert lifecycle.extend_active("local", later) == 1  # up to the maximum, not past it
    working.refresh_from_db()
    assert working.expires_at == working.ready_at + timedelta(minutes=50)


def test_starts_are_rate_limited_with_a_clear_message(learner, settings):
    settings.SANDBOX_STARTS_PER_HOUR = 2
    lab = make_lab()
    for _ in range(2):
        LabSession.objects.create(
            user=learner, lab=lab, host="local", state=LabSession.ENDED, expires_at=timezone.now()
        )
    with pytest.raises(lifecycle.StartRefused, match="most allowed"):
        lifecycle.create_session(learner, lab)


def test_a_docker_lab_says_so_plainly_when_the_profile_is_disabled(learner, settings):
    settings.SANDBOX_DOCKER_PROFILE_ENABLED = False
    with pytest.raises(lifecycle.StartRefused, match="has not enabled Docker-in-Docker"):
        lifecycle.create_session(learner, make_lab("dind", "docker"))


def test_full_hosts_put_learners_in_a_line_that_advances(roles, learner, other_learner, instructor, settings):
    settings.SANDBOX_HOST_SLOTS = 2  # one Docker-in-Docker sandbox fills the host
    lab = make_lab("dind", "docker")
    first = lifecycle.create_session(learner, lab)
    second = lifecycle.create_session(other_learner, lab)
    third = lifecycle.create_session(instructor, lab)
    assert first.host == "local" and second.host == third.host == ""
    assert (placement.queue_position(second), placement.queue_position(third)) == (1, 2)
    assert placement.dispatch_waiting() == 0
    LabSession.objects.filter(pk=first.pk).update(state=LabSession.ENDED)
    assert placement.dispatch_waiting() == 1
    second.refresh_from_db()
    third.refresh_from_db()
    assert second.host == "local" and third.host == "" and placement.queue_position(third) == 1
    assert "number 1 in line" in third.message


def test_a_drained_host_gets_no_new_sessions(learner):
    SandboxHost.objects.update_or_create(name="local", defaults={"drained": True})
    session = lifecycle.create_session(learner, make_lab())
    assert session.host == "" and "busy" in session.message


# --- warm clusters (the in-memory twin of an engine) ----------------------------------------------
def test_a_warm_cluster_is_claimed_whole_on_its_own_network_then_refilled(learner, memory_backend, settings):
    settings.SANDBOX_WARM_POOL = {("standard", "berth/base:latest", 2): 1}
    assert pool.refill("local") == 2
    members = {w.node: w for w in WarmSandbox.objects.all()}
    cluster = members["node1"].cluster
    assert set(members) == {"node1", "node2"} and members["node2"].cluster == cluster
    assert cluster in memory_backend.networks
    assert all(memory_backend.sandboxes[w.container_id].spec.network == cluster for w in members.values())
    assert placement.warm_ready("local", "standard", "berth/base:latest", 2)

    session = lifecycle.create_session(learner, make_lab(nodes=("node1", "node2")))
    lifecycle.provision(session.pk)
    session.refresh_from_db()
    assert session.state == LabSession.READY and session.network == cluster
    assert {s.node: s.container_id for s in session.sandboxes.all()} == {
        node: w.container_id for node, w in members.items()
    }
    made = [call for call in memory_backend.calls if call[0] in ("create", "create_network")]
    assert len(made) == 3  # the pool's network and two nodes; nothing for the session itself
    assert not WarmSandbox.objects.exists() and lifecycle.reap("local")["orphans_removed"] == 0

    assert pool.refill("local") == 2  # the pool fills again
    lifecycle.end(session.pk, "test over", keep=False)
    assert cluster not in memory_backend.networks  # the session's network went with it
    assert len(memory_backend.networks) == 1  # the new warm cluster's


def test_a_warm_cluster_goes_only_to_a_lab_of_as_many_nodes_named_alike(learner, memory_backend, settings):
    settings.SANDBOX_WARM_POOL = {("standard", "berth/base:latest", 2): 1}
    pool.refill("local")
    three = lifecycle.create_session(learner, make_lab("three", nodes=("node1", "node2", "node3")))
    lifecycle.provision(three.pk)
    other = lifecycle.create_session(learner, make_lab("named", nodes=("web", "db")))
    lifecycle.provision(other.pk)
    assert WarmSandbox.objects.filter(state=WarmSandbox.READY).count() == 2  # untouched
    for session in (three, other):
        session.refresh_from_db()
        assert session.state == LabSession.READY and session.network == lifecycle.network_name(session.pk)


def test_a_warm_cluster_with_a_dead_node_is_discarded_whole(learner, memory_backend, settings):
    settings.SANDBOX_WARM_POOL = {("standard", "berth/base:latest", 2): 1}
    pool.refill("local")
    node2 = WarmSandbox.objects.get(node="node2")
    memory_backend.stop(node2.container_id)
    assert pool.discard_stale("local") == 2
    assert not WarmSandbox.objects.exists() and not memory_backend.sandboxes and not memory_backend.networks


# --- on a real engine ---------------------------------------------------------------------------
@pytest.mark.docker
def test_an_idle_session_is_culled_and_an_expired_one_ended(learner, docker_engine, settings):
    settings.SANDBOX_IDLE_MINUTES = 30
    lab = make_lab()
    idle = lifecycle.create_session(learner, lab)
    lifecycle.provision(idle.pk)
    idle.refresh_from_db()
    assert idle.state == LabSession.READY
    container = idle.sandboxes.get().container_id
    backend = get_backend("local")
    assert backend.exec(container, "cat /root/setup-ran", 10).output.strip() == "set-up"
    LabSession.objects.filter(pk=idle.pk).update(last_activity_at=timezone.now() - timedelta(minutes=31))
    counts = lifecycle.reap("local")
    idle.refresh_from_db()
    assert counts["idle"] == 1 and idle.state == LabSession.ENDED and "no activity" in idle.end_reason
    assert not backend.poll(container)


@pytest.mark.docker
def test_the_warm_pool_is_claimed_then_refilled(learner, docker_engine, settings):
    settings.SANDBOX_WARM_POOL = {("standard", "berth/base:latest", 1): 1}
    lifecycle.reap("local")  # sandboxes earlier tests kept (their rows are rolled back) go first
    assert pool.refill("local") == 1
    warm = WarmSandbox.objects.get(state=WarmSandbox.READY)
    session = lifecycle.create_session(learner, make_lab())
    lifecycle.provision(session.pk)
    session.refresh_from_db()
    sandbox = session.sandboxes.get()
    assert session.state == LabSession.READY
    assert sandbox.container_id == warm.container_id  # the warm one, renamed to the session's name
    client = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])
    assert client.containers.get(warm.container_id).name == sandbox.name
    assert not WarmSandbox.objects.filter(pk=warm.pk).exists()
    assert lifecycle.reap("local")["orphans_removed"] == 0  # the claimed sandbox is not an orphan
    assert pool.refill("local") == 1
    lifecycle.end(session.pk, "test over")
    WarmSandbox.objects.all().delete()


@pytest.mark.docker
def test_a_warm_two_node_cluster_is_claimed_by_a_kubernetes_lab_and_works(learner, course, docker_engine, settings):
    """A real cluster from the pool: after the claim, both nodes are Ready, kubectl works on the
    worker too, and the nodes kept the addresses the cluster's certificates were made for."""
    from labs.models import Lab

    settings.SANDBOX_WARM_POOL = {("kubernetes", "berth/kubernetes:latest", 2): 1}
    lifecycle.reap("local")
    assert pool.refill("local") == 2
    warm = {w.node: w.container_id for w in WarmSandbox.objects.all()}
    engine = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])
    address = {c: engine.containers.get(c).attrs["NetworkSettings"]["Networks"] for c in warm.values()}
    session = lifecycle.create_session(learner, Lab.objects.get(slug="k8s-services"))
    try:
        lifecycle.provision(session.pk)
        session.refresh_from_db()
        assert session.state == LabSession.READY, session.error
        assert {s.node: s.container_id for s in session.sandboxes.all()} == warm
        assert {c: engine.containers.get(c).attrs["NetworkSettings"]["Networks"] for c in warm.values()} == address
        backend = get_backend("local")
        nodes = backend.exec(warm["node2"], "kubectl get nodes --no-headers | grep -c ' Ready '", 30)
        assert nodes.output.strip() == "2", nodes.output
    finally:
        lifecycle.end(session.pk, "test over", keep=False)
        WarmSandbox.objects.all().delete()
    assert not {n.name for n in engine.networks.list()} & {session.network}


# --- two engines -------------------------------------------------------------------------------
SECOND_SOCKET = "/var/run/berth-test-docker2.sock"


@pytest.fixture(scope="session")
def second_engine(docker_engine):
    from django.conf import settings

    """A second real dockerd on this machine (its own socket, data root and exec root), with the
    base lab image copied over from the first."""
    url = f"unix://{SECOND_SOCKET}"
    if (
        not Path(SECOND_SOCKET).exists()
        or subprocess.run(["docker", "-H", url, "info"], capture_output=True).returncode
    ):
        root = Path("/var/lib/berth-test-docker2")
        root.mkdir(parents=True, exist_ok=True)
        subprocess.Popen(
            [
                "dockerd",
                "--host",
                url,
                "--data-root",
                str(root / "data"),
                "--exec-root",
                "/var/run/berth-test-docker2",
                "--pidfile",
                "/var/run/berth-test-docker2.pid",
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=open(root / "dockerd.log", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(100):
            if subprocess.run(["docker", "-H", url, "info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
    second = docker.DockerClient(base_url=url)
    try:
        second.images.get("berth/base:latest")
    except docker.errors.ImageNotFound:
        first = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])
        second.images.load(b"".join(first.images.get("berth/base:latest").save(named=True)))
    return url


@pytest.mark.docker
def test_sessions_spread_over_two_engines_and_a_drained_one_gets_none(
    roles, learner, other_learner, instructor, second_engine, settings
):
    settings.DOCKER_HOSTS = {"local": settings.DOCKER_HOSTS["local"], "second": second_engine}
    lab = make_lab()
    a = lifecycle.create_session(learner, lab)
    b = lifecycle.create_session(other_learner, lab)
    assert {a.host, b.host} == {"local", "second"}  # the emptier host each time
    on_second = a if a.host == "second" else b
    lifecycle.provision(on_second.pk)
    on_second.refresh_from_db()
    assert on_second.state == LabSession.READY, on_second.error
    container = on_second.sandboxes.get().container_id
    assert docker.DockerClient(base_url=second_engine).containers.get(container).status == "running"
    with pytest.raises(docker.errors.NotFound):
        docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"]).containers.get(container)
    SandboxHost.objects.update_or_create(name="second", defaults={"drained": True})
    c = lifecycle.create_session(instructor, lab)
    assert c.host == "local"
    lifecycle.end(on_second.pk, "test over")
    assert not get_backend("second").poll(container)


def test_a_lab_can_ask_for_more_resources_but_never_past_the_admin_maxima(settings):
    settings.SANDBOX_MAX_MEMORY_MB, settings.SANDBOX_MAX_CPUS = 1024, 2.0
    spec = pool.spec_for("x", "berth/base:latest", "standard", "node1", {}, None, {"memory_mb": 900, "cpus": 8})
    assert (spec.memory_mb, spec.cpus, spec.pids) == (900, 2.0, settings.SANDBOX_PIDS)
    spec = pool.spec_for("x", "berth/base:latest", "standard", "node1", {}, None, {"memory_mb": 99999})
    assert spec.memory_mb == 1024


def test_lab_resources_are_validated(tmp_path):
    from labs.format import parse_lab

    lab = tmp_path / "greedy"
    lab.mkdir()
    (lab / "lab.yaml").write_text(
        "title: x\nimage: berth/base:latest\nresources:\n  memory_mb: -1\n  gpus: 2\nsteps:\n"
        "  - {title: s, text: x, hint: x, check: 'true', solution: 'true'}\n"
    )
    _, errors = parse_lab(lab, "greedy/lab.yaml")
    assert {(e.field, e.line) for e in errors} == {("resources.memory_mb", 4), ("resources.gpus", 5)}


def test_drain_host_command(capsys):
    from django.core.management import call_command

    call_command("drain_host", "local")
    assert SandboxHost.objects.get(name="local").drained
    call_command("drain_host", "local", "--undrain")
    assert not SandboxHost.objects.get(name="local").drained
    assert "local" in capsys.readouterr().out


@pytest.mark.docker
def test_a_session_ended_while_it_starts_stays_ended_and_leaves_nothing(learner, docker_engine, monkeypatch):
    session = lifecycle.create_session(learner, make_lab())
    original = lifecycle.set_state
    phases = []

    def learner_cancels_after_the_first_phase(s, *args):
        phases.append(args)
        if len(phases) == 2:  # the container exists now; the learner clicks Cancel
            LabSession.objects.filter(pk=s.pk).update(state=LabSession.ENDED)
        return original(s, *args)

    monkeypatch.setattr(lifecycle, "set_state", learner_cancels_after_the_first_phase)
    lifecycle.provision(session.pk)
    session.refresh_from_db()
    sandbox = session.sandboxes.get()
    assert session.state == LabSession.ENDED and sandbox.container_id and sandbox.removed_at is not None
    assert sandbox.name not in {i.name for i in get_backend("local").list_sandboxes()}


@pytest.mark.docker
def test_a_kept_sandbox_survives_the_reaper_until_its_time_then_goes(learner, docker_engine, settings):
    settings.SANDBOX_KEEP_DAYS = 2
    lifecycle.reap("local")  # sandboxes earlier tests kept (their rows are rolled back) go first
    lab = make_lab()
    session = lifecycle.create_session(learner, lab)
    lifecycle.provision(session.pk)
    container = session.sandboxes.get().container_id
    lifecycle.end(session.pk, "time limit reached")
    sandbox = session.sandboxes.get()
    assert sandbox.kept_until > timezone.now() + timedelta(days=1)
    backend = get_backend("local")
    counts = lifecycle.reap("local")
    assert counts["orphans_removed"] == 0 and counts["kept_expired"] == 0
    assert any(info.container_id == container for info in backend.list_sandboxes())  # kept, stopped
    Sandbox.objects.filter(pk=sandbox.pk).update(kept_until=timezone.now() - timedelta(minutes=1))
    assert lifecycle.reap("local")["kept_expired"] == 1
    assert not any(info.container_id == container for info in backend.list_sandboxes())
    assert lifecycle.kept_sandbox(learner, lab) is None


@pytest.mark.docker
def test_nothing_is_kept_when_keeping_is_off(learner, docker_engine, settings):
    settings.SANDBOX_KEEP_DAYS = 0
    session = lifecycle.create_session(learner, make_lab())
    lifecycle.provision(session.pk)
    lifecycle.end(session.pk, "ended by the learner")
    assert session.sandboxes.get().removed_at is not None and session.sandboxes.get().kept_until is None
