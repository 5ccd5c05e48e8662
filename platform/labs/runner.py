"""Bringing a lab up and running its checks: the one path that a learner's session, `labtest`,
the studio's "Test this lab" and the nightly self-test all take.

bring_up: a sandbox per node (created, taken from the warm pool or resumed), started together,
each waited for until usable, then the lab's files placed and its setup run. run_check: a step's
script in the step's node, with its timeout, its output streamed, and the lab's target
architecture compared when the step asks for it. The callers differ only in what they name the
sandboxes, where they report progress and what they record.
"""

from collections.abc import Callable

from django.conf import settings

from labs.format import LabDef, StepDef
from sandboxes import architecture
from sandboxes.backends.base import ExecResult, SandboxBackend, SandboxError
from sandboxes.pool import spec_for

SETUP_TIMEOUT = 180  # seconds a lab's setup script may take on one node
# Start phases a sandbox reports while it becomes usable (Docker days: its inner engine), as
# progress percentages for the learner's progress bar.
PHASE_PROGRESS = {"starting engine": 45, "starting registry": 55, "loading images": 65}

Progress = Callable[[str, int, str], None]  # (phase: creating | starting | setup, percent, message)


def no_progress(phase: str, percent: int, message: str) -> None:
    pass


class SetupFailed(SandboxError):
    """The lab's setup script exited non-zero on a node: the lab's fault, not the learner's."""

    def __init__(self, lab: LabDef, node: str, result: ExecResult):
        super().__init__(
            f"setup of {lab.slug} on {node} exited {result.exit_code}: {result.output[-2000:]}",
            "The lab's setup script failed; the instructors have been told.",
        )
        self.node, self.result = node, result


def bring_up(
    backend: SandboxBackend,
    lab: LabDef,
    names: dict[str, str],
    labels: dict[str, str],
    network: str | None = None,
    progress: Progress = no_progress,
    resume: Callable[[], dict[str, str] | None] | None = None,
    claim: Callable[[], dict[str, str] | None] | None = None,
    created: Callable[[str, str], None] = lambda node, sandbox_id: None,
    ready_timeout: int | None = None,
) -> dict[str, str]:
    """Bring every node of `lab` up; return {node: sandbox id}.

    names: the sandbox name of each node. network: the private network to make for a multi-node
    lab's new sandboxes. resume(): the learner's kept sandboxes of this lab, set up already and
    holding their work ({node: id}), or None. claim(): sandboxes to use as they are, {node: id}
    (a warm sandbox or cluster, or what an earlier try of this start made), or None. created(node,
    id): called as soon as a node's sandbox exists, so that a retried task or the reaper can find it.
    ready_timeout: seconds each node may take to be ready (default: settings.SANDBOX_READY_TIMEOUT).
    """
    progress("creating", 10, "Creating your sandbox")
    ready = resume() if resume else None
    ids = dict(ready or (claim() if claim else None) or {})
    missing = [node for node in lab.nodes if node not in ids]
    if network and missing:
        backend.create_network(network, labels)
    for node in missing:
        labels_ = {**labels, "berth.node": node}
        spec = spec_for(names[node], lab.image, lab.profile, node, labels_, network, lab.resources, lab.nodes)
        ids[node] = backend.create(spec)
        created(node, ids[node])
    progress("starting", 30, "Starting")
    for node in lab.nodes:
        backend.start(ids[node])
    for node in lab.nodes:
        backend.wait_ready(
            ids[node],
            ready_timeout or settings.SANDBOX_READY_TIMEOUT,
            lambda phase: progress("starting", PHASE_PROGRESS.get(phase, 50), phase.capitalize()),
        )
    if ready:  # a resumed sandbox is already set up, and holds the learner's work
        progress("setup", 90, "Back where you left off")
    else:
        progress("setup", 80, "Preparing the lab")
        set_up(backend, lab, ids)
    return ids


def set_up(backend: SandboxBackend, lab: LabDef, ids: dict[str, str]) -> None:
    """Place the lab's files on their nodes, then run its setup script on every node."""
    share_kubeconfig(backend, lab, ids)
    for item in lab.files:
        node = item.get("node") or lab.nodes[0]
        backend.put_file(ids[node], item["path"], item["content"].encode(), int(item["mode"], 8))
    if lab.setup.strip():
        for node in lab.nodes:
            result = backend.exec(ids[node], lab.setup, timeout=SETUP_TIMEOUT)
            if result.exit_code != 0:
                raise SetupFailed(lab, node, result)


def share_kubeconfig(backend: SandboxBackend, lab: LabDef, ids: dict[str, str]) -> None:
    """kubectl in every tab of a Kubernetes lab: the control plane's admin kubeconfig on each other node."""
    if lab.profile != "kubernetes" or len(lab.nodes) < 2:
        return
    config = backend.exec(ids[lab.nodes[0]], "cat /etc/kubernetes/admin.conf", timeout=10)
    if config.exit_code != 0:
        raise SandboxError(f"no admin kubeconfig on {lab.nodes[0]}: {config.output[-500:]}")
    for node in lab.nodes[1:]:
        backend.put_file(ids[node], "/root/.kube/config", config.output.encode(), 0o600)


def run_check(
    backend: SandboxBackend,
    ids: dict[str, str],
    lab: LabDef,
    step: StepDef,
    on_output: Callable[[str], None] | None = None,
) -> ExecResult:
    """The step's check in the step's node: exit 0 is a pass; what it prints is for the learner."""
    # A node the lab no longer has (republished while this session ran): the first node, as before.
    sandbox_id = ids.get(lab.node_of(step)) or next(iter(ids.values()))
    result = backend.exec(sandbox_id, step.check_script, timeout=step.timeout_seconds, on_output=on_output)
    if step.check_architecture:
        result = architecture.verify(
            backend, sandbox_id, lab.architecture, result, on_output or (lambda line: None), lab.profile
        )
    return result


def run_solution(backend: SandboxBackend, ids: dict[str, str], lab: LabDef, step: StepDef) -> ExecResult:
    return backend.exec(ids[lab.node_of(step)], step.solution_script, timeout=max(step.timeout_seconds, 120))


def run_sabotage(backend: SandboxBackend, ids: dict[str, str], lab: LabDef, step: StepDef) -> ExecResult:
    return backend.exec(ids[lab.node_of(step)], step.sabotage_script, timeout=max(step.timeout_seconds, 60))


def tear_down(backend: SandboxBackend, ids: dict[str, str], network: str | None = None) -> None:
    for sandbox_id in ids.values():
        backend.remove(sandbox_id)
    if network:
        backend.remove_network(network)
