"""The Kubernetes backend: the only package of the platform that imports the Kubernetes client.

backend.py implements the sandbox contract on a cluster's API; manifests.py says what a sandbox
is there (a pod, and per session network a headless Service and a NetworkPolicy); streams.py runs
commands and shells through the API server's exec stream.
"""

from sandboxes.backends.kubernetes.backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
