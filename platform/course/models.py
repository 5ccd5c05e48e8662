from django.conf import settings
from django.db import models


class Module(models.Model):
    number = models.PositiveSmallIntegerField(unique=True)
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"Module {self.number}: {self.title}"


class Lesson(models.Model):
    day = models.PositiveSmallIntegerField(unique=True)
    module = models.ForeignKey(Module, on_delete=models.PROTECT, related_name="lessons")
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField()
    body_markdown = models.TextField()
    body_html = models.TextField()
    quiz = models.JSONField(default=list)  # [{question, choices, answer, explanation}]
    lab = models.ForeignKey("labs.Lab", null=True, blank=True, on_delete=models.SET_NULL, related_name="lessons")
    source_path = models.CharField(max_length=300)
    # What the course file said when last loaded: an unchanged file does not undo a studio edit.
    source_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["day"]
        permissions = [("author_course", "Can write and publish lessons")]

    def __str__(self):
        return f"Day {self.day}: {self.title}"


class DayProgress(models.Model):
    """A learner's standing on one day: steps passed live in CheckRun; this records the day as a whole."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="day_progress")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    quiz_answers = models.JSONField(default=dict)
    quiz_passed = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lesson"], name="one_progress_per_day")]

    def __str__(self):
        return f"{self.user} on day {self.lesson.day}"


class QuizAttempt(models.Model):
    """Every answer a learner gives, kept for the instructors' "most often missed" figures."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="quiz_attempts")
    question = models.PositiveSmallIntegerField()  # 1-based, as the page numbers them
    choice = models.PositiveSmallIntegerField()  # 1-based
    correct = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["lesson", "question"])]

    def __str__(self):
        return f"{self.user} on day {self.lesson.day}, question {self.question}: {self.choice}"
