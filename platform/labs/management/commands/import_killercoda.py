from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from course.loader import display
from labs.format import parse_lab
from labs.killercoda import ScenarioError, import_scenario


class Command(BaseCommand):
    help = "Turn a Killercoda scenario folder (index.json, steps, verify scripts) into a lab under labs/."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--slug", help="the lab's folder name (default: from the scenario folder)")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing lab of that name")

    def handle(self, *args, path, slug, overwrite, **options):
        try:
            report = import_scenario(path, settings.COURSE_LABS_DIR, slug, overwrite)
        except ScenarioError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(self.style.SUCCESS(f"imported {path} as {display(report.path)}"))
        if report.unsupported:
            self.stdout.write("What has no equivalent in Berth:")
            for item in report.unsupported:
                self.stdout.write(f"  - {item}")
        _, errors = parse_lab(report.path, display(report.path / "lab.yaml"))
        if errors:
            raise CommandError("the imported lab does not validate:\n" + "\n".join(map(str, errors)))
        self.stdout.write(f"next: review {display(report.path / 'lab.yaml')}, then `manage.py labtest {report.slug}`")
