"""Berth with its sandboxes on a Kubernetes cluster (sandboxes/backends/kubernetes/): a lab
proves itself there as on a Docker host, and a learner works a day in Chromium through the same
views, consumers, worker and relay; only the host's address (`k8s:...`) differs. The cluster is
the real two-node one the tests start (tests/kube_host.py)."""

import io
import re
import time

import pytest
from playwright.sync_api import expect

from tests.conftest import database_url, start_stack
from tests.kube_host import NAMESPACE, NESTED_CLASS

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

LAB = "day39-kubernetes-architecture"  # Docker in depth, day 29: a standard sandbox (etcd's image)
DAY1 = "day01-docker-architecture"  # the 40-day course's day 1: a Docker day, a nested engine in a pod
K8S_DAY = "k8s-pod-networking"  # a Kubernetes day of two nodes: pod traffic between them


@pytest.mark.django_db
def test_labs_prove_themselves_on_the_cluster(kube_host, settings, course):
    """A standard day and a Docker day: every check fails before, passes after its solution and
    fails after its sabotage; the lessons' transcripts print what the lessons show: all in pods."""
    from django.core.management import call_command

    from sandboxes.backends import get_backend

    settings.DOCKER_HOSTS = {"local": kube_host.address}
    get_backend.cache_clear()
    out = io.StringIO()
    try:
        call_command("labtest", LAB, DAY1, stdout=out)
    finally:
        get_backend.cache_clear()
    assert "2/2 labs passed" in out.getvalue(), out.getvalue()
    for lab in (LAB, DAY1):
        assert re.search(rf"^{lab} .* lesson transcript +ok", out.getvalue(), re.M), out.getvalue()


@pytest.mark.django_db
def test_the_warm_pool_keeps_ready_pods_that_a_start_claims(kube_host, settings):
    from types import SimpleNamespace

    from sandboxes import pool
    from sandboxes.backends import get_backend

    settings.DOCKER_HOSTS = {"local": kube_host.address}
    get_backend.cache_clear()
    try:
        assert pool.warm_up("local", "standard", "berth/base:latest", 1)
        name = f"{settings.SANDBOX_PREFIX}-claimed-node1"
        ids, network = pool.claim("local", {"node1": SimpleNamespace(name=name)}, "berth/base:latest", "standard")
        backend = get_backend("local")
        assert (
            network == "" and {info.container_id: info.name for info in backend.list_sandboxes()}[ids["node1"]] == name
        )
        assert backend.exec(ids["node1"], "echo warm-$((2*21))", timeout=10).output == "warm-42\n"
        assert pool.claim("local", {"node1": SimpleNamespace(name=name)}, "berth/base:latest", "standard") is None
        backend.remove(ids["node1"])
    finally:
        get_backend.cache_clear()


@pytest.fixture
def cluster_stack(kube_host, django_db_blocker):
    """The web process, a worker and the relay, as scripts/up starts them, for a host that is
    the cluster."""
    with django_db_blocker.unblock():
        db_url = database_url()
    st = start_stack(db_url, {"BERTH_DOCKER_HOSTS": f"local={kube_host.address}"}, prefix="k8s")
    yield st
    st.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.stack
@pytest.mark.e2e
def test_a_learner_works_day_1_on_the_cluster_in_chromium(kube_host, cluster_stack, chromium, learner, course):
    """Day 1 is a Docker day: its sandbox is a pod of the cluster's runtime class for nested
    engines, with its own Docker engine inside."""
    from sandboxes.models import Sandbox
    from tests.test_e2e import log_in

    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(page, cluster_stack, learner)
    work_day_1(page, cluster_stack.http, kube_host,
               lambda: Sandbox.objects.get(session__user=learner, session__lab__slug=DAY1).container_id)  # fmt: skip


def sandbox_pods(kube_host) -> dict[str, str]:
    """The sandbox namespace's pods: name -> runtime class."""
    listing = kube_host.kubectl("get", "pods", "-n", NAMESPACE, "--no-headers", "-o",
                                "custom-columns=NAME:.metadata.name,CLASS:.spec.runtimeClassName")  # fmt: skip
    return dict(line.split() for line in listing.splitlines() if line.strip())


def work_day_1(page, http: str, kube_host, sandbox_pod) -> None:
    """A logged-in learner's Day 1 in Chromium, from Start lab to End lab: the terminal a shell in
    the pod `sandbox_pod()` names, of the class for nested engines, a nested container run in it,
    step 1's check failed then passed; the pod gone at the end."""
    from django.conf import settings

    from labs.format import parse_lab
    from tests.test_e2e import type_in_terminal

    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{http}/course/day/1/")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=120000)
    pod = sandbox_pod()
    assert sandbox_pods(kube_host).get(pod) == NESTED_CLASS, (pod, sandbox_pods(kube_host))
    type_in_terminal(page, "hostname; docker run --rm busybox sh -c 'echo nested-$((6*7))'\n")
    expect(page.locator(".xterm-rows")).to_contain_text("nested-42", timeout=60000)
    expect(page.locator(".xterm-rows")).to_contain_text("node1")

    page.click("#step-1 .check-button")  # before the work: it fails and says why
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    lab, errors_in_lab = parse_lab(settings.COURSE_LABS_DIR / DAY1, DAY1)  # as the platform loaded it
    assert lab and not errors_in_lab, errors_in_lab
    for line in lab.steps[0].solution_script.strip().splitlines():
        type_in_terminal(page, line + "\n")
    type_in_terminal(page, "echo done-$((5*5))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("done-25", timeout=60000)
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "passed", timeout=60000)

    # Ending the lab removes the pod (a cluster keeps no stopped sandboxes).
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".lab-head button.danger", has_text="End lab").click()
    expect(page.locator("#start-lab")).to_be_visible(timeout=60000)
    page.context.close()
    assert not errors, f"JavaScript errors: {errors}"
    for _ in range(100):
        if pod not in sandbox_pods(kube_host):
            break
        time.sleep(0.3)
    assert pod not in sandbox_pods(kube_host)


def test_a_cluster_offers_docker_and_kubernetes_days_only_in_the_runtime_class_named_for_them(kube_host):
    """Without `nested=` in its address a cluster refuses Docker and Kubernetes days (a nested
    engine or kubelet needs SYS_ADMIN, which only a runtime class whose pods' root is not the
    node's may give). Refused before anything is made, with words for the learner."""
    from sandboxes.backends.base import SandboxError
    from sandboxes.backends.kubernetes import KubernetesBackend
    from tests.test_isolation import spec

    plain = KubernetesBackend("plain", kube_host.address.replace(f"&nested={NESTED_CLASS}", ""))
    nested = KubernetesBackend("nested", kube_host.address)
    for refused in (spec("k8s-plain", "docker"), spec("k8s-node", "kubernetes")):
        with pytest.raises(SandboxError, match=f"profile {refused.profile} is not offered") as error:
            plain.create(refused)
        assert error.value.learner_message == "This lab needs a kind of sandbox this host does not offer."
    assert plain.profiles() == ("standard",) and nested.profiles() == ("standard", "docker", "kubernetes")
    pods = kube_host.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name")
    assert "k8s-plain" not in pods and "k8s-node" not in pods


@pytest.mark.django_db
def test_a_kubernetes_day_proves_itself_on_the_cluster(kube_host, settings, course):
    """A Kubernetes day whose two nodes are pods: each a kubelet and containerd in a pod of the
    runtime class for nesting, the nodes on a network of their own (berth-lan), the first one a
    control plane the second joins; pods on both nodes ping each other, a packet is followed hop
    by hop, the route between the nodes is read. Checks fail before, pass after the solution,
    fail after the sabotage; the lesson's transcript prints what the lesson shows."""
    from django.core.management import call_command

    from sandboxes.backends import get_backend
    from tests.kube_host import KUBERNETES_DAYS_IMAGE

    kube_host.load_images([KUBERNETES_DAYS_IMAGE])
    settings.DOCKER_HOSTS = {"local": kube_host.address}
    get_backend.cache_clear()
    out = io.StringIO()
    try:
        call_command("labtest", K8S_DAY, stdout=out)
    finally:
        get_backend.cache_clear()
    assert "1/1 labs passed" in out.getvalue(), out.getvalue()
    assert re.search(rf"^{K8S_DAY} .* lesson transcript +ok", out.getvalue(), re.M), out.getvalue()


# What a learner's root tries on a Docker day, from inside the pod (tests/test_isolation.py tries
# the same on a Docker host): each line says refused or, if it got through, what it did.
HOSTILE = r"""
for key in kernel/core_pattern kernel/modprobe; do
  v=$(cat /proc/sys/$key); printf '%s\n' "$v" > /proc/sys/$key 2>/dev/null && echo "WROTE $key" || echo "refused $key"
done
mkdir -p /tmp/kfs
for fs in debugfs tracefs securityfs; do
  mount -t $fs none /tmp/kfs 2>/dev/null && { echo "MOUNTED $fs"; umount /tmp/kfs; } || echo "refused $fs"
done
python3 -c 'import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("LOADED module" if libc.syscall(313, -1, b"", 0) == 0 else "refused module: " + os.strerror(ctypes.get_errno()))'
mkdir -p /tmp/cgx
mount -t cgroup -o none,name=berthx cgroup /tmp/cgx 2>/dev/null && echo "MOUNTED hierarchy" || echo "refused hierarchy"
ls /sys/fs/cgroup/*/release_agent 2>/dev/null | sed 's/^/AGENT /'
"""


def test_a_docker_day_pod_gives_a_learner_no_host_privileges(kube_host, settings):
    """The nested engine works in the pod, and none of the host's privileges are in reach:
    host-wide kernel settings, the kernel's debug file systems, modules, a cgroup release_agent,
    the host's disks, runc's leaked descriptor (CVE-2024-21626), the cluster's API and the node."""
    from sandboxes.backends import get_backend
    from tests.test_isolation import BLOCK_DEVICES, TCP_PROBE, spec

    settings.DOCKER_HOSTS = {"local": kube_host.address}
    get_backend.cache_clear()
    backend = get_backend("local")
    sandbox_id = backend.create(spec("k8s-dind", "docker"))
    try:
        backend.start(sandbox_id)
        backend.wait_ready(sandbox_id, 120, lambda phase: None)

        def run(script: str, timeout: int = 60) -> str:
            result = backend.exec(sandbox_id, script, timeout=timeout)
            assert not result.timed_out, f"timed out: {script}\n{result.output}"
            return result.output

        works = run("docker run --rm busybox echo nested-$((6*7)) && docker info --format '{{.Name}}'", 120)
        assert "nested-42" in works and "node1" in works, works
        # A command shares the cgroup namespace of PID 1 and the inner engine, as on a Docker
        # host: its cgroups read from "/", not from the node's /kubepods (days 13 and 15).
        cgroups = run("cat /proc/self/cgroup").splitlines()
        assert cgroups and all(line.endswith(":/") for line in cgroups), cgroups
        out = run(HOSTILE)
        assert out.count("refused") == 7 and "refused module: Operation not permitted" in out, out
        assert not any(word in out for word in ("WROTE", "MOUNTED", "LOADED", "AGENT")), out
        disks = run(BLOCK_DEVICES)
        assert not re.search(r"^READ ", disks, re.M) and re.search(r"^(refused|nomknod) ", disks, re.M), disks
        leak = run(
            "touch /berth-sandbox-root-marker; for fd in 3 4 5 6 7 8; do"
            " docker run --rm -w /proc/self/fd/$fd busybox sh -c 'ls -a ../../..; ls -a .' 2>&1; done", 240
        )  # fmt: skip
        assert not {"work", "berth-sandbox-root-marker"} & set(leak.split()), leak
        node = kube_host.kubectl("get", "pod", "-n", NAMESPACE, sandbox_id, "-o", "jsonpath={.status.hostIP}")
        reach = run(
            TCP_PROBE + f"probe $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT & probe {node} 10250 &"
            f" probe {node} 6443 & probe {node} 2379 & wait"
        )  # fmt: skip
        assert reach.count("\n") == 4 and " open" not in reach, reach
    finally:
        backend.remove(sandbox_id)
        get_backend.cache_clear()
