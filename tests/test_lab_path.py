"""One path for a lab: a learner's session and the self-test (labtest, the studio's "Test this
lab", the nightly run) bring a lab up and run its checks through the same functions
(labs/runner.py). Proven by running one lab through both and comparing what each asked of the
sandbox engine, call by call (on the in-memory twin, which records them), and on real Docker by
comparing the sandboxes each made."""

import pytest

from tests.helpers import save_test_lab

pytestmark = pytest.mark.django_db

TWO_NODES = dict(
    nodes=("node1", "node2"),
    setup="mkdir -p /root/work",
    steps=[
        {"check": "test -f /root/work/a", "solution": "touch /root/work/a", "timeout": 20},
        {"check": "test -f /tmp/b", "solution": "touch /tmp/b", "node": "node2", "sabotage": "rm /tmp/b"},
    ],
)


def normalised(calls: list[tuple], ids: dict[str, str]) -> list[tuple]:
    """The engine calls, with sandbox ids and names replaced by the node they are for."""
    out = []
    for name, *args in calls:
        if name == "create":
            spec = args[0]
            labels = {k for k in spec.labels if k not in ("berth.session", "berth.user", "berth.lab", "berth.labtest")}
            shape = (spec.image, spec.profile, spec.hostname, spec.memory_mb, spec.cpus, spec.pids, spec.disk_mb)
            out.append(("create", *shape, bool(spec.network), spec.runtime, tuple(sorted(labels))))
        elif name in ("create_network", "remove_network"):
            out.append((name,))
        else:
            out.append((name, *(ids.get(a, a) if isinstance(a, str) else a for a in args)))
    return out


def add_a_file(lab):
    lab.files = [{"path": "/root/work/readme.txt", "content": "hello", "mode": "0644", "node": "node2"}]
    lab.save()
    return lab


def test_a_session_and_the_self_test_make_the_same_calls(learner, memory_backend):
    from labs import checks, selftest
    from labs.models import CheckRun
    from sandboxes import lifecycle
    from sandboxes.models import LabSession

    lab = add_a_file(save_test_lab("one-path", **TWO_NODES))

    # A learner's session: start, then check each step (the worker's functions, called directly).
    session = lifecycle.create_session(learner, lab)
    lifecycle.provision(session.pk)
    session.refresh_from_db()
    assert session.state == LabSession.READY
    for step in lab.steps.all():
        checks.run_check(CheckRun.objects.create(session=session, step=step, user=learner).pk)
    session_ids = {s.container_id: s.node for s in session.sandboxes.all()}
    session_calls = normalised(memory_backend.calls, session_ids)

    # The self-test of the same lab.
    memory_backend.calls.clear()
    made = {}
    run = selftest.run_lab(lab.definition(), "local")
    for call in memory_backend.calls:
        if call[0] == "create":
            made[f"mem{len(made) + 1 + len(session_ids):06d}"] = call[1].hostname
    labtest_calls = normalised(memory_backend.calls, made)
    assert run.ok is False  # the twin answers every check with a pass, so "fails before" fails: expected

    # The bring-up: the same calls in the same order (network, create, start, wait, files, setup).
    bring_up = [c for c in session_calls if c[0] != "exec" or c[2] == lab.setup]
    assert bring_up == labtest_calls[: len(bring_up)]
    assert [c[0] for c in bring_up] == [
        "create_network", "create", "create", "start", "start", "wait_ready", "wait_ready",
        "put_file", "exec", "exec",
    ]  # fmt: skip
    # The checks: the same scripts on the same nodes with the same timeouts.
    session_checks = [c for c in session_calls if c[0] == "exec" and c[2] != lab.setup]
    labtest_checks = [c for c in labtest_calls if c[0] == "exec" and c[2] != lab.setup]
    assert session_checks == [
        ("exec", "node1", "test -f /root/work/a", 20),
        ("exec", "node2", "test -f /tmp/b", 30),
    ]
    assert session_checks == labtest_checks[:2]


def test_the_self_test_runs_on_the_twin_end_to_end(memory_backend):
    """Checks answered as a real sandbox would: failing before the solution ran, passing after."""
    from labs import selftest

    lab = save_test_lab("twin", **TWO_NODES).definition()
    solved = set()
    original = memory_backend.exec

    def exec_(sandbox_id, script, timeout, on_output=None):
        result = original(sandbox_id, script, timeout, on_output)
        if script.startswith("touch") or script.startswith("rm"):
            (solved.add if script.startswith("touch") else solved.discard)(script.split()[-1])
        elif script.startswith("test -f"):
            result.exit_code = 0 if script.split()[-1] in solved else 1
        return result

    memory_backend.exec = exec_
    run = selftest.run_lab(lab, "local")
    assert run.ok, [r for r in run.results if not r.ok]
    assert [r.phase for r in run.results if r.step == "step 2"] == [
        "check fails before", "check passes after", "check fails sabotaged",
    ]  # fmt: skip
    assert memory_backend.sandboxes == {} and memory_backend.networks == {}  # torn down


@pytest.mark.docker
def test_a_session_and_the_self_test_make_the_same_sandboxes(learner, docker_engine, sandboxes_removed_after):
    """On real Docker: the containers each path made have the same settings, files and setup."""
    from labs import selftest
    from sandboxes import lifecycle
    from sandboxes.backends import get_backend

    lab = add_a_file(save_test_lab("one-path-docker", **TWO_NODES))
    session = lifecycle.create_session(learner, lab)
    lifecycle.provision(session.pk)
    backend = get_backend("local")
    run = selftest.run_lab(lab.definition(), "local", keep=True)
    assert run.ok, [r for r in run.results if not r.ok]

    def made(filters):
        containers = backend.api.containers(all=True, filters={"label": filters})
        return {c["Labels"]["berth.node"]: backend.api.inspect_container(c["Id"]) for c in containers}

    by_session = made(f"berth.session={session.pk}")
    by_labtest = made("berth.labtest=one-path-docker")
    assert set(by_session) == set(by_labtest) == {"node1", "node2"}
    for node in ("node1", "node2"):
        a, b = by_session[node], by_labtest[node]
        for key in ("Memory", "NanoCpus", "PidsLimit", "CapDrop", "CapAdd", "SecurityOpt", "StorageOpt", "Tmpfs"):
            assert a["HostConfig"].get(key) == b["HostConfig"].get(key), key
        assert a["Config"]["Image"] == b["Config"]["Image"] and a["Config"]["Hostname"] == b["Config"]["Hostname"]
        assert len(a["NetworkSettings"]["Networks"]) == len(b["NetworkSettings"]["Networks"]) == 1
    probe = "cat /root/work/readme.txt 2>/dev/null; test -d /root/work && echo set-up"
    assert backend.exec(by_session["node2"]["Id"], probe, 10).output == "helloset-up\n"
    assert backend.exec(by_labtest["node2"]["Id"], probe, 10).output == "helloset-up\n"
