"""The sandbox profiles, and what each takes from the platform's limits (PRODUCT.md, "Profiles").

standard: an unprivileged container. docker: a Docker engine of the learner's own inside.
kubernetes: a Kubernetes node (containerd and the kubelet; the lab's first node also the control
plane). The last two hold elevated privileges, so an admin enables each explicitly; how each
becomes container settings is the backend's business (backends/docker/profiles.py).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    memory: str  # the limits (sandboxes/limits.py) that give its defaults
    pids: str
    disk: str
    enabled: str = ""  # the limit that must be on for labs of this profile to start ("" = always)
    slots: str = ""  # the setting giving the host slots one sandbox takes ("" = 1)
    what: str = ""  # for the learner, after "A private sandbox"
    kind: str = "sandboxes"  # what an admin enables, in words


PROFILES = {
    "standard": Profile("standard", "SANDBOX_MEMORY_MB", "SANDBOX_PIDS", "SANDBOX_DISK_MB"),
    "docker": Profile(
        "docker",
        "SANDBOX_DOCKER_MEMORY_MB",
        "SANDBOX_DOCKER_PIDS",
        "SANDBOX_DOCKER_DISK_MB",
        enabled="SANDBOX_DOCKER_PROFILE_ENABLED",
        slots="SANDBOX_DOCKER_SLOTS",
        what="with its own Docker engine",
        kind="Docker-in-Docker sandboxes",
    ),
    "kubernetes": Profile(
        "kubernetes",
        "SANDBOX_KUBERNETES_MEMORY_MB",
        "SANDBOX_KUBERNETES_PIDS",
        "SANDBOX_KUBERNETES_DISK_MB",
        enabled="SANDBOX_KUBERNETES_PROFILE_ENABLED",
        slots="SANDBOX_KUBERNETES_SLOTS",
        what="forming a Kubernetes cluster of your own",
        kind="Kubernetes node sandboxes",
    ),
}
NAMES = tuple(PROFILES)
ELEVATED = ("docker", "kubernetes")  # their sandboxes need capabilities a standard one never has
