"""The admin console: only admins get in; end, extend and drain work and are audited."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEvent
from sandboxes.models import LabSession, Sandbox, SandboxHost
from tests.helpers import save_test_lab

pytestmark = [pytest.mark.django_db, pytest.mark.database]


@pytest.fixture
def live(learner):
    now = timezone.now()
    session = LabSession.objects.create(
        user=learner,
        lab=save_test_lab("console-lab"),
        host="local",
        state=LabSession.READY,
        ready_at=now,
        expires_at=now + timedelta(minutes=30),
    )
    Sandbox.objects.create(
        session=session,
        node="node1",
        name="x-console",
        container_id="abc",
        cpu_percent=12.5,
        memory_bytes=50 * 2**20,
        stats_at=now,
    )
    return session


def console_urls(session):
    return [
        ("get", reverse("console:index")),
        ("get", reverse("console:audit")),
        ("post", reverse("console:end", args=[session.pk])),
        ("post", reverse("console:extend", args=[session.pk])),
        ("post", reverse("console:drain", args=["local"])),
    ]


def test_learners_and_instructors_get_403_everywhere(client, learner, instructor, live):
    for user in (learner, instructor):
        client.force_login(user)
        for method, url in console_urls(live):
            assert getattr(client, method)(url).status_code == 403, (user, url)
    live.refresh_from_db()
    assert live.state == LabSession.READY and not AuditEvent.objects.exclude(action="role.change").exists()


def test_admin_sees_every_live_sandbox_with_its_stats(client, admin_user, live):
    client.force_login(admin_user)
    page = client.get(reverse("console:index")).content.decode()
    assert f'data-session="{live.pk}"' in page and "alice" in page and "console-lab" in page
    assert "12.5 %" in page and "50.0" in page
    partial = client.get(reverse("console:index") + "?part=sessions&q=nobody", HTTP_HX_REQUEST="true")
    assert "No live sandboxes" in partial.content.decode() and "<h1>" not in partial.content.decode()


def test_the_admin_narrows_the_sandboxes_to_one_course(client, admin_user, live):
    from course.models import Course
    from tests.helpers import save_test_lesson

    lesson = save_test_lesson(5, live.lab)  # console-lab is a day of the (test) default course
    other = Course.objects.create(slug="another-course", title="Another course", position=2)
    client.force_login(admin_user)
    url = reverse("console:index") + "?part=sessions&course="
    own = client.get(url + lesson.course.slug, HTTP_HX_REQUEST="true").content.decode()
    assert f'data-session="{live.pk}"' in own
    elsewhere = client.get(url + other.slug, HTTP_HX_REQUEST="true").content.decode()
    assert f'data-session="{live.pk}"' not in elsewhere and "No live sandboxes" in elsewhere
    assert "Another course" in client.get(reverse("console:index")).content.decode()  # the filter offers it


def test_admin_ends_and_extends_a_session_and_both_are_audited(client, admin_user, live):
    client.force_login(admin_user)
    before = live.expires_at
    client.post(reverse("console:extend", args=[live.pk]))
    live.refresh_from_db()
    assert live.expires_at > before
    client.post(reverse("console:end", args=[live.pk]))
    live.refresh_from_db()
    assert live.state == LabSession.ENDED and live.end_reason == "ended by an administrator"
    actions = list(
        AuditEvent.objects.filter(action__startswith="session.").order_by("at").values_list("actor__username", "action")
    )
    assert actions == [("ada", "session.extend"), ("ada", "session.end")]
    log = client.get(reverse("console:audit") + "?action=session.end").content.decode()
    assert "session.end" in log and "session.extend" not in log


def test_admin_drains_and_undrains_a_host(client, admin_user):
    client.force_login(admin_user)
    client.post(reverse("console:drain", args=["local"]), {"drained": "1"})
    assert SandboxHost.objects.get(name="local").drained
    client.post(reverse("console:drain", args=["local"]), {"drained": "0"})
    assert not SandboxHost.objects.get(name="local").drained
    assert list(
        AuditEvent.objects.filter(action__startswith="host.").order_by("at").values_list("action", flat=True)
    ) == [
        "host.drain",
        "host.undrain",
    ]
    assert client.post(reverse("console:drain", args=["nowhere"]), {"drained": "1"}).status_code == 404


def test_console_actions_need_csrf(admin_user, live):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for method, url in console_urls(live):
        if method == "post":
            assert client.post(url).status_code == 403, url


@pytest.mark.docker
def test_the_worker_side_sampler_records_engine_health_and_sandbox_stats(learner, docker_engine):
    from sandboxes import lifecycle

    session = lifecycle.create_session(learner, save_test_lab("sampled"))
    lifecycle.provision(session.pk)
    counts = lifecycle.sample("local")
    host = SandboxHost.objects.get(name="local")
    sandbox = session.sandboxes.get()
    assert counts["healthy"] and counts["sampled"] == 1 and counts["slowed"] == counts["ended"] == 0
    assert host.healthy and host.response_ms > 0
    assert sandbox.memory_bytes > 0 and sandbox.stats_at is not None
    lifecycle.end(session.pk, "test over")


def test_activity_charts_count_starts_per_hour(client, admin_user, live):
    from console import charts

    points = charts.starts_per_hour()
    assert len(points) == 24 and points[-1][1] == 1  # the live session started this hour
    client.force_login(admin_user)
    page = client.get(reverse("console:index")).content.decode()
    assert "Lab starts per hour" in page and "<rect" in page


def test_failed_tasks_are_recorded_for_the_console(admin_user, client):
    from celery.signals import task_failure

    from console.models import FailedTask

    class Task:
        name = "sandboxes.tasks.provision_session"

    task_failure.send(sender=Task(), task_id="abc", exception=RuntimeError("engine gone"), args=[1])
    failure = FailedTask.objects.get()
    assert failure.task == "sandboxes.tasks.provision_session" and "engine gone" in failure.error


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_workers_and_queues_come_from_the_real_broker(stack, admin_user, client):
    client.force_login(admin_user)
    page = client.get(reverse("console:tasks")).content.decode()
    assert "sandboxes.local" in page and "No worker answers" not in page


def test_admin_changes_limits_in_the_console_they_apply_at_once_and_are_audited(client, admin_user, learner, settings):
    from sandboxes import lifecycle, pool

    settings.SANDBOX_MEMORY_MB, settings.SANDBOX_IDLE_MINUTES = 512, 30
    client.force_login(admin_user)
    page = client.get(reverse("console:limits")).content.decode()
    assert "SANDBOX_MEMORY_MB" in page and "SANDBOX_DOCKER_PROFILE_ENABLED" in page
    bad = client.post(reverse("console:limits"), {"SANDBOX_MEMORY_MB": "10"})
    assert "at least 64" in bad.content.decode()
    client.post(
        reverse("console:limits"),
        {"SANDBOX_MEMORY_MB": "768", "SANDBOX_IDLE_MINUTES": "45", "SANDBOX_SESSIONS_PER_LEARNER": "2"},
    )
    assert pool.spec_for("x", "berth/base:latest", "standard", "node1", {}).memory_mb == 768
    assert lifecycle.sessions_allowed() == 2
    event = AuditEvent.objects.get(action="limits.change")
    assert "SANDBOX_MEMORY_MB: 512 -> 768" in event.detail and "SANDBOX_IDLE_MINUTES: 30 -> 45" in event.detail
    # the Docker profile switch is a checkbox: leaving it unchecked turns it off
    settings.SANDBOX_DOCKER_PROFILE_ENABLED = True
    client.post(reverse("console:limits"), {"SANDBOX_MEMORY_MB": "768"})
    with pytest.raises(lifecycle.StartRefused):
        lifecycle.create_session(learner, save_test_lab("dind-off", profile="docker"))


def test_admin_sizes_the_warm_pool_of_sandboxes_and_of_clusters(client, admin_user, settings):
    from sandboxes import limits

    settings.SANDBOX_WARM_POOL = {
        ("docker", "berth/docker:latest", 1): 2,
        ("kubernetes", "berth/kubernetes:latest", 3): 0,
    }
    client.force_login(admin_user)
    page = client.get(reverse("console:limits")).content.decode()
    assert "WARM_POOL:kubernetes/berth/kubernetes:latest*3" in page and "3-node clusters" in page
    client.post(reverse("console:limits"), {"WARM_POOL:kubernetes/berth/kubernetes:latest*3": "1"})
    limits.forget()
    assert limits.warm_pool() == {
        ("docker", "berth/docker:latest", 1): 2,
        ("kubernetes", "berth/kubernetes:latest", 3): 1,
    }


def test_learners_cannot_reach_the_limits(client, learner):
    client.force_login(learner)
    assert client.get(reverse("console:limits")).status_code == 403
    assert client.post(reverse("console:limits"), {"SANDBOX_MEMORY_MB": "4096"}).status_code == 403


def test_role_changes_are_audited(roles, learner):
    learner.groups.add(roles["instructor"])
    learner.groups.remove(roles["learner"])
    details = list(
        AuditEvent.objects.filter(action="role.change", target="user alice").values_list("detail", flat=True)
    )
    assert "granted: instructor" in details and "removed: learner" in details
