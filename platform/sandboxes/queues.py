"""Where worker tasks run, in one place: a task that needs a sandbox host's engine goes to that
host's own queue, `sandboxes.<host>`, which only that host's workers consume. Tasks are named, not
imported, so the logic that queues work never imports the task modules that call it; and a task
is sent only once the transaction that asked for it has committed, so it never reads a row that
is not there yet."""

from celery import current_app
from celery.canvas import Signature
from django.conf import settings
from django.db import transaction

# The tasks queued on a host (each defined in the module its name says).
PROVISION = "sandboxes.tasks.provision_session"
END_SESSION = "sandboxes.tasks.end_session"
DISCARD_KEPT = "sandboxes.tasks.discard_kept_sandbox"
REAP_HOST = "sandboxes.tasks.reap_host"
REFILL_POOL = "sandboxes.tasks.refill_pool_host"
SAMPLE_HOST = "sandboxes.tasks.sample_host"
SNAPSHOT_ARCHITECTURE = "sandboxes.tasks.snapshot_architecture"
PACK_WORK = "sandboxes.tasks.pack_work"
RUN_CHECK = "labs.tasks.run_check_task"
RUN_SELF_TEST = "studio.tasks.run_self_test_task"
HOST_TASKS = (
    PROVISION, END_SESSION, DISCARD_KEPT, REAP_HOST, REFILL_POOL, SAMPLE_HOST, SNAPSHOT_ARCHITECTURE,
    PACK_WORK, RUN_CHECK, RUN_SELF_TEST,
)  # fmt: skip


def host_queue(host: str) -> str:
    return f"sandboxes.{host}"


def task_on_host(task: str, host: str, *args, expires: float | None = None) -> Signature:
    """The task as a signature bound to `host`'s queue (for a chain of them)."""
    return current_app.signature(task, args=args, queue=host_queue(host), expires=expires, immutable=True)


def send_to_host(task: str, host: str, *args, expires: float | None = None) -> None:
    """Queue `task(*args)` on `host`'s queue once the current transaction commits (at once outside one)."""
    signature = task_on_host(task, host, *args, expires=expires)
    transaction.on_commit(signature.apply_async)


def send_to_every_host(task: str, expires: float | None = None) -> None:
    """Queue `task(host)` on each host's own queue (the beat's per-host rounds)."""
    for host in settings.DOCKER_HOSTS:
        send_to_host(task, host, host, expires=expires)
