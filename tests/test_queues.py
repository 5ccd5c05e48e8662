"""Every task queued on a sandbox host is named in one place (sandboxes/queues.py), and each name
is a task the workers know; a task is sent only once the transaction that asked for it commits."""

import logging

import pytest
from celery import current_app
from django.db import transaction

from sandboxes import queues


def test_every_host_task_name_is_a_registered_task():
    current_app.loader.import_default_modules()
    assert set(queues.HOST_TASKS) <= set(current_app.tasks), set(queues.HOST_TASKS) - set(current_app.tasks)


@pytest.mark.django_db(transaction=True)
def test_a_task_is_sent_to_its_hosts_queue_only_after_the_commit(monkeypatch):
    sent = []
    monkeypatch.setattr("celery.canvas.Signature.apply_async", lambda self, *a, **k: sent.append(self))
    with transaction.atomic():
        queues.send_to_host(queues.PROVISION, "local", 7)
        assert sent == []  # not while the row it will read may still be rolled back
    assert [(s.task, s.args, s.options["queue"]) for s in sent] == [(queues.PROVISION, (7,), "sandboxes.local")]
    with transaction.atomic():
        queues.send_to_host(queues.END_SESSION, "local", 7, "why", True)
        transaction.set_rollback(True)
    assert len(sent) == 1  # a rolled-back request queues nothing


def test_the_tasks_the_beat_sends_every_few_seconds_stay_out_of_the_logs():
    """The sampler runs every few seconds on each host: its routine lines would bury the rest, its
    failures must not."""
    from django.conf import settings

    from berth.celery import ROUTINE_TASKS

    current_app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "sandboxes.tasks.sample_hosts" in scheduled and ROUTINE_TASKS <= set(current_app.tasks)
    written = []
    handler = logging.Handler()
    handler.emit = lambda record: written.append(record.getMessage())
    trace, beat = logging.getLogger("celery.app.trace"), logging.getLogger("celery.beat")
    for logger in (trace, beat):
        logger.addHandler(handler)
        logger.setLevel("INFO")
    try:
        trace.info("Task %(name)s[%(id)s] succeeded", {"name": "sandboxes.tasks.sample_host", "id": "1"})
        beat.info("Scheduler: Sending due task %s (%s)", "sample-hosts", "sandboxes.tasks.sample_hosts")
        trace.info("Task %(name)s[%(id)s] succeeded", {"name": queues.PROVISION, "id": "2"})
        trace.error("Task %(name)s[%(id)s] raised", {"name": "sandboxes.tasks.sample_host", "id": "3"})
    finally:
        for logger in (trace, beat):
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
    assert written == [f"Task {queues.PROVISION}[2] succeeded", "Task sandboxes.tasks.sample_host[3] raised"]


@pytest.mark.django_db(transaction=True)
def test_the_beats_rounds_go_to_each_hosts_own_queue(monkeypatch, settings):
    from sandboxes import tasks

    settings.DOCKER_HOSTS = {"local": "unix:///one.sock", "second": "tcp://second:2376"}
    sent = []
    monkeypatch.setattr("celery.canvas.Signature.apply_async", lambda self, *a, **k: sent.append(self))
    tasks.sample_hosts()
    assert [(s.task, s.args, s.options["queue"], s.options["expires"]) for s in sent] == [
        (queues.SAMPLE_HOST, ("local",), "sandboxes.local", settings.SAMPLE_SECONDS),
        (queues.SAMPLE_HOST, ("second",), "sandboxes.second", settings.SAMPLE_SECONDS),
    ]
