"""The Celery app. Workers run `celery -A berth worker -Q berth,sandboxes.<host>` from platform/."""

import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

from celery import Celery  # noqa: E402

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Tasks the beat sends every few seconds per host (the sampler): their "sending due task",
# "received" and "succeeded" lines would bury every other line of beat's and the worker's logs.
# Their failures are still logged, and what they do is (sandboxes/lifecycle.py).
ROUTINE_TASKS = frozenset(f"sandboxes.tasks.{name}" for name in ("sample_host", "sample_hosts"))


class WithoutRoutineTasks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        name = args.get("name") if isinstance(args, dict) else args[-1] if isinstance(args, tuple) and args else None
        return name not in ROUTINE_TASKS


for logger in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(logger).addFilter(WithoutRoutineTasks())
