"""Sandbox backends. Views, consumers and tasks use `get_backend(host)` and the SandboxBackend
contract only. A host's address picks its backend: `k8s:...` is a Kubernetes cluster (see
backends/kubernetes/), anything else an engine of settings.SANDBOX_BACKEND (Docker's, or the
tests' in-memory twin)."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from sandboxes.backends.base import SandboxBackend

CLUSTER_BACKEND = "sandboxes.backends.kubernetes.KubernetesBackend"


@cache
def get_backend(host: str) -> SandboxBackend:
    if host not in settings.DOCKER_HOSTS:
        raise KeyError(f"unknown sandbox host {host!r}; known: {', '.join(settings.DOCKER_HOSTS)}")
    url = settings.DOCKER_HOSTS[host]
    backend_class = import_string(CLUSTER_BACKEND if url.startswith("k8s:") else settings.SANDBOX_BACKEND)
    return backend_class(host, url)
