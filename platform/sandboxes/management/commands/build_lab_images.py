"""Build every lab image (labs/images/) on every sandbox host, offline if need be."""

from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes.backends import get_backend


class Command(BaseCommand):
    help = "Build the lab images from labs/images/ on each sandbox host (debootstrap base when offline)."

    def add_arguments(self, parser):
        parser.add_argument("recipes", nargs="*", help="only these recipes (folder names under labs/images/)")

    def handle(self, *args, recipes, **options):
        done = []
        for host in settings.DOCKER_HOSTS:
            backend = get_backend(host)
            self.stdout.write(self.style.MIGRATE_HEADING(f"Sandbox host {host} ({backend.url})"))

            def say(line, host=host):
                self.stdout.write(f"[{host}] {line}")
                self.stdout.flush()

            backend.build_images(say, only=recipes or None, donors=tuple(done))
            done.append(backend)
        self.stdout.write(self.style.SUCCESS("lab images ready"))
