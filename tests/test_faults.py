"""Faults: a Celery worker killed with SIGKILL in the middle of provisioning leaves a half-made
sandbox; reconciliation closes the session with a clear message and leaves no container."""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sandboxes import lifecycle
from sandboxes.backends import get_backend
from sandboxes.models import LabSession, Sandbox
from sandboxes.tasks import provision_session
from tests.conftest import LOGS, ROOT, database_url
from tests.helpers import save_test_lab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker]


@pytest.fixture
def slow_lab(db):
    return save_test_lab(
        "slow-setup", setup="touch /root/setup-started; sleep 60", steps=[{"check": "false", "solution": "true"}]
    )


def test_a_worker_killed_mid_provision_leaves_no_orphan_after_reconciliation(learner, slow_lab, docker_engine):
    queue = f"faulttest-{uuid.uuid4().hex[:6]}"
    session = LabSession.objects.create(
        user=learner, lab=slow_lab, host="local", expires_at=timezone.now() + timedelta(minutes=30)
    )
    Sandbox.objects.create(session=session, node="node1", name=lifecycle.sandbox_name(session.pk, "node1"))
    log = open(LOGS / "test-fault-worker.log", "w")
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "berth",
            "worker",
            "-Q",
            queue,
            "-c",
            "1",
            "-n",
            f"{queue}@%h",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT / "platform",
        env={**os.environ, "DATABASE_URL": database_url(), "DEBUG": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        provision_session.apply_async(args=[session.pk], queue=queue)
        for _ in range(300):  # until the setup script runs: the container exists, the session is half-made
            session.refresh_from_db()
            if session.state == LabSession.SETUP:
                break
            time.sleep(0.1)
        assert session.state == LabSession.SETUP, (LOGS / "test-fault-worker.log").read_text()[-2000:]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool processes, mid-task
        worker.wait()
    sandbox = session.sandboxes.get()
    backend = get_backend("local")
    assert backend.poll(sandbox.container_id)  # left behind, running

    # The reaper (on its schedule, or at the next worker start) sees a start that never finished.
    LabSession.objects.filter(pk=session.pk).update(created_at=timezone.now() - timedelta(hours=1))
    counts = lifecycle.reap("local")
    session.refresh_from_db()
    assert session.state == LabSession.FAILED and "did not start in time" in session.error
    assert counts["vanished"] == 1
    assert not backend.poll(sandbox.container_id)
    assert sandbox.name not in {info.name for info in backend.list_sandboxes()}
    again = lifecycle.reap("local")
    assert again["orphans_removed"] == again["vanished"] == 0
