"""Berth as an LTI 1.3 tool. The platforms (learning management systems) it trusts are pylti1p3's
LtiTool records (registered with `manage.py lti_register` or in the Django admin); these models
are who a platform's user is here, and where a day's grade goes back to."""

from django.conf import settings
from django.db import models


class LtiIdentity(models.Model):
    """A platform's user (issuer + subject) and the Berth account they land in."""

    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_identities")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_account_per_lti_user")]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"


class GradeLink(models.Model):
    """A day launched from a platform with its grade service: where the day's score is sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_grade_links")
    lesson = models.ForeignKey("course.Lesson", on_delete=models.CASCADE, related_name="lti_grade_links")
    issuer = models.CharField(max_length=255)
    client_id = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    service = models.JSONField()  # the launch's AGS claim: scopes, lineitem(s) URLs
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_score = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "lesson", "issuer", "client_id"], name="one_grade_link_per_day")
        ]

    def __str__(self):
        return f"{self.user} day {self.lesson.day} -> {self.issuer}"
