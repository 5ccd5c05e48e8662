"""Sandbox backends. Views, consumers and tasks use `get_backend(host)` and the SandboxBackend
contract only; the dotted path in settings.SANDBOX_BACKEND picks the implementation."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from sandboxes.backends.base import SandboxBackend


@cache
def get_backend(host: str) -> SandboxBackend:
    if host not in settings.DOCKER_HOSTS:
        raise KeyError(f"unknown sandbox host {host!r}; known: {', '.join(settings.DOCKER_HOSTS)}")
    backend_class = import_string(settings.SANDBOX_BACKEND)
    return backend_class(host, settings.DOCKER_HOSTS[host])
