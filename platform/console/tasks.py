from celery import shared_task

from console import workers


@shared_task
def sample_live_count() -> None:
    workers.sample_live_count()
