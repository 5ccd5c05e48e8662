"""What the console shows of the task tier: workers alive, queue lengths, failures. The web tier
asks Celery over the broker (Redis); it never talks to Docker."""

import redis
from celery.signals import task_failure
from django.conf import settings
from django.utils import timezone

from berth.celery import app
from console.models import FailedTask, LiveCount
from sandboxes.models import LabSession
from sandboxes.queues import host_queue


def workers(timeout: float = 1.0) -> list[dict]:
    """Every worker that answers a ping, with the queues it consumes and its running tasks."""
    inspect = app.control.inspect(timeout=timeout)
    pings = inspect.ping() or {}
    queues = inspect.active_queues() or {}
    active = inspect.active() or {}
    return [
        {"name": name, "queues": sorted(q["name"] for q in queues.get(name, [])), "active": len(active.get(name, []))}
        for name in sorted(pings)
    ]


def queue_lengths() -> dict[str, int]:
    """Messages waiting in the default queue and in each Docker host's queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    names = [settings.CELERY_TASK_DEFAULT_QUEUE] + [host_queue(host) for host in settings.DOCKER_HOSTS]
    return {name: client.llen(name) for name in names}


def recent_failures(hours: int = 1):
    return FailedTask.objects.filter(at__gte=timezone.now() - timezone.timedelta(hours=hours))


@task_failure.connect
def record_failure(sender=None, task_id=None, exception=None, args=None, **kwargs):

    FailedTask.objects.create(
        task=getattr(sender, "name", str(sender)),
        task_id=task_id or "",
        args=repr(args)[:500],
        error=f"{type(exception).__name__}: {exception}"[:2000],
    )


def sample_live_count() -> None:
    live = LabSession.objects.filter(state__in=LabSession.LIVE_STATES)
    LiveCount.objects.create(sessions=live.exclude(host="").count(), waiting=live.filter(host="").count())
    LiveCount.objects.filter(at__lt=timezone.now() - timezone.timedelta(days=2)).delete()
