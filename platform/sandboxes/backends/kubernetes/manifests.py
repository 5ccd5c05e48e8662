"""What a sandbox is on a cluster, as API objects: a pod per node, and per session network a
headless Service (the nodes find each other by hostname) and a NetworkPolicy (they reach each
other and the cluster's DNS, nothing else). One policy per namespace denies everything else to
every sandbox: no egress, no ingress (exec and attach go through the kubelet, not the network).
"""

import hashlib

from sandboxes.backends.base import SandboxSpec

CONTAINER = "sandbox"
NAME_ANNOTATION = "berth.name"  # a pod cannot be renamed: the name a sandbox goes by now
NETWORK_LABEL = "berth.network"  # the session network (its Service's name) a pod is on
DENY_ALL = "berth-deny-all"

# Docker's default capabilities minus the ones the Docker backend's standard profile drops too.
STANDARD_CAPS_DROPPED = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SYS_CHROOT"]

# CPU weight: the Docker backend's shares (1024 is everyone's) become the pod's CPU request, which
# is what the kubelet turns into the same weight. Everyone's is USUAL_REQUEST_MILLI.
USUAL_REQUEST_MILLI = 100


def request_milli(weight: int) -> int:
    return max(1, weight * USUAL_REQUEST_MILLI // 1024)


def network_service(network: str) -> str:
    """A session network's Service name: a DNS label (letters first, 63 at most) whatever the
    network's own name."""
    return "net-" + hashlib.sha1(network.encode()).hexdigest()[:16]


def label_value(value: str) -> str:
    """A label value (63 characters at most); longer ones are shortened with a hash."""
    return value if len(value) <= 63 else value[:46] + "-" + hashlib.sha1(value.encode()).hexdigest()[:16]


def as_labels(labels: dict[str, str]) -> dict[str, str]:
    """Berth's labels as an object's labels: each value a label value."""
    return {key: label_value(value) for key, value in labels.items()}


def pod(spec: SandboxSpec, namespace: str) -> dict:
    """The pod of one sandbox. Only the standard profile is offered here (see the backend)."""
    labels = as_labels(spec.labels)
    labels["berth.profile"] = spec.profile
    dns = {}
    if spec.network:
        service = network_service(spec.network)
        labels[NETWORK_LABEL] = service
        # node2 resolves as node2.<service>.<namespace>.svc.<domain>: the search path finds it
        dns = {"subdomain": service, "dnsConfig": {"searches": [f"{service}.{namespace}.svc.cluster.local"]}}
    limits = {
        "cpu": f"{int(spec.cpus * 1000)}m",
        "memory": f"{spec.memory_mb}Mi",
        "ephemeral-storage": f"{spec.disk_mb}Mi",
    }
    # the disk is capped, not reserved: as on a Docker host, where sandboxes share the disk
    requests = {
        "cpu": f"{min(USUAL_REQUEST_MILLI, int(spec.cpus * 1000))}m",
        "memory": f"{spec.memory_mb}Mi",
        "ephemeral-storage": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": spec.name, "labels": labels, "annotations": {NAME_ANNOTATION: spec.name}},
        "spec": {
            "hostname": spec.hostname,
            **dns,
            "automountServiceAccountToken": False,  # nothing of the cluster's API inside
            "enableServiceLinks": False,  # nor the addresses of the namespace's services
            "restartPolicy": "Never",  # a sandbox that ends is ended: the reaper tidies it
            "terminationGracePeriodSeconds": 2,
            **({"runtimeClassName": spec.runtime} if spec.runtime else {}),
            "containers": [
                {
                    "name": CONTAINER,
                    "image": spec.image,
                    "imagePullPolicy": "IfNotPresent",  # lab images are loaded onto the nodes
                    "workingDir": "/root",  # the image's own command runs, as on a Docker host
                    "env": [
                        {"name": key, "value": value}
                        for key, value in {"TERM": "xterm-256color", "BERTH_NODE": spec.hostname, **spec.env}.items()
                    ],
                    "resources": {"limits": limits, "requests": requests},
                    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": STANDARD_CAPS_DROPPED},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                }
            ],
        },
    }


def deny_all() -> dict:
    """Every pod of the namespace: no traffic in or out unless another policy allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DENY_ALL},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def session_service(network: str, labels: dict[str, str]) -> dict:
    service = network_service(network)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service,
            "labels": as_labels(labels),
            "annotations": {NAME_ANNOTATION: network},
        },
        "spec": {
            "clusterIP": "None",  # headless: each pod's hostname resolves to the pod itself
            "selector": {NETWORK_LABEL: service},
            "publishNotReadyAddresses": True,
        },
    }


def session_policy(network: str, labels: dict[str, str]) -> dict:
    """The pods of one session reach each other, and the cluster's DNS; nothing else."""
    service = network_service(network)
    same_session = {"podSelector": {"matchLabels": {NETWORK_LABEL: service}}}
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": service, "labels": as_labels(labels)},
        "spec": {
            "podSelector": {"matchLabels": {NETWORK_LABEL: service}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [same_session]}],
            "egress": [{"to": [same_session]}, dns],
        },
    }
