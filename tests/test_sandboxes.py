"""The Docker backend and its profiles on a real engine: what only it has (a nested engine, engine
volumes, the host firewall); the contract every backend keeps is test_sandbox_contract.py."""

import pytest
from django.conf import settings

from sandboxes.backends.base import SandboxSpec
from sandboxes.models import LabSession
from tests.helpers import lesson_of

pytestmark = pytest.mark.docker


def spec(name, profile):
    image = "berth/docker:latest" if profile == "docker" else "berth/base:latest"
    return SandboxSpec(
        name=f"{settings.SANDBOX_PREFIX}-{name}",
        image=image,
        profile=profile,
        hostname="node1",
        labels={"berth.prefix": settings.SANDBOX_PREFIX},
        memory_mb=1024,
        pids=1024,
    )


@pytest.fixture
def sandbox(backend, request):
    made = []

    def make(name, profile):
        sandbox_id = backend.create(spec(name, profile))
        backend.start(sandbox_id)
        backend.wait_ready(sandbox_id, 60, lambda phase: None)
        made.append(sandbox_id)
        return sandbox_id

    yield make
    for sandbox_id in made:
        backend.remove(sandbox_id)


def test_standard_sandbox_has_no_network_no_docker_socket_and_no_new_privileges(backend, sandbox):
    sid = sandbox("std", "standard")
    result = backend.exec(
        sid,
        "ip -o link | awk -F': ' '{print $2}'; ls /var/run/docker.sock 2>&1;grep NoNewPrivs /proc/self/status",
        timeout=10,
    )
    assert result.output.split("\n")[0] == "lo"
    assert "No such file" in result.output
    assert "NoNewPrivs:\t1" in result.output


def test_docker_profile_runs_a_nested_engine_with_a_local_registry_and_no_egress(backend, sandbox):
    sid = sandbox("dind", "docker")
    script = (
        "docker run --rm busybox echo nested-ok && "
        "docker tag busybox localhost:5000/probe && docker push -q localhost:5000/probe >/dev/null && "
        "curl -s localhost:5000/v2/_catalog; echo; "
        "docker run --rm busybox wget -q -T 3 -O- http://1.1.1.1 >/dev/null 2>&1 && echo EGRESS || echo no-egress"
    )
    result = backend.exec(sid, script, timeout=60)
    assert "nested-ok" in result.output, result.output
    assert '"probe"' in result.output
    assert "no-egress" in result.output and "EGRESS" not in result.output


def test_remove_is_idempotent_and_takes_the_engine_storage(backend, sandbox):
    """Where the engine caps disks, the inner engine's data lives in the sandbox's own capped file
    system; elsewhere it has a volume of its own, which goes with the sandbox."""
    import docker

    sid = sandbox("rm", "docker")
    client = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])
    mounts = [m for m in client.api.inspect_container(sid)["Mounts"] if m["Destination"] == "/var/lib/docker"]
    if backend.disk_quota:
        assert mounts == []
    else:
        assert client.volumes.get(mounts[0]["Name"])
    backend.remove(sid)
    backend.remove(sid)
    for mount in mounts:
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(mount["Name"])


@pytest.mark.django_db
def test_reaper_removes_orphans_and_closes_sessions_whose_sandbox_vanished(backend, sandbox, learner, course):
    from django.utils import timezone

    from sandboxes import lifecycle
    from sandboxes.models import Sandbox

    orphan = sandbox("orphan", "standard")
    session = LabSession.objects.create(
        user=learner,
        lab=lesson_of(1).lab,
        host="local",
        state=LabSession.READY,
        expires_at=timezone.now() + timezone.timedelta(hours=1),
    )
    Sandbox.objects.create(session=session, node="node1", name="berthtest-never-existed", container_id="gone")
    expired = LabSession.objects.create(
        user=learner,
        lab=session.lab,
        host="local",
        state=LabSession.READY,
        expires_at=timezone.now() - timezone.timedelta(minutes=1),
    )
    counts = lifecycle.reap("local")
    assert not backend.poll(orphan)
    assert counts["orphans_removed"] >= 1 and counts["vanished"] == 1 and counts["expired"] == 1
    session.refresh_from_db()
    expired.refresh_from_db()
    assert session.state == expired.state == LabSession.ENDED


def test_sandbox_names_never_repeat_for_the_same_session_and_node():
    from sandboxes.lifecycle import sandbox_name

    assert sandbox_name(1, "node1") != sandbox_name(1, "node1")


def test_orphaned_engine_volumes_are_removed(backend):
    import docker

    client = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])
    volume = client.volumes.create(
        f"{settings.SANDBOX_PREFIX}-lost-engine", labels={"berth.prefix": settings.SANDBOX_PREFIX}
    )
    assert backend.remove_orphaned_storage() >= 1
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(volume.name)


def test_a_session_network_reaches_neither_the_host_nor_the_internet(backend, sandbox):
    """A service of the host listening on every interface is not reachable through the session
    network's gateway (the host firewall rule), and nothing routes out."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen()
    port = server.getsockname()[1]

    def accept():
        try:
            server.accept()
        except OSError:
            pass  # closed at the end of the test

    threading.Thread(target=accept, daemon=True).start()
    network = f"{settings.SANDBOX_PREFIX}-hostprobe-net"
    backend.create_network(network, {"berth.prefix": settings.SANDBOX_PREFIX})
    try:
        s = spec("hostprobe", "standard")
        s.network = network
        sid = backend.create(s)
        backend.start(sid)
        backend.wait_ready(sid, 30, lambda phase: None)
        probe = (
            "gw=$(ip route | awk '/default/ {print $3}');"
            f'timeout 3 bash -c "echo > /dev/tcp/$gw/{port}" 2>/dev/null && echo HOST-OPEN || echo host-closed;'
            "timeout 3 bash -c 'echo > /dev/tcp/1.1.1.1/80' 2>/dev/null && echo NET-OPEN || echo net-closed"
        )
        out = backend.exec(sid, probe, timeout=15).output
        assert "host-closed" in out and "net-closed" in out, out
        backend.remove(sid)
    finally:
        backend.remove_network(network)
        server.close()


def test_the_architecture_inventory_reads_a_real_engine_and_the_diagram_marks_the_target_gaps(backend, sandbox):
    from sandboxes import architecture

    sid = sandbox("arch", "docker")
    backend.exec(
        sid,
        "docker network create appnet && docker run -d --name web --network appnet -v webdata:/data busybox sleep 600"
        " && docker run --name job busybox sh -c 'exit 3'; docker tag busybox localhost:5000/shop"
        " && docker push -q localhost:5000/shop",
        timeout=60,
    )
    model = architecture.read_engine(backend, sid)
    web = next(c for c in model["containers"] if c["name"] == "web")
    assert web["state"] == "running" and web["networks"] == ["appnet"] and web["volumes"] == ["webdata"]
    assert next(c for c in model["containers"] if c["name"] == "job")["exit_code"] == 3
    assert "appnet" in model["networks"] and "webdata" in model["volumes"] and model["repositories"] == ["shop"]

    target = {
        "containers": ["web", "cache"],
        "networks": ["appnet"],
        "volumes": ["cachedata"],
        "links": [["web", "appnet"], ["cache", "appnet"], ["cache", "cachedata"]],
    }
    diff = architecture.compare(model, target)
    assert diff["problems"] == ["✗ container cache does not exist", "✗ volume cachedata does not exist"]
    assert ("containers", "job") in diff["extra"] and ("volumes", "webdata") in diff["extra"]
    diagram = architecture.mermaid(model, "node1", diff)
    assert "cache<br/>missing" in diagram and "cachedata<br/>missing" in diagram
    assert "exited (3)" in diagram and "-. pushed .->" in diagram
    assert diagram.count("class ") >= 4 and "classDef missing" in diagram


def test_a_sandbox_with_a_paused_inner_container_still_stops_and_is_removed(backend, sandbox):
    sid = sandbox("paused", "docker")
    result = backend.exec(sid, "docker run -d --name frozen busybox sleep 600 && docker pause frozen", timeout=60)
    assert result.exit_code == 0, result.output
    backend.stop(sid)  # what keeping a sandbox for later does
    assert not backend.poll(sid)
    backend.start(sid)
    backend.wait_ready(sid, 60, lambda phase: None)
    assert (
        backend.exec(sid, "docker pause frozen 2>/dev/null || docker start frozen && docker pause frozen", 60).exit_code
        == 0
    )
    backend.remove(sid)
    assert all(info.container_id != sid for info in backend.list_sandboxes())
