"""The Celery app. Workers run `celery -A berth worker -Q berth,sandboxes.<host>` from platform/."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

from celery import Celery  # noqa: E402

app = Celery("berth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
