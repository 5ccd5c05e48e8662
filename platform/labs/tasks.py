from celery import shared_task

from labs import checks


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_check_task(check_run_id: int) -> None:
    checks.run_check(check_run_id)
