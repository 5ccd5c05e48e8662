"""The add-ons later Kubernetes days apply (/etc/berth/addons on every node), each working on a
real one-node cluster: metrics-server answers `kubectl top`, a PersistentVolumeClaim gets a
directory on the node, and an Ingress routes a host name to a Service through Traefik."""

import uuid

import pytest

from labs import runner
from labs.format import LabDef

# django_db: so that the test database exists for the module's cluster (its limits are read there).
pytestmark = [pytest.mark.docker, pytest.mark.cluster, pytest.mark.django_db]

WAIT = """
for _ in $(seq 1 120); do {test} > /tmp/out 2>&1 && break; sleep 1; done
cat /tmp/out; {test} > /dev/null 2>&1
"""


@pytest.fixture(scope="module")
def cluster(docker_engine, django_db_setup, django_db_blocker):
    from django.conf import settings

    from sandboxes.backends import get_backend

    backend = get_backend("local")
    lab = LabDef("addons", "(test)", "addons", "berth/kubernetes:latest", "kubernetes", 60, ["node1"], "")
    ids: dict[str, str] = {}
    labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.labtest": "addons"}
    name = f"{settings.SANDBOX_PREFIX}-addons-{uuid.uuid4().hex[:6]}"
    try:
        with django_db_blocker.unblock():  # the test database: the sandbox's limits may be the console's
            runner.bring_up(backend, lab, {"node1": name}, labels, created=ids.__setitem__)
        yield lambda script, timeout=180: backend.exec(ids["node1"], script, timeout)
    finally:
        runner.tear_down(backend, ids)


def until(test: str) -> str:
    """A script that retries `test` for up to two minutes and exits as its last try did."""
    return WAIT.format(test=test)


def test_metrics_server_answers_kubectl_top(cluster):
    assert cluster("kubectl apply -f /etc/berth/addons/metrics-server.yaml").exit_code == 0
    result = cluster(until("kubectl top nodes --no-headers"))
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == "node1" and result.output.split()[1].endswith("m"), result.output
    # metrics-server lists a pod once it has two samples of it, so pods appear one scrape apart
    pods = cluster(
        until(
            "kubectl top pods -A --no-headers > /tmp/top && grep -q etcd-node1 /tmp/top"
            " && grep -q kube-apiserver-node1 /tmp/top && cat /tmp/top"
        )
    )
    assert pods.exit_code == 0 and "kube-apiserver-node1" in pods.output, pods.output


def test_a_claim_gets_a_local_directory_that_outlives_its_pod(cluster):
    assert cluster("kubectl apply -f /etc/berth/addons/local-path.yaml").exit_code == 0
    manifest = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: notes}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  restartPolicy: Never
  containers:
    - name: writer
      image: busybox
      command: [sh, -c, "echo kept-on-disk > /data/note.txt"]
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: notes}
"""
    assert cluster(f"kubectl apply -f - <<'EOF'\n{manifest}\nEOF").exit_code == 0
    done = cluster(until("[ \"$(kubectl get pod writer -o jsonpath='{.status.phase}')\" = Succeeded ]"))
    assert done.exit_code == 0, cluster("kubectl describe pod writer; kubectl get pvc,pv").output
    bound = cluster("kubectl get pvc notes -o jsonpath='{.status.phase} {.spec.storageClassName}'")
    assert bound.output.strip() == "Bound local-path", bound.output
    on_disk = cluster("cat /opt/local-path-provisioner/*notes*/note.txt")
    assert on_disk.output.strip() == "kept-on-disk", on_disk.output


def test_an_ingress_routes_a_host_name_to_a_service(cluster):
    assert cluster("kubectl apply -f /etc/berth/addons/ingress-traefik.yaml").exit_code == 0
    setup = (
        "kubectl create deployment shop --image=nginx"
        " && kubectl expose deployment shop --port=80"
        " && kubectl create ingress shop --rule='shop.example/*=shop:80'"
    )
    assert cluster(setup).exit_code == 0
    page = cluster(until("curl -fsS -m 2 -H 'Host: shop.example' http://node1:30080/ | grep 'Welcome to nginx'"))
    assert "Welcome to nginx" in page.output, cluster("kubectl -n traefik logs deploy/traefik").output
    other = cluster("curl -s -o /dev/null -w '%{http_code}' -m 2 -H 'Host: elsewhere.example' http://node1:30080/")
    assert other.output.strip() == "404"  # no Ingress names that host
    status = cluster(until("kubectl get ingress shop -o jsonpath='{.spec.ingressClassName}' | grep -q traefik"))
    assert status.exit_code == 0, status.output


NETPOL_PODS = """
apiVersion: v1
kind: Namespace
metadata: {name: np}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: np, labels: {app: web}}
spec:
  containers: [{name: nginx, image: nginx, ports: [{name: http, containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: np, labels: {role: client}}
spec:
  containers: [{name: sh, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: stranger, namespace: np}
spec:
  containers: [{name: sh, image: busybox, command: [sleep, "3600"]}]
"""

NETPOL_POLICIES = {
    "deny-ingress": "spec: {podSelector: {}, policyTypes: [Ingress]}",
    # A named port: the server's container port "http".
    "allow-clients": """spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{protocol: TCP, port: http}]}]""",
    "client-no-egress": "spec: {podSelector: {matchLabels: {role: client}}, policyTypes: [Egress]}",
}


def test_network_policies_are_enforced(cluster):
    """berth-netpol (deployed on every cluster) enforces NetworkPolicies: default deny, an allow
    by pod label and named port, an egress deny, and reachability again once they are gone."""
    assert cluster(f"kubectl apply -f - <<'EOF'\n{NETPOL_PODS}\nEOF").exit_code == 0
    ready = cluster("kubectl -n np wait --for=condition=Ready pod --all --timeout=120s")
    assert ready.exit_code == 0, cluster("kubectl -n np describe pods").output
    ip = cluster("kubectl -n np get pod server -o jsonpath='{.status.podIP}'").output.strip()

    def sees(pod: str, expected: str) -> None:  # retried: policies apply asynchronously
        probe = f"timeout 3 wget -q -O- http://{ip} > /dev/null && echo reached || echo blocked"
        result = cluster(until(f"kubectl -n np exec {pod} -- sh -c '{probe}' | grep -x {expected}"))
        assert result.exit_code == 0, (pod, expected, result.output, cluster("iptables-save | grep BERTH").output)

    def apply(name: str) -> None:
        policy = f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: np}}\n"
        assert cluster(f"kubectl apply -f - <<'EOF'\n{policy}{NETPOL_POLICIES[name]}\nEOF").exit_code == 0

    sees("client", "reached")
    sees("stranger", "reached")
    apply("deny-ingress")
    sees("client", "blocked")
    sees("stranger", "blocked")
    node = cluster(f"curl -fsS --max-time 3 http://{ip}/")  # the node itself (kubelet probes) still may
    assert node.exit_code == 0 and "Welcome to nginx" in node.output, node.output
    apply("allow-clients")
    sees("client", "reached")
    sees("stranger", "blocked")
    apply("client-no-egress")
    sees("client", "blocked")
    assert cluster("kubectl -n np delete networkpolicy --all").exit_code == 0
    sees("client", "reached")
    sees("stranger", "reached")
