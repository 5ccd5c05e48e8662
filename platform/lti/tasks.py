from celery import shared_task
from django.db import transaction

from lti.models import GradeLink


@shared_task(bind=True, max_retries=5, default_retry_delay=30, acks_late=True)
def send_grade_task(self, link_id: int) -> None:
    from lti.grades import send_grade

    link = GradeLink.objects.select_related("lesson").filter(pk=link_id).first()
    if link is None:
        return
    try:
        send_grade(link)
    except Exception as exc:  # the platform refused or did not answer: say so, and try again later
        GradeLink.objects.filter(pk=link_id).update(error=str(exc)[:2000])
        raise self.retry(exc=exc) from exc


def queue_grades(user, lesson) -> None:
    """After the day is done (and committed): its grade to every platform that launched it."""
    for link_id in GradeLink.objects.filter(user=user, lesson=lesson).values_list("pk", flat=True):
        transaction.on_commit(lambda link_id=link_id: send_grade_task.delay(link_id))
