"""A real two-node Kubernetes cluster for the Kubernetes backend's tests, started by the tests
from Berth's own node image (the Kubernetes binaries `build_lab_images` built from Go modules) as
a two-node lab on Berth's Docker engine, with node1's API server reachable from this machine.

The lab's network keeps to itself (internal, no route to the host), so node1 also joins a
network of the test's own that the host reaches; the API server's certificate names node1, which
the kubeconfig asks for by name (tls-server-name). Berth talks to it as the account
docs/kubernetes/berth-rbac.yaml makes, with no more rights than that file gives."""

import dataclasses
import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings

from labs import runner
from labs.format import LabDef
from sandboxes.backends.docker import seccomp
from sandboxes.backends.kubernetes.manifests import NESTED_SECCOMP

NODES = ["node1", "node2"]
RBAC = Path(__file__).resolve().parent.parent / "docs" / "kubernetes" / "berth-rbac.yaml"
NAMESPACE = "berth-sandboxes"  # as RBAC names it
# the contract tests' sandboxes, a standard day's, Docker days'
IMAGES = ["berth/base:latest", "berth/etcd:latest", "berth/docker:latest"]
# Docker days run in this runtime class. Its handler is the nodes' plain runc: the nodes are
# themselves sandboxes of Berth's engine, whose root is not the host's (user namespaces), so
# neither is a pod's. docs/kubernetes.md lists what a cluster of ordinary nodes would use.
NESTED_CLASS = "berth-nested"
NESTED_SECCOMP_ON_NODE = Path("/var/lib/kubelet/seccomp") / NESTED_SECCOMP  # where the kubelet looks for it


# Room for what runs on the nodes: the lab images (Docker days' is 1.5 GB, Kubernetes days' 2 GB)
# and Docker and Kubernetes days' pods, each with an engine or a kubelet of its own.
NODE_RESOURCES = {"memory_mb": 4096, "disk_mb": 16384}
# This cluster's own pod and Service ranges: not the lessons' (10.244.0.0/16, 10.96.0.0/16), which
# the Kubernetes days' clusters in its pods use (docs/kubernetes.md).
OWN_RANGES = {"BERTH_POD_SUBNET": "10.200.0.0/16", "BERTH_SERVICE_SUBNET": "10.100.0.0/16"}
KUBERNETES_DAYS_IMAGE = "berth/kubernetes:latest"  # loaded by the tests of Kubernetes days alone
RUNTIME_CLASS = {
    "apiVersion": "node.k8s.io/v1",
    "kind": "RuntimeClass",
    "metadata": {"name": NESTED_CLASS},
    "handler": "runc",
}


@dataclass
class HostCluster:
    kubeconfig: Path  # Berth's account
    ids: dict[str, str]
    network: str  # the lab's own, between the nodes
    api_network: str  # node1 and this machine
    api_host: str  # node1's address on it (the API server's, and every NodePort's)
    docker_env: dict[str, str]

    @property
    def address(self) -> str:
        """The cluster as a host of BERTH_DOCKER_HOSTS."""
        return f"k8s:{self.kubeconfig}?namespace={NAMESPACE}&nested={NESTED_CLASS}"

    def load_images(self, images: list[str]) -> None:
        """The images into every node's containerd (no registry here), the nodes at once."""
        with ThreadPoolExecutor() as nodes:
            list(nodes.map(lambda node: load_node_images(node, self.docker_env, images), self.ids.values()))

    def kubectl(self, *args: str, check: bool = True) -> str:
        """kubectl on node1, as the cluster's admin."""
        result = subprocess.run(
            ["docker", "exec", self.ids["node1"], "kubectl", *args], env=self.docker_env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout


def start(backend, workdir: Path) -> HostCluster:
    tag = uuid.uuid4().hex[:6]
    prefix = f"{settings.SANDBOX_PREFIX}-kh{tag}"
    lab = LabDef("kube-host", "(test)", "kube-host", "berth/kubernetes:latest", "kubernetes", 60, NODES, "")
    lab.resources = NODE_RESOURCES
    labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.labtest": "kube-host"}
    ids: dict[str, str] = {}
    env = {**os.environ, "DOCKER_HOST": settings.DOCKER_HOSTS["local"]}
    cluster = HostCluster(workdir / "kubeconfig", ids, f"{prefix}-net", f"{prefix}-api", "", env)
    names = {node: f"{prefix}-{node}" for node in NODES}
    runner.bring_up(WithEnv(backend, OWN_RANGES), lab, names, labels, network=cluster.network, created=ids.__setitem__)

    def run(*args: str, **options):
        return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, **options)

    run("network", "create", "--label", f"berth.prefix={settings.SANDBOX_PREFIX}", cluster.api_network)
    run("network", "connect", cluster.api_network, ids["node1"])
    cluster.api_host = address = run(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{cluster.api_network}").IPAddress}}}}', ids["node1"],
        text=True,
    ).stdout.strip()  # fmt: skip
    # Berth's own account, as docs/kubernetes/berth-rbac.yaml gives it: only its namespace.
    run("exec", "-i", ids["node1"], "kubectl", "apply", "-f", "-", input=RBAC.read_bytes())
    token = cluster.kubectl("-n", NAMESPACE, "create", "token", "berth", "--duration=24h").strip()
    config = yaml.safe_load(run("exec", ids["node1"], "cat", "/etc/kubernetes/admin.conf", text=True).stdout)
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://{address}:6443"
        entry["cluster"]["tls-server-name"] = "node1"
    config["users"] = [{"name": "berth", "user": {"token": token}}]
    for entry in config["contexts"]:
        entry["context"]["user"] = "berth"
    cluster.kubeconfig.write_text(yaml.safe_dump(config))

    # Both nodes take sandboxes; the lab images into each node's containerd (no registry here),
    # and Berth's seccomp profile for nested engines where the kubelet looks for it.
    cluster.kubectl("taint", "nodes", "node1", "node-role.kubernetes.io/control-plane-")
    cluster.load_images(IMAGES)
    for node in NODES:
        run("exec", ids[node], "mkdir", "-p", str(NESTED_SECCOMP_ON_NODE.parent))
        run("cp", str(seccomp.profile_path()), f"{ids[node]}:{NESTED_SECCOMP_ON_NODE}")
    run("exec", "-i", ids["node1"], "kubectl", "apply", "-f", "-", input=yaml.safe_dump(RUNTIME_CLASS).encode())
    cluster.kubectl("apply", "-f", "/etc/berth/addons/metrics-server.yaml")  # the backend's stats
    return cluster


class WithEnv:
    """The backend, with more environment for every sandbox it makes."""

    def __init__(self, backend, env: dict[str, str]):
        self.backend, self.env = backend, env

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def create(self, spec):
        return self.backend.create(dataclasses.replace(spec, env={**spec.env, **self.env}))


def load_node_images(node_id: str, env: dict[str, str], images: list[str]) -> None:
    save = subprocess.Popen(["docker", "save", *images], env=env, stdout=subprocess.PIPE)
    subprocess.run(
        ["docker", "exec", "-i", node_id, "ctr", "-n", "k8s.io", "images", "import", "--local", "-"],
        env=env, stdin=save.stdout, check=True, capture_output=True,
    )  # fmt: skip
    if save.wait() != 0:
        raise RuntimeError(f"docker save {' '.join(images)} failed")


def stop(backend, cluster: HostCluster) -> None:
    subprocess.run(
        ["docker", "network", "disconnect", "-f", cluster.api_network, cluster.ids["node1"]],
        env=cluster.docker_env, capture_output=True,
    )  # fmt: skip
    runner.tear_down(backend, cluster.ids, cluster.network)
    subprocess.run(["docker", "network", "rm", cluster.api_network], env=cluster.docker_env, capture_output=True)
