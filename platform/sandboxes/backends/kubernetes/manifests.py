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

# The profiles whose pods make containers of their own (a nested engine; containerd and a
# kubelet): only ever in the cluster's runtime class for them, whose pods' root is not the node's.
NESTING = ("docker", "kubernetes")
# What they need beyond the runtime's default capabilities (the Docker backend's nesting profiles,
# less what touches the host kernel and the newest capabilities, which neither uses and some
# nodes cannot grant).
NESTED_CAPS_ADDED = ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_NICE", "IPC_LOCK", "IPC_OWNER", "NET_BROADCAST",
                     "LEASE", "AUDIT_READ", "SYS_TTY_CONFIG"]  # fmt: skip
# Berth's seccomp profile for nested runtimes (Docker's default plus keyctl, which runc needs for
# each nested container), as a file on every node under the kubelet's seccomp directory.
NESTED_SECCOMP = "berth/docker-sandbox.json"
# Their own disks, as on a Docker host: what the inner runtime stacks overlay mounts on (overlay
# cannot stack on the pod's own overlay: a Docker day's engine and /root, where a lesson mounts an
# overlay by hand; a Kubernetes node's unpacked pod images) on the node's disk, /run and /tmp in
# memory. "home" starts as the image's /root (an init container copies it in).
NESTED_MOUNTS = {
    "docker": {"engine": "/var/lib/docker", "home": "/root", "run": "/run", "tmp": "/tmp"},
    "kubernetes": {
        "images": "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
        "run": "/run",
        "tmp": "/tmp",
    },
}
IN_MEMORY_MB = {"run": 64, "tmp": 512}
# Told they are pods, the nesting images do what a Docker host would have done for them: resolve
# names as a sandbox there does (labs/images/base/berth-pod-dns) and, for a lab of Kubernetes
# nodes, make the network between them (labs/images/kubernetes/berth-lan).
NODE_ENV = {profile: {"BERTH_POD": "1"} for profile in NESTING}

# A name is asked as written first (ndots 0; the cluster's default of 5 sends `web` to the cluster's
# DNS as web.<namespace>.svc... before a nested engine's own DNS may answer it), and a name nobody
# answers fails in a second, as on a Docker host (a sandbox alone reaches no DNS at all).
DNS_OPTIONS = [{"name": "ndots", "value": "0"}, {"name": "timeout", "value": "1"}, {"name": "attempts", "value": "1"}]

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


def security(profile: str) -> dict:
    """The container's security context. Standard: Docker's default capabilities less the risky
    ones, no privilege escalation, the runtime's seccomp profile. Docker and Kubernetes days: a
    nested runtime's capabilities and Berth's seccomp profile; only ever in the cluster's runtime
    class for them, whose pods' root is not the node's (the backend sees to that)."""
    if profile in NESTING:
        return {
            "allowPrivilegeEscalation": True,  # the API refuses SYS_ADMIN without it
            "capabilities": {"add": NESTED_CAPS_ADDED},
            "seccompProfile": {"type": "Localhost", "localhostProfile": NESTED_SECCOMP},
        }
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": STANDARD_CAPS_DROPPED},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod(spec: SandboxSpec, namespace: str, nested_runtime: str | None = None) -> dict:
    """The pod of one sandbox: the standard profile in the cluster's default runtime, the nesting
    ones (Docker and Kubernetes days) in `nested_runtime`."""
    nested = spec.profile in NESTING
    labels = as_labels(spec.labels)
    labels["berth.profile"] = spec.profile
    dns: dict = {"dnsConfig": {"options": DNS_OPTIONS}}
    if spec.network:
        service = network_service(spec.network)
        labels[NETWORK_LABEL] = service
        # node2 resolves as node2.<service>.<namespace>.svc.<domain>: the search path finds it
        dns["subdomain"] = service
        dns["dnsConfig"]["searches"] = [f"{service}.{namespace}.svc.cluster.local"]
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
            **(nested_disks(spec, nested_runtime) if nested else {}),
            "containers": [
                {
                    "name": CONTAINER,
                    "image": spec.image,
                    "imagePullPolicy": "IfNotPresent",  # lab images are loaded onto the nodes
                    "workingDir": "/root",  # the image's own command runs, as on a Docker host
                    "env": [
                        {"name": key, "value": value}
                        for key, value in {
                            "TERM": "xterm-256color",
                            "BERTH_NODE": spec.hostname,
                            **NODE_ENV.get(spec.profile, {}),
                            **spec.env,
                        }.items()
                    ],
                    "resources": {"limits": limits, "requests": requests},
                    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                    "securityContext": security(spec.profile),
                    **({"volumeMounts": volume_mounts(spec.profile)} if nested else {}),
                }
            ],
        },
    }


def volume_mounts(profile: str) -> list[dict]:
    return [{"name": name, "mountPath": path} for name, path in NESTED_MOUNTS[profile].items()]


def nested_disks(spec: SandboxSpec, runtime_class: str | None) -> dict:
    """A nesting profile's runtime class and its volumes (NESTED_MOUNTS), within the sandbox's
    caps; a Docker day's /root starts as the image's, copied in by an init container."""
    mounts = NESTED_MOUNTS[spec.profile]
    volumes = [
        {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": f"{IN_MEMORY_MB[name]}Mi"}}
        if name in IN_MEMORY_MB
        else {"name": name, "emptyDir": {"sizeLimit": f"{spec.disk_mb}Mi"}}
        for name in mounts
    ]
    disks: dict = {"runtimeClassName": runtime_class, "volumes": volumes}
    if "home" in mounts:
        disks["initContainers"] = [
            {
                "name": "home",
                "image": spec.image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["cp", "-a", "/root/.", "/seed/"],
                "volumeMounts": [{"name": "home", "mountPath": "/seed"}],
                "resources": {
                    "limits": {"cpu": "500m", "memory": "64Mi"},
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                },
                "securityContext": security("standard"),
            }
        ]
    return disks


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
