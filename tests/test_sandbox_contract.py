"""The sandbox contract (sandboxes/backends/base.py), the same tests for every backend: the Docker
engine Berth runs, and a real two-node Kubernetes cluster started by the tests (tests/kube_host.py).
What only one backend has (a nested engine, engine volumes, the host firewall) is tested beside
it: test_sandboxes.py for Docker."""

import asyncio
import io
import tarfile
import time

import pytest
from django.conf import settings

from sandboxes.backends.base import SandboxError, SandboxSpec

# django_db: the Kubernetes nodes of kube_host read their limits there
pytestmark = [pytest.mark.docker, pytest.mark.django_db]


@pytest.fixture(params=["docker", "kubernetes"])
def engine(request, docker_engine):
    if request.param == "docker":
        from sandboxes.backends import get_backend

        return get_backend("local")
    from sandboxes.backends.kubernetes import KubernetesBackend

    request.applymarker(pytest.mark.cluster)
    cluster = request.getfixturevalue("kube_host")
    return KubernetesBackend("cluster", cluster.address)


def spec(name: str, **fields) -> SandboxSpec:
    return SandboxSpec(
        name=f"{settings.SANDBOX_PREFIX}-c-{name}",
        image=fields.pop("image", "berth/base:latest"),
        profile="standard",
        hostname=fields.pop("hostname", "node1"),
        labels={"berth.prefix": settings.SANDBOX_PREFIX, **fields.pop("labels", {})},
        memory_mb=512,
        cpus=1.0,
        pids=512,
        **fields,
    )


@pytest.fixture
def sandbox(engine):
    made = []

    def make(name: str, **fields) -> str:
        sandbox_id = engine.create(spec(name, **fields))
        made.append(sandbox_id)
        engine.start(sandbox_id)
        engine.wait_ready(sandbox_id, 90, lambda phase: None)
        return sandbox_id

    yield make
    for sandbox_id in made:
        engine.remove(sandbox_id)


def test_create_is_idempotent_by_name_and_never_adopts_another_sessions(engine, sandbox):
    first = sandbox("idem")
    assert engine.create(spec("idem")) == first
    intruder = spec("idem", labels={"berth.session": "999"})
    with pytest.raises(SandboxError, match="refusing to adopt"):
        engine.create(intruder)


def test_exec_streams_lines_reports_the_exit_code_and_stops_at_the_timeout(engine, sandbox):
    sid = sandbox("exec")
    lines = []
    script = "echo one; echo two >&2; sleep 0.5; printf three; exit 3"  # the last line unfinished
    result = engine.exec(sid, script, timeout=10, on_output=lines.append)
    assert result.exit_code == 3 and sorted(lines) == ["one", "three", "two"]
    hung = engine.exec(sid, "sleep 60 & wait", timeout=2)
    assert hung.timed_out and hung.exit_code == 124
    # A server left running in the background (as a lab's setup starts one) keeps the output
    # open; the exec still ends with its script, with everything the script printed.
    served = engine.exec(sid, "(sleep 60 &); sleep 60 & echo serving; exit 5", timeout=20)
    assert (served.exit_code, served.output, served.timed_out) == (5, "serving\n", False)


def test_waiting_for_a_sandbox_reports_each_phase_once_then_its_failure(engine, sandbox):
    # A stand-in for an image's berth-init, driven from outside: phases, then a failure marker.
    sid = sandbox("phases")
    engine.exec(sid, "mkdir -p /run/berth /usr/local/sbin && printf '#!/bin/sh\\n' > /usr/local/sbin/berth-init"
                     " && chmod +x /usr/local/sbin/berth-init && echo 'starting engine' > /run/berth/phase",
                timeout=10)  # fmt: skip
    script = "sleep 1; echo 'loading images' > /run/berth/phase; sleep 1; echo 'no disk left' > /run/berth/failed"
    engine.exec(sid, f'(setsid sh -c "{script}" > /dev/null 2>&1 &)', timeout=10)
    phases = []
    with pytest.raises(SandboxError, match="failed to start: no disk left"):
        engine.wait_ready(sid, 30, phases.append)
    assert phases == ["starting engine", "loading images"]
    engine.exec(sid, "rm /run/berth/failed; touch /run/berth/ready", timeout=10)
    engine.wait_ready(sid, 30, phases.append)  # ready: returns at once


def test_files_go_in_with_their_mode_and_come_out_as_an_archive(engine, sandbox):
    sid = sandbox("files")
    script = b"#!/bin/sh\necho ran\n" + b"# padding\n" * 20_000  # larger than one piece of a transfer
    engine.put_file(sid, "/root/lab/run.sh", script, 0o755)
    engine.put_file(sid, "/root/lab/empty", b"", 0o600)
    result = engine.exec(sid, "/root/lab/run.sh && stat -c '%a %s %n' /root/lab/run.sh /root/lab/empty", timeout=10)
    assert result.output.split("\n")[:3] == ["ran", f"755 {len(script)} /root/lab/run.sh", "600 0 /root/lab/empty"]

    with tarfile.open(fileobj=io.BytesIO(engine.get_archive(sid, "/root/lab", 10 * 2**20))) as tar:
        assert sorted(tar.getnames()) == ["lab", "lab/empty", "lab/run.sh"]
        assert tar.extractfile("lab/run.sh").read() == script
    with pytest.raises(SandboxError) as missing:
        engine.get_archive(sid, "/root/nothing-here", 2**20)
    assert "does not exist" in missing.value.learner_message
    with pytest.raises(SandboxError) as large:
        engine.get_archive(sid, "/root/lab", 2**16)
    assert "more than" in large.value.learner_message


def test_a_terminal_is_a_login_shell_in_root_of_its_size_and_tells_how_it_ended(engine, sandbox):
    sid = sandbox("tty")

    async def session() -> bytes:
        tty = await asyncio.to_thread(engine.open_tty, sid, 30, 100)
        await tty.write(b"echo term=$TERM; pwd; stty size; exit 7\r")
        printed = b""
        while chunk := await asyncio.wait_for(tty.read(4096), 30):
            printed += chunk
        assert await asyncio.to_thread(tty.exit_code) == 7
        tty.close()
        return printed

    printed = asyncio.run(session()).decode(errors="replace")
    assert "term=xterm-256color" in printed and "/root" in printed and "30 100" in printed, printed


def test_a_renamed_sandbox_is_listed_by_its_new_name_then_removed_for_good(engine, sandbox):
    sid = sandbox("listed", labels={"berth.session": "42"})
    engine.rename(sid, f"{settings.SANDBOX_PREFIX}-c-claimed")
    listed = {info.container_id: info for info in engine.list_sandboxes()}
    assert listed[sid].name == f"{settings.SANDBOX_PREFIX}-c-claimed" and listed[sid].running
    assert listed[sid].labels["berth.session"] == "42" and listed[sid].created > 0
    assert engine.poll(sid)
    engine.remove(sid)
    engine.remove(sid)  # gone already: still done
    for _ in range(100):  # a pod is gone once its kubelet has seen it go
        if sid not in {info.container_id for info in engine.list_sandboxes()}:
            break
        time.sleep(0.2)
    assert not engine.poll(sid)
    assert sid not in {info.container_id for info in engine.list_sandboxes()}


def test_a_sandbox_is_measured_and_its_cpu_changed_while_it_runs(engine, sandbox):
    sid = sandbox("cpu")
    engine.exec(sid, "nohup sh -c 'while :; do :; done' > /dev/null 2>&1 &", timeout=10)
    stats = {}
    for _ in range(120):  # the metrics API has a pod's figures after its first scrape
        try:
            stats = engine.stats(sid)
        except SandboxError:
            stats = {}
        if stats.get("cpu_percent", 0) > 20:
            break
        time.sleep(1)
    assert stats["cpu_percent"] > 20 and stats["memory_bytes"] > 0, stats
    assert stats["memory_limit"] == 512 * 2**20 and stats["cpus"] == 1.0

    engine.set_cpu(sid, 0.2, 2)
    quota = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares"
    for _ in range(50):  # a resize is applied by the node's kubelet, a moment later
        if engine.exec(sid, quota, timeout=10).output.split() == ["20000", "2"]:
            break
        time.sleep(0.2)
    assert engine.exec(sid, quota, timeout=10).output.split() == ["20000", "2"]


# A web server of one line, from the base image's Perl: it answers "hello" on port 8080.
SERVE = (
    "nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1)"
    ' or die; while ($c = $s->accept) { <$c>; print $c "HTTP/1.0 200 OK\\r\\n\\r\\nhello\\n"; close $c }\''
    " > /dev/null 2>&1 &"
)


def test_nodes_of_a_session_find_each_other_by_hostname_and_reach_nothing_else(engine, sandbox):
    network = f"{settings.SANDBOX_PREFIX}-c-net"
    engine.create_network(network, {"berth.prefix": settings.SANDBOX_PREFIX})
    nodes = []
    try:
        for name, node, on in [("net-1", "node1", network), ("net-2", "node2", network), ("alone", "node3", None)]:
            nodes.append(sandbox(name, hostname=node, network=on))
        one, two, alone = nodes
        engine.exec(two, SERVE, timeout=10)
        reach = "for _ in $(seq 50); do curl -s -m 2 http://node2:8080/ | grep hello && exit; sleep 0.2; done"
        assert engine.exec(one, reach, timeout=30).output.strip() == "hello"
        address = engine.exec(one, "getent hosts node2 | cut -d' ' -f1", timeout=10).output.strip()
        assert address
        probe = "curl -s -m 3 {} > /dev/null && echo OPEN || echo closed"
        assert engine.exec(alone, probe.format(f"http://{address}:8080/"), timeout=10).output.strip() == "closed"
        assert engine.exec(one, probe.format("http://1.1.1.1/"), timeout=10).output.strip() == "closed"
    finally:
        for sandbox_id in nodes:
            engine.remove(sandbox_id)  # before their network
        engine.remove_network(network)


def test_a_standard_sandbox_holds_no_credentials_and_gains_no_privileges(engine, sandbox):
    sid = sandbox("bare")
    probe = (
        "ls /var/run/docker.sock /run/secrets/kubernetes.io 2>&1 | grep -c 'No such file';"
        # the cluster's API: a pod is told its address, and cannot reach it
        "curl -sk -m 3 https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version > /dev/null"
        " && echo REACHED || echo unreachable;"
        "grep NoNewPrivs /proc/self/status | cut -f2;"
        "capsh --decode=$(grep CapEff /proc/self/status | cut -f2) | grep -c 'cap_net_raw\\|cap_sys_admin'"
    )
    lines = engine.exec(sid, probe, timeout=10).output.split("\n")
    assert lines[:4] == ["2", "unreachable", "1", "0"], lines
