"""Create (or reset) the demo learner, instructor and admin, and print their logins."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from accounts.roles import ADMIN, INSTRUCTOR, LEARNER, ensure_roles

DEMO_USERS = [
    ("learner", "learner-demo-pass", LEARNER),
    ("instructor", "instructor-demo-pass", INSTRUCTOR),
    ("admin", "admin-demo-pass", ADMIN),
]


class Command(BaseCommand):
    help = "Create the demo learner, instructor and admin accounts and print their logins."

    def handle(self, *args, **options):
        groups = ensure_roles()
        for username, password, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = role == ADMIN
            user.is_superuser = role == ADMIN
            user.save()
            user.groups.set([groups[role]])
            self.stdout.write(f"  {role:<11} {username} / {password}")
