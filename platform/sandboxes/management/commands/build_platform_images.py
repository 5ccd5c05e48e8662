"""Build Berth's own images (the platform and its PostgreSQL) on the local Docker host, from the
repository's Dockerfile on a Debian base made with debootstrap: no registry needed."""

from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes.backends import get_backend
from sandboxes.backends.docker import images


class Command(BaseCommand):
    help = "Build berth/platform and berth/postgres from the Dockerfile, offline if need be."

    def handle(self, *args, **options):
        host = next(iter(settings.DOCKER_HOSTS))
        backend = get_backend(host)

        def say(line):
            self.stdout.write(f"[{host}] {line}")
            self.stdout.flush()

        tags = images.build_platform(backend.client, say)
        self.stdout.write(self.style.SUCCESS(f"platform images ready: {' '.join(tags)}"))
