"""A class: an instructor teaching one course to a group of learners, who join by an invite
link. Everything a class shows is per course: its learners' progress in that course only."""

import secrets

from django.conf import settings
from django.db import models

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are read aloud too


def new_invite_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


class Classroom(models.Model):
    name = models.CharField(max_length=200)
    course = models.ForeignKey("course.Course", on_delete=models.PROTECT, related_name="classes")
    teacher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="classes_taught")
    starts_on = models.DateField()
    invite_code = models.CharField(max_length=20, unique=True, default=new_invite_code)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        permissions = [("teach_classes", "Can create classes and see their learners' progress")]

    def __str__(self):
        return self.name


class Membership(models.Model):
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="class_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]
        constraints = [models.UniqueConstraint(fields=["classroom", "user"], name="one_membership_per_class")]

    def __str__(self):
        return f"{self.user} in {self.classroom}"


class DueDate(models.Model):
    """When a class should have finished one day of its course (optional, per day)."""

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="due_dates")
    lesson = models.ForeignKey("course.Lesson", on_delete=models.CASCADE, related_name="due_dates")
    due_on = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["classroom", "lesson"], name="one_due_date_per_day")]

    def __str__(self):
        return f"{self.classroom}: day {self.lesson.day} due {self.due_on}"
