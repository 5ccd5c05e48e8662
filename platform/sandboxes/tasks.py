"""Thin Celery tasks: take ids, call the lifecycle functions. Routed to the host's own queue."""

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from sandboxes import architecture, downloads, lifecycle, placement, pool, queues
from sandboxes.capwatch import CapWatch
from sandboxes.models import Sandbox
from terminals.recording import drop_old_recordings


@shared_task(acks_late=True, reject_on_worker_lost=True)
def provision_session(session_id: int) -> None:
    lifecycle.provision(session_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def end_session(session_id: int, reason: str, keep: bool = True) -> None:
    lifecycle.end(session_id, reason, keep)


@shared_task
def reap_host(host: str) -> dict:
    return lifecycle.reap(host)


@shared_task
def reap_sandboxes() -> None:
    """On the beat schedule: fan out one reaper per Docker host, on that host's queue; drop
    terminal recordings past their keeping time."""
    queues.send_to_every_host(queues.REAP_HOST)
    drop_old_recordings()


@shared_task
def refill_pool_host(host: str) -> int:
    return pool.refill(host)


@shared_task
def refill_pools() -> None:
    """On the beat schedule: top up every host's warm pool, on that host's queue."""
    queues.send_to_every_host(queues.REFILL_POOL)


@shared_task
def dispatch_waiting_task() -> int:
    return placement.dispatch_waiting()


def served_hosts(worker) -> list[str]:
    """The sandbox hosts whose queues this worker consumes."""
    consumed = {q.name for q in worker.app.amqp.queues.consume_from.values()} if worker else set()
    return [host for host in settings.DOCKER_HOSTS if queues.host_queue(host) in consumed]


@worker_ready.connect
def reconcile_on_start(sender, **kwargs):
    """A worker that (re)starts first reconciles the hosts it serves: whatever a killed worker
    left half-made is cleaned up, then the warm pool is refilled."""
    for host in served_hosts(sender):
        queues.send_to_host(queues.REAP_HOST, host, host)
        queues.send_to_host(queues.REFILL_POOL, host, host)


CAP_WATCHES: list[CapWatch] = []


@worker_ready.connect
def watch_caps_from_start(sender, **kwargs):
    """Each host's worker runs that host's cap watch, a thread beside its tasks (capwatch.py)."""
    if settings.CAP_WATCH:
        for host in served_hosts(sender):
            CAP_WATCHES.append(CapWatch(host))
            CAP_WATCHES[-1].start()


@worker_shutdown.connect
def stop_cap_watches(**kwargs):
    for watch in CAP_WATCHES:
        watch.stop()


@shared_task
def sample_host(host: str) -> dict:
    return lifecycle.sample(host)


@shared_task
def sample_hosts() -> None:
    """On the beat schedule: engine health and sandbox stats for the admin console."""
    queues.send_to_every_host(queues.SAMPLE_HOST, expires=settings.SAMPLE_SECONDS)


@shared_task
def snapshot_architecture(session_id: int, node: str) -> None:
    """The live architecture view's inventory of one sandbox (asked for by the learner's page)."""
    architecture.take_snapshot(session_id, node)


@shared_task
def pack_work(session_id: int, token: str) -> None:
    """Download my work: pack the learner's files for the link their page is waiting on."""
    downloads.pack(session_id, token)


@shared_task
def discard_kept_sandbox(sandbox_id: int) -> None:
    """The learner chose a fresh start over their kept sandbox."""
    sandbox = Sandbox.objects.select_related("session").get(pk=sandbox_id)
    if sandbox.removed_at is None:
        lifecycle.discard_kept(sandbox)
