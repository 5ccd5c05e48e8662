"""Thin Celery tasks: take ids, call the lifecycle functions. Routed to the host's own queue."""

from celery import shared_task
from django.conf import settings

from sandboxes import lifecycle


@shared_task(acks_late=True, reject_on_worker_lost=True)
def provision_session(session_id: int) -> None:
    lifecycle.provision(session_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def end_session(session_id: int, reason: str) -> None:
    lifecycle.end(session_id, reason)


@shared_task
def reap_host(host: str) -> dict:
    return lifecycle.reap(host)


@shared_task
def reap_sandboxes() -> None:
    """On the beat schedule: fan out one reaper per Docker host, on that host's queue."""
    for host in settings.DOCKER_HOSTS:
        reap_host.apply_async(args=[host], queue=f"sandboxes.{host}")
