"""The upgrade day's node image: a v1.36 cluster upgraded to v1.37 with kubeadm, as an
administrator would (control plane, kube-proxy, then the node's kubelet and kubectl), with
everything the new version needs already on the node."""

import uuid

import pytest

from labs import runner
from labs.format import LabDef

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

IMAGE = "berth/kubernetes-upgrade:latest"
NEXT = "/opt/berth/upgrade/v1.37.2"
# This host runs cgroup v1 (kubeadm's SystemVerification refuses it from 1.35 on), and Berth's
# CoreDNS is newer than the release kubeadm's CoreDNS migration knows: both checks are skipped,
# and etcd stays at the version built here.
UPGRADE = f"""
set -e
install -m 755 {NEXT}/kubeadm /usr/local/bin/kubeadm
kubeadm upgrade apply v1.37.2 --yes --etcd-upgrade=false \\
  --ignore-preflight-errors=SystemVerification,CoreDNSUnsupportedPlugins,CoreDNSMigration > /var/log/upgrade.log 2>&1 \\
  || {{ tail -20 /var/log/upgrade.log; exit 1; }}
kubectl -n kube-system set image daemonset/kube-proxy kube-proxy=berth.local/kube-proxy:v1.37.2
kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=120s
install -m 755 {NEXT}/kubelet {NEXT}/kubectl /usr/local/bin/
systemctl restart kubelet
for _ in $(seq 1 120); do
  [ "$(kubectl get node node1 -o jsonpath='{{.status.nodeInfo.kubeletVersion}}')" = v1.37.2 ] && break
  sleep 1
done
kubectl wait --for=condition=Ready node/node1 --timeout=120s
# The new kubelet restarts the control plane's static pods: wait until the API server serves again.
for _ in $(seq 1 120); do
  kubectl -n kube-system wait --for=condition=Ready pod -l tier=control-plane --timeout=5s > /dev/null 2>&1 \
    && [ "$(kubectl auth can-i get nodes 2> /dev/null)" = yes ] && break
  sleep 1
done
"""


@pytest.fixture
def cluster(docker_engine, db):
    from django.conf import settings

    from sandboxes.backends import get_backend

    backend = get_backend("local")
    lab = LabDef("upgrade", "(test)", "upgrade", IMAGE, "kubernetes", 60, ["node1"], "")
    ids: dict[str, str] = {}
    labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.labtest": "upgrade"}
    name = f"{settings.SANDBOX_PREFIX}-upgrade-{uuid.uuid4().hex[:6]}"
    try:
        runner.bring_up(backend, lab, {"node1": name}, labels, created=ids.__setitem__)
        yield lambda script, timeout=300: backend.exec(ids["node1"], script, timeout)
    finally:
        runner.tear_down(backend, ids)


def test_a_cluster_is_upgraded_a_minor_version_with_kubeadm_and_keeps_its_workloads(cluster):
    assert cluster("kubectl version -o json | jq -r .serverVersion.gitVersion").output.strip() == "v1.36.3"
    before = cluster("kubectl create deployment web --image=nginx && kubectl rollout status deploy/web --timeout=120s")
    assert before.exit_code == 0, before.output
    plan = cluster(
        f"install -m 755 {NEXT}/kubeadm /tmp/kubeadm && /tmp/kubeadm upgrade plan "
        "--ignore-preflight-errors=SystemVerification,CoreDNSUnsupportedPlugins,CoreDNSMigration"
    )
    assert "kubeadm upgrade apply v1.37.2" in plan.output, plan.output

    upgraded = cluster(UPGRADE, timeout=600)
    assert upgraded.exit_code == 0, upgraded.output
    versions = cluster(
        "kubectl version -o json | jq -r '.serverVersion.gitVersion, .clientVersion.gitVersion';"
        " kubectl get node node1 -o jsonpath='{.status.nodeInfo.kubeletVersion}{\"\\n\"}';"
        " kubectl -n kube-system get pod -l component=kube-scheduler -o jsonpath='{.items[0].spec.containers[0].image}'"
    )
    assert versions.output.split() == ["v1.37.2"] * 3 + ["berth.local/kube-scheduler:v1.37.2"], versions.output
    after = cluster("kubectl rollout status deployment/web --timeout=120s && kubectl get pods -l app=web --no-headers")
    assert after.exit_code == 0 and "Running" in after.output, after.output
