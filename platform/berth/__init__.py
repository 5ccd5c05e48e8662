"""The Berth Django project: settings, URLs, ASGI and Celery entry points."""

from berth.celery import app as celery_app

__all__ = ["celery_app"]
