"""Thin Celery tasks for the studio's self-tests; the logic is in studio/selftests.py."""

from celery import shared_task

from studio import selftests


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_self_test_task(run_id: int, host: str, text: str | None = None) -> None:
    """On the host's own queue (sandboxes.<host>): the self-test's sandboxes live there."""
    selftests.run_self_test(run_id, host, text)


@shared_task
def self_test_published_labs() -> int:
    """On the beat schedule (BERTH_SELFTEST_HOURS): every published lab, one after another."""
    return len(selftests.schedule_published_labs())


@shared_task
def close_interrupted_self_tests() -> int:
    """On the beat schedule: runs whose worker died are closed as errors."""
    return selftests.close_interrupted()
