"""The studio's records: every saved text of a lesson or a lab (a version), and every self-test
of a lab. Learners see only what is published into the course's own tables (course.Lesson,
labs.Lab); a draft lives here until an instructor publishes it."""

from django.conf import settings
from django.db import models


class ContentVersion(models.Model):
    LESSON = "lesson"
    LAB = "lab"
    KINDS = [(LESSON, "lesson"), (LAB, "lab")]

    kind = models.CharField(max_length=10, choices=KINDS)
    key = models.CharField(max_length=100)  # a lesson's or a lab's slug
    number = models.PositiveIntegerField()  # 1, 2, ... per item
    text = models.TextField()  # the whole source: lesson Markdown with front matter, or lab.yaml
    author = models.ForeignKey(  # None: read from the course files (lessons/, labs/)
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)
    source_hash = models.CharField(max_length=64, blank=True)  # read from the course files: their digest
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "key", "-number"]
        constraints = [models.UniqueConstraint(fields=["kind", "key", "number"], name="unique_version_number")]

    def __str__(self):
        return f"{self.kind} {self.key} v{self.number}"

    @property
    def author_name(self) -> str:
        return self.author.username if self.author else "course files"


class SelfTestRun(models.Model):
    """One run of the lab self-test: from the studio's "Test this lab" or the nightly schedule."""

    QUEUED, RUNNING, PASSED, FAILED, ERROR = "queued", "running", "passed", "failed", "error"
    STATES = [(s, s) for s in (QUEUED, RUNNING, PASSED, FAILED, ERROR)]
    STUDIO, SCHEDULE = "studio", "schedule"

    lab_slug = models.CharField(max_length=100, db_index=True)
    version = models.ForeignKey(ContentVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(max_length=10, choices=[(STUDIO, STUDIO), (SCHEDULE, SCHEDULE)], default=STUDIO)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED)
    output = models.TextField(blank=True)  # one line per phase, as labtest prints them
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"self-test of {self.lab_slug} ({self.state})"
