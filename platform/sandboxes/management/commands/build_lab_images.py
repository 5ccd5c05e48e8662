"""Build every lab image (labs/images/) on every Docker engine, offline if need be."""

import docker
from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes import images, seccomp


class Command(BaseCommand):
    help = "Build the lab images from labs/images/ on each Docker host (debootstrap base when offline)."

    def add_arguments(self, parser):
        parser.add_argument("recipes", nargs="*", help="only these recipes (folder names under labs/images/)")

    def handle(self, *args, recipes, **options):
        path = seccomp.ensure_profile()
        self.stdout.write(f"seccomp profile for the docker profile: {path}")
        done = []
        for host, url in settings.DOCKER_HOSTS.items():
            self.stdout.write(self.style.MIGRATE_HEADING(f"Docker host {host} ({url})"))
            client = docker.DockerClient(base_url=url, timeout=600)

            def say(line, host=host):
                self.stdout.write(f"[{host}] {line}")
                self.stdout.flush()

            images.build_all(client, say, only=recipes or None, donors=tuple(done))
            done.append(client)
        self.stdout.write(self.style.SUCCESS("lab images ready"))
