from django.conf import settings
from django.db import models


class Course(models.Model):
    """A course: modules of days. Its files are one folder under lessons/ (course.yaml and its
    lessons); the one with the lowest position is the default, listed first."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=1)
    source_path = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self):
        return self.title

    @classmethod
    def default(cls) -> "Course | None":
        return cls.objects.first()


class Module(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="modules")
    number = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["course__position", "course__slug", "number"]
        constraints = [models.UniqueConstraint(fields=["course", "number"], name="one_module_number_per_course")]

    def __str__(self):
        return f"Module {self.number}: {self.title}"


class Lesson(models.Model):
    """One day of a course. Its slug (the file name without dayNN-) is who it is: a lesson that
    moves to another day or course keeps its learners' progress and its studio versions."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    day = models.PositiveSmallIntegerField()
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
        ordering = ["course__position", "course__slug", "day"]
        permissions = [("author_course", "Can write and publish lessons")]
        constraints = [models.UniqueConstraint(fields=["course", "day"], name="one_lesson_per_course_day")]

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
