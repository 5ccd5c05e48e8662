from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes import lifecycle


class Command(BaseCommand):
    help = "End expired lab sessions and remove sandboxes the database does not know (what the schedule runs)."

    def handle(self, *args, **options):
        for host in settings.DOCKER_HOSTS:
            counts = lifecycle.reap(host)
            self.stdout.write(f"{host}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
