"""Every task queued on a sandbox host is named in one place (sandboxes/queues.py), and each name
is a task the workers know; a task is sent only once the transaction that asked for it commits."""

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
