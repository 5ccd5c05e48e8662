from django.db.models.signals import post_save
from django.dispatch import receiver

from course.models import DayProgress


@receiver(post_save, sender=DayProgress)
def day_done(sender, instance, update_fields=None, **kwargs):
    """A day just completed (completed_at saved) sends its grade back to LTI platforms."""
    if instance.completed_at and (update_fields is None or "completed_at" in update_fields):
        from lti.tasks import queue_grades

        queue_grades(instance.user, instance.lesson)
