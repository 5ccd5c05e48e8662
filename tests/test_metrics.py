"""GET /metrics: the figures an operator watches, computed from the database and Redis as the
platform recorded them; refused from elsewhere unless the token is given; scraped by a real
Prometheus server (Debian's), which also loads the alert rules of docs/prometheus-alerts.yml."""

import shutil
import subprocess
import time
from datetime import timedelta

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from berth.env import env_networks
from console import sockets
from console.models import audit
from labs import checks
from labs.models import CheckRun
from sandboxes import lifecycle, queues
from sandboxes.models import LabSession, SandboxHost
from tests.conftest import ROOT, free_port
from tests.helpers import Browser, save_test_lab

ALERTS = ROOT / "docs" / "prometheus-alerts.yml"


def scrape(client, **extra) -> dict:
    """{(sample name, ((label, value), ...)): value} of one GET /metrics."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


# --- figures, on the test database --------------------------------------------------------------
@pytest.mark.django_db
def test_the_exposition_counts_what_the_platform_recorded(
    client, learner, other_learner, admin_user, memory_backend, settings
):
    # A second host, drained, whose queue no worker consumes: its waiting task stays counted.
    settings.DOCKER_HOSTS = {**settings.DOCKER_HOSTS, "metricshost": "unix:///nonexistent.sock"}
    SandboxHost.objects.create(name="metricshost", drained=True)
    lab = save_test_lab("metrics-lab")
    step = lab.steps.get()

    # Two learners start the lab on the in-memory engine; one is later culled as idle.
    alice = lifecycle.create_session(learner, lab)
    lifecycle.provision(alice.pk)
    bob = lifecycle.create_session(other_learner, lab)
    lifecycle.provision(bob.pk)
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert alice.state == bob.state == LabSession.READY
    LabSession.objects.filter(pk=alice.pk).update(created_at=alice.ready_at - timedelta(seconds=2.5))
    LabSession.objects.filter(pk=bob.pk).update(last_activity_at=timezone.now() - timedelta(hours=2))
    assert lifecycle.reap("local")["idle"] == 1
    lifecycle.sample("local")  # the host's health, as the beat schedule samples it

    # Alice checks her step: it fails, then passes.
    memory_backend.answer("*", 1, "not yet")
    failing = checks.start_check(alice, step)
    checks.run_check(failing.pk)
    memory_backend.answers.clear()
    passing = checks.start_check(alice, step)
    checks.run_check(passing.pk)
    assert list(CheckRun.objects.order_by("pk").values_list("state", flat=True)) == ["failed", "passed"]
    CheckRun.objects.filter(pk=passing.pk).update(started_at=timezone.now() - timedelta(seconds=1.5))
    CheckRun.objects.filter(pk=failing.pk).update(started_at=timezone.now() - timedelta(seconds=40))

    audit(admin_user, "host.drain", "host metricshost")
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete("sandboxes.metricshost")
    queues.task_on_host(queues.SAMPLE_HOST, "metricshost", "metricshost").apply_async()
    try:
        samples = scrape(client)
    finally:
        broker.delete("sandboxes.metricshost")

    assert value(samples, "berth_sessions", state="ready") == 1
    assert value(samples, "berth_sessions", state="queued") == 0
    assert value(samples, "berth_sessions_waiting") == 0
    assert value(samples, "berth_sandboxes_live", host="local", profile="standard") == 1
    assert value(samples, "berth_sandboxes_live", host="metricshost", profile="docker") == 0
    assert value(samples, "berth_session_starts_total", profile="standard", result="ready") == 2
    assert value(samples, "berth_session_starts_total", profile="standard", result="failed") == 0
    # Alice's start took 2.5 s; Bob's, on the in-memory engine, well under half a second.
    assert value(samples, "berth_session_start_seconds_bucket", profile="standard", le="0.5") == 1
    assert value(samples, "berth_session_start_seconds_bucket", profile="standard", le="2.0") == 1
    assert value(samples, "berth_session_start_seconds_bucket", profile="standard", le="3.0") == 2
    assert value(samples, "berth_session_start_seconds_count", profile="standard") == 2
    assert 2.5 <= value(samples, "berth_session_start_seconds_sum", profile="standard") < 3.5
    assert value(samples, "berth_reaper_actions_total", action="idle") == 1
    assert value(samples, "berth_reaper_actions_total", action="expired") == 0

    assert value(samples, "berth_check_runs_total", result="passed") == 1
    assert value(samples, "berth_check_runs_total", result="failed") == 1
    assert value(samples, "berth_check_runs_total", result="timeout") == 0
    assert value(samples, "berth_checks_running") == 0
    assert value(samples, "berth_check_seconds_bucket", le="1.0") == 0
    assert value(samples, "berth_check_seconds_bucket", le="2.0") == 1
    assert value(samples, "berth_check_seconds_bucket", le="30.0") == 1
    assert value(samples, "berth_check_seconds_bucket", le="60.0") == 2
    assert value(samples, "berth_check_seconds_count") == 2

    assert value(samples, "berth_host_healthy", host="local") == 1
    assert value(samples, "berth_host_healthy", host="metricshost") == 0
    assert value(samples, "berth_host_drained", host="metricshost") == 1
    assert value(samples, "berth_hosts_healthy") == 1
    assert value(samples, "berth_host_slots", host="local") == django_settings.SANDBOX_HOST_SLOTS
    assert value(samples, "berth_host_slots_used", host="local") == 1
    assert value(samples, "berth_warm_sandboxes", host="local", profile="standard", state="ready") == 0

    assert ("berth_audit_events_total", (("action", "lab.start"),)) not in samples  # the views audit starts
    assert value(samples, "berth_audit_events_total", action="host.drain") == 1
    assert value(samples, "berth_redis_up") == 1
    assert value(samples, "berth_queue_length", queue="sandboxes.metricshost") == 1
    assert value(samples, "berth_websockets", kind="terminal") == 0


@pytest.mark.django_db
def test_a_websocket_left_by_a_dead_web_process_stops_counting(client):
    """A web process killed with sockets open never removes their entries: they expire."""
    client_redis = redis.Redis.from_url(django_settings.REDIS_URL)
    key = sockets.key("terminal")
    client_redis.delete(key)
    try:
        client_redis.zadd(key, {"specific.dead!1": time.time() - 1, "specific.alive!2": time.time() + sockets.TTL})
        assert value(scrape(client), "berth_websockets", kind="terminal") == 1
        assert client_redis.zcard(key) == 1  # the expired entry is gone for good
    finally:
        client_redis.delete(key)


def test_metrics_are_served_to_the_allowed_addresses_or_with_the_token(client, settings, db):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.post("/metrics").status_code == 405

    settings.METRICS_TOKEN = "a-long-metrics-token"
    bearer = {"HTTP_AUTHORIZATION": "Bearer a-long-metrics-token", "REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **bearer).status_code == 200
    wrong = {"HTTP_AUTHORIZATION": "Bearer a-long-metrics-tokeN", "REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **wrong).status_code == 403

    settings.METRICS_ALLOW = ["203.0.113.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get("/metrics").status_code == 403


def test_the_allowed_addresses_are_checked_when_read(monkeypatch):
    monkeypatch.setenv("BERTH_METRICS_ALLOW", "127.0.0.1, 10.1.0.0/16,::1")
    assert env_networks("BERTH_METRICS_ALLOW", "") == ["127.0.0.1/32", "10.1.0.0/16", "::1/128"]
    monkeypatch.setenv("BERTH_METRICS_ALLOW", "127.0.0.1,localhost")
    with pytest.raises(ImproperlyConfigured, match="localhost"):
        env_networks("BERTH_METRICS_ALLOW", "")


# --- a real Prometheus server scraping a live web process ---------------------------------------
class Prometheus:
    def __init__(self, tmp_path, target: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{ALERTS}']\n"
            "scrape_configs:\n"
            "  - job_name: berth\n"
            "    metrics_path: /metrics\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.log = tmp_path / "prometheus.log"
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
        )

    def query(self, promql: str) -> list:
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        return response.json()["data"]["result"]

    def until(self, promql: str, expected: float, timeout: float = 60) -> None:
        """Poll the query until its one series has the expected value."""
        deadline = time.monotonic() + timeout
        result = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                result = self.query(promql)
                if len(result) == 1 and float(result[0]["value"][1]) == expected:
                    return
            except requests.RequestException as e:
                result = e  # not listening yet
            time.sleep(0.25)
        raise AssertionError(f"{promql} never became {expected}: last {result}\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def prometheus(stack, tmp_path):
    if not shutil.which("prometheus"):
        pytest.fail("Debian's prometheus package is missing (scripts/test installs it: ensure_browser)")
    server = Prometheus(tmp_path, f"127.0.0.1:{stack.port}")
    yield server
    server.stop()


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_scrapes_berth_and_loads_the_alert_rules(prometheus, stack, learner):
    # One finished start and one learner waiting in line (rows the worker's reaper leaves alone).
    lab = save_test_lab("metrics-scraped")
    now = timezone.now()
    LabSession.objects.create(
        user=learner, lab=lab, host="local", state=LabSession.ENDED, ready_at=now, ended_at=now, expires_at=now
    )
    session = LabSession.objects.create(user=learner, lab=lab, host="", expires_at=now + timedelta(minutes=30))

    prometheus.until('up{job="berth"}', 1)
    prometheus.until('berth_session_starts_total{job="berth",profile="standard",result="ready"}', 1)
    prometheus.until("berth_sessions_waiting", 1)
    slots = 'berth_host_slots{host="local"} - berth_host_slots_used{host="local"}'
    prometheus.until(slots, django_settings.SANDBOX_HOST_SLOTS)

    # A websocket held open in the live web process is counted, and no longer once closed.
    browser = Browser(stack, learner)
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        ws.recv(timeout=10)  # the snapshot: the socket is accepted
        prometheus.until('berth_websockets{kind="events"}', 1)
    prometheus.until('berth_websockets{kind="events"}', 0)

    # Prometheus loaded every alert rule and evaluates them against the scraped series: a learner
    # waiting in line makes its alert pending (it fires after 10 minutes).
    prometheus.until('ALERTS{alertname="BerthLearnersWaiting",alertstate="pending"}', 1)
    rules = requests.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    alerts = {rule["name"]: rule for group in rules for rule in group["rules"]}
    assert {"BerthNoHealthyHost", "BerthQueueGrowing", "BerthSlowStarts"} <= set(alerts)
    assert all(rule["health"] in ("ok", "unknown") for rule in alerts.values()), alerts
    checked = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
