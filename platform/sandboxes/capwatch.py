"""The cap watch: a fork bomb held within a fraction of a second of going off.

A fork bomb fills its process cap within a second, or within several when a few go off at once
and fight for the CPU; while it grows, its thousands of new tasks hold every other terminal on
the host back by hundreds of milliseconds. The host's sampler looks every SAMPLE_SECONDS, and its
reading takes a second: too late for that. So each host's worker runs this thread beside its
tasks (sandboxes/tasks.py starts it with the worker): every CAP_WATCH_SECONDS it reads only the
process counts of the host's live sandboxes (two small files each, no wait) and holds at once
one past its share of its cap, or grown towards it by a sixteenth of it since the last look
(pressure.py: the least CPU weight, its quota kept); from then the sampler carries the hold on.
Which sandboxes are live and not yet held is read from the database every
CAP_WATCH_LIST_SECONDS, not at every look. A backend that cannot read the counts cheaply
(a cluster's) gives none, and its sampler alone looks.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from sandboxes import pressure
from sandboxes.backends import get_backend
from sandboxes.models import Sandbox

log = logging.getLogger(__name__)


class CapWatch(threading.Thread):
    def __init__(self, host: str):
        super().__init__(name=f"cap-watch-{host}", daemon=True)
        self.host = host
        self.backend = get_backend(host)
        self.stopping = threading.Event()
        self.unheld: list[Sandbox] = []
        self.counted: dict[str, int] = {}  # each unheld sandbox's process count at the last look
        self.listed_at = float("-inf")

    def look(self) -> int:
        """One look at the host's sandboxes: how many it held."""
        if time.monotonic() - self.listed_at >= settings.CAP_WATCH_LIST_SECONDS:
            self.unheld = list(
                pressure.live_sandboxes(self.host)
                .filter(pinned_since__isnull=True)
                .exclude(container_id="")
                .only("pk", "name", "container_id")
            )
            self.listed_at = time.monotonic()
        if not self.unheld:
            return 0
        counts = self.backend.pids_many([sandbox.container_id for sandbox in self.unheld])
        due = [s for s in self.unheld if self.bomb(s.container_id, counts.get(s.container_id))]
        self.counted = {sandbox_id: found["pids"] for sandbox_id, found in counts.items()}
        if not due:
            return 0
        # Every bomb of this look gets the least weight first, then each is held in turn.
        self.backend.set_weight_now([sandbox.container_id for sandbox in due], pressure.LEAST_WEIGHT)
        held = 0
        for sandbox in due:
            found = counts[sandbox.container_id]
            if pressure.hold(self.backend, sandbox, "process", timezone.now()):
                log.info("held %s at %d of its %d processes", sandbox.name, found["pids"], found["pids_limit"])
                held += 1
        # Held, or gone meanwhile (the reaper deals with it): either way not looked at again.
        self.unheld = [sandbox for sandbox in self.unheld if sandbox not in due]
        return held

    def bomb(self, sandbox_id: str, found: dict | None) -> bool:
        """Past its share of its cap, or growing towards it fast."""
        if not found:
            return False
        return pressure.pinned_at(found) == "process" or pressure.rising(self.counted.get(sandbox_id), found)

    def run(self) -> None:
        try:
            while not self.stopping.wait(settings.CAP_WATCH_SECONDS):
                try:
                    self.look()
                except Exception:  # noqa: BLE001 - a database or engine hiccup: look again next time
                    log.exception("the cap watch of host %s failed a look", self.host)
                    self.listed_at = float("-inf")
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
