import asyncio

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from terminals.relay import Relay


class Command(BaseCommand):
    help = "Run the terminal relay for one Docker host (one relay per host)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=next(iter(settings.DOCKER_HOSTS)), help="a name from BERTH_DOCKER_HOSTS")

    def handle(self, *args, host, **options):
        if host not in settings.DOCKER_HOSTS:
            raise CommandError(f"unknown host {host!r}; BERTH_DOCKER_HOSTS has {', '.join(settings.DOCKER_HOSTS)}")
        # uvloop, as uvicorn runs the web processes: with a class typing, every keystroke is a few
        # socket calls and task switches here, which cost less CPU on it (bench/limits.md).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(Relay(host).run())
