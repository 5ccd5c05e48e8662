from django.core.management.base import BaseCommand, CommandError

from course.loader import load_course


class Command(BaseCommand):
    help = "Validate lessons/ and labs/ and load them (idempotent). Errors name file:line:field."

    def handle(self, *args, **options):
        report = load_course()
        for error in report.errors:
            self.stderr.write(self.style.ERROR(str(error)))
        self.stdout.write(
            f"loaded {len(report.courses)} courses ({', '.join(report.courses)}), "
            f"{len(report.lessons)} lessons and {len(report.labs)} labs"
        )
        if report.errors:
            raise CommandError(f"{len(report.errors)} content error(s); the valid rest was loaded")
