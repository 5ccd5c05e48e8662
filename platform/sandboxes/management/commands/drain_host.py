from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandboxes.models import SandboxHost


class Command(BaseCommand):
    help = "Stop placing new sandboxes on a Docker host (live ones run to their end), or undo it."

    def add_arguments(self, parser):
        parser.add_argument("host", help="a name from BERTH_DOCKER_HOSTS")
        parser.add_argument("--undrain", action="store_true", help="accept new sandboxes again")

    def handle(self, *args, host, undrain, **options):
        if host not in settings.DOCKER_HOSTS:
            raise CommandError(f"unknown host {host!r}; BERTH_DOCKER_HOSTS has {', '.join(settings.DOCKER_HOSTS)}")
        SandboxHost.objects.update_or_create(name=host, defaults={"drained": not undrain})
        self.stdout.write(f"{host}: {'accepting new sandboxes' if undrain else 'drained (no new sandboxes)'}")
