from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which sandbox, host or setting, and when. Written by every console action."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=50)  # e.g. "session.end", "host.drain"
    target = models.CharField(max_length=200)  # e.g. "session 12 (alice, day01-docker-architecture)"
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"


def audit(actor, action: str, target: str, detail: str = "") -> AuditEvent:
    return AuditEvent.objects.create(actor=actor, action=action, target=target, detail=detail)


class FailedTask(models.Model):
    """A Celery task that raised, recorded by the worker (console: failed tasks of the last hour)."""

    task = models.CharField(max_length=200)
    task_id = models.CharField(max_length=100)
    args = models.TextField(blank=True)
    error = models.TextField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.task} failed at {self.at:%H:%M:%S}"


class LiveCount(models.Model):
    """Live sandboxes, sampled on the beat schedule, for the console's chart."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    sessions = models.PositiveIntegerField()
    waiting = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at"]

    def __str__(self):
        return f"{self.sessions} live at {self.at:%H:%M}"
