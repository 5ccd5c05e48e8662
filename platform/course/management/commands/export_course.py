from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from course.export import export_course


class Command(BaseCommand):
    help = "Write the database's courses back to lessons/ and labs/, in the format load_course reads."

    def add_arguments(self, parser):
        parser.add_argument("--lessons", default=str(settings.COURSE_LESSONS_DIR), help="lessons folder")
        parser.add_argument("--labs", default=str(settings.COURSE_LABS_DIR), help="labs folder")

    def handle(self, *args, lessons, labs, **options):
        written = export_course(Path(lessons), Path(labs))
        self.stdout.write(f"wrote {len(written)} files under {lessons} and {labs}")
