"""A real two-node Kubernetes cluster for the Kubernetes backend's tests, started by the tests
from Berth's own node image (the Kubernetes binaries `build_lab_images` built from Go modules) as
a two-node lab on Berth's Docker engine, with node1's API server reachable from this machine.

The lab's network keeps to itself (internal, no route to the host), so node1 also joins a
network of the test's own that the host reaches; the API server's certificate names node1, which
the kubeconfig asks for by name (tls-server-name)."""

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings

from labs import runner
from labs.format import LabDef

NODES = ["node1", "node2"]
IMAGES = ["berth/base:latest", "berth/etcd:latest"]  # the contract tests' sandboxes, and a standard lab's


@dataclass
class HostCluster:
    kubeconfig: Path
    ids: dict[str, str]
    network: str  # the lab's own, between the nodes
    api_network: str  # node1 and this machine
    docker_env: dict[str, str]

    def kubectl(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", "exec", self.ids["node1"], "kubectl", *args], env=self.docker_env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout


def start(backend, workdir: Path) -> HostCluster:
    import os

    tag = uuid.uuid4().hex[:6]
    prefix = f"{settings.SANDBOX_PREFIX}-kh{tag}"
    lab = LabDef("kube-host", "(test)", "kube-host", "berth/kubernetes:latest", "kubernetes", 60, NODES, "")
    labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.labtest": "kube-host"}
    ids: dict[str, str] = {}
    env = {**os.environ, "DOCKER_HOST": settings.DOCKER_HOSTS["local"]}
    cluster = HostCluster(workdir / "kubeconfig", ids, f"{prefix}-net", f"{prefix}-api", env)
    names = {node: f"{prefix}-{node}" for node in NODES}
    runner.bring_up(backend, lab, names, labels, network=cluster.network, created=ids.__setitem__)

    docker = ["docker"]
    run = lambda *args, **kw: subprocess.run([*docker, *args], env=env, check=True, capture_output=True, **kw)  # noqa: E731
    run("network", "create", "--label", f"berth.prefix={settings.SANDBOX_PREFIX}", cluster.api_network)
    run("network", "connect", cluster.api_network, ids["node1"])
    address = run(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{cluster.api_network}").IPAddress}}}}', ids["node1"],
        text=True,
    ).stdout.strip()  # fmt: skip
    admin = yaml.safe_load(run("exec", ids["node1"], "cat", "/etc/kubernetes/admin.conf", text=True).stdout)
    for entry in admin["clusters"]:
        entry["cluster"]["server"] = f"https://{address}:6443"
        entry["cluster"]["tls-server-name"] = "node1"
    cluster.kubeconfig.write_text(yaml.safe_dump(admin))

    # Both nodes take sandboxes; the lab images into each node's containerd (no registry here).
    cluster.kubectl("taint", "nodes", "node1", "node-role.kubernetes.io/control-plane-")
    for node in NODES:
        for image in IMAGES:
            save = subprocess.Popen(["docker", "save", image], env=env, stdout=subprocess.PIPE)
            subprocess.run(
                ["docker", "exec", "-i", ids[node], "ctr", "-n", "k8s.io", "images", "import", "--local", "-"],
                env=env, stdin=save.stdout, check=True, capture_output=True,
            )  # fmt: skip
            save.wait()
    cluster.kubectl("apply", "-f", "/etc/berth/addons/metrics-server.yaml")  # the backend's stats
    return cluster


def stop(backend, cluster: HostCluster) -> None:
    subprocess.run(
        ["docker", "network", "disconnect", "-f", cluster.api_network, cluster.ids["node1"]],
        env=cluster.docker_env, capture_output=True,
    )  # fmt: skip
    runner.tear_down(backend, cluster.ids, cluster.network)
    subprocess.run(["docker", "network", "rm", cluster.api_network], env=cluster.docker_env, capture_output=True)
