"""GET /metrics: Prometheus' text format, computed at scrape time from the state every process
shares (the database and Redis), never from one process's memory: Berth runs several web
processes, workers on several hosts and a relay, and any of the web processes may be scraped.

Counters are totals of rows that are never deleted (sessions, check runs, audit events, failed
tasks), so they only grow; gauges are current values; start latency and check durations are
histograms whose buckets are counted by the database. Every query is an aggregate.
docs/operations.md lists the metrics and the access rule."""

import hmac
import ipaddress
import logging
import time
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from console import sockets
from console.models import AuditEvent, FailedTask
from labs.models import CheckRun, Lab
from sandboxes import placement, pressure
from sandboxes.models import LabSession, Sandbox, SandboxHost, WarmSandbox
from sandboxes.queues import host_queue

log = logging.getLogger(__name__)

PROFILES = [name for name, _ in Lab.PROFILES]
# The learner waits from the click to "ready": the promise is a p50 of 1-5 s (warm pool), a
# cold start or a cluster takes up to minutes.
START_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
CHECK_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
HOST_STALE = timedelta(minutes=2)  # hosts are sampled every 5 s: older, nobody is sampling it

# How the reaper ends sessions (sandboxes/lifecycle.py, `reap`), told apart by what it records.
REAPER_ACTIONS = {
    "expired": Q(end_reason="time limit reached"),
    "idle": Q(end_reason__startswith="no activity for"),
    "vanished": Q(end_reason="sandbox stopped unexpectedly"),
    "start_timeout": Q(state=LabSession.FAILED, error__startswith="The sandbox did not start in time"),
    # ended by the sampler for staying at a limit (sandboxes/pressure.py)
    "pinned": Q(end_reason__startswith=pressure.END_REASON_START),
}


def _seconds(value) -> float:
    return value.total_seconds() if value else 0.0


def _histogram(name: str, doc: str, rows, label: str | None, buckets) -> HistogramMetricFamily:
    """rows: aggregates with n (count), total (sum of durations) and le0..leN (cumulative)."""
    family = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for row in rows:
        counts = [(str(float(b)), row[f"le{i}"]) for i, b in enumerate(buckets)] + [("+Inf", row["n"])]
        family.add_metric([row[label]] if label else [], counts, _seconds(row["total"]))
    return family


def _bucket_aggregates(duration: str, buckets) -> dict:
    aggregates = {"n": Count("pk"), "total": Sum(duration)}
    for i, b in enumerate(buckets):
        aggregates[f"le{i}"] = Count("pk", filter=Q(**{f"{duration}__lte": timedelta(seconds=b)}))
    return aggregates


class BerthCollector(Collector):
    def collect(self):
        started = time.monotonic()
        hosts = list(settings.DOCKER_HOSTS)
        yield from self.sessions(hosts)
        yield from self.checks()
        yield from self.hosts(hosts)
        yield from self.events()
        yield from self.redis_figures(hosts)
        yield GaugeMetricFamily(
            "berth_metrics_collect_seconds", "How long computing these figures took", time.monotonic() - started
        )

    def sessions(self, hosts):
        live = LabSession.objects.filter(state__in=LabSession.LIVE_STATES)
        by_state = dict(live.values_list("state").annotate(n=Count("pk")).order_by())
        family = GaugeMetricFamily("berth_sessions", "Live sessions by state", labels=["state"])
        for state in LabSession.LIVE_STATES:
            family.add_metric([state], by_state.get(state, 0))
        yield family
        yield GaugeMetricFamily(
            "berth_sessions_waiting", "Sessions waiting in line for room on a host", live.filter(host="").count()
        )

        family = GaugeMetricFamily(
            "berth_sandboxes_live",
            "Sandboxes (nodes) of live sessions",
            labels=["host", "profile"],
        )
        counts = dict.fromkeys(((h, p) for h in hosts for p in PROFILES), 0)
        rows = (
            Sandbox.objects.filter(session__state__in=LabSession.LIVE_STATES, removed_at__isnull=True)
            .exclude(session__host="")
            .values_list("session__host", "session__lab__profile")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for host, profile, n in rows:
            counts[(host, profile)] = n
        for (host, profile), n in sorted(counts.items()):
            family.add_metric([host, profile], n)
        yield family

        family = GaugeMetricFamily(
            "berth_sandboxes_kept", "Stopped sandboxes kept for their learner to resume", labels=["host"]
        )
        kept = dict.fromkeys(hosts, 0)
        rows = Sandbox.objects.filter(kept_until__isnull=False, removed_at__isnull=True)
        kept.update(dict(rows.values_list("session__host").annotate(n=Count("pk")).order_by()))
        for host, n in sorted(kept.items()):
            family.add_metric([host], n)
        yield family

        # Every start ends as ready, failed, or cancelled before it was ready: each is final.
        family = CounterMetricFamily(
            "berth_session_starts", "Lab starts that finished, by profile and result", labels=["profile", "result"]
        )
        row = LabSession.objects.values("lab__profile").annotate(
            ready=Count("pk", filter=Q(ready_at__isnull=False)),
            failed=Count("pk", filter=Q(ready_at__isnull=True, state=LabSession.FAILED)),
            cancelled=Count("pk", filter=Q(ready_at__isnull=True, state=LabSession.ENDED)),
        )
        totals = {(p, r): 0 for p in PROFILES for r in ("ready", "failed", "cancelled")}
        for r in row.order_by():
            for result in ("ready", "failed", "cancelled"):
                totals[(r["lab__profile"], result)] = r[result]
        for (profile, result), n in sorted(totals.items()):
            family.add_metric([profile, result], n)
        yield family

        rows = (
            LabSession.objects.filter(ready_at__isnull=False)
            .annotate(wait=ExpressionWrapper(F("ready_at") - F("created_at"), output_field=DurationField()))
            .values("lab__profile")
            .annotate(**_bucket_aggregates("wait", START_BUCKETS))
            .order_by()
        )
        rows = [{**row, "profile": row["lab__profile"]} for row in rows]
        yield _histogram(
            "berth_session_start_seconds",
            "From a lab start to its ready sandbox",
            rows,
            "profile",
            START_BUCKETS,
        )

        family = CounterMetricFamily("berth_reaper_actions", "Sessions the reaper ended, by why", labels=["action"])
        row = LabSession.objects.aggregate(**{action: Count("pk", filter=q) for action, q in REAPER_ACTIONS.items()})
        for action in REAPER_ACTIONS:
            family.add_metric([action], row[action])
        yield family

    def checks(self):
        by_state = dict(CheckRun.objects.values_list("state").annotate(n=Count("pk")).order_by())
        yield GaugeMetricFamily("berth_checks_running", "Checks running now", by_state.get(CheckRun.RUNNING, 0))
        family = CounterMetricFamily("berth_check_runs", "Finished checks, by result", labels=["result"])
        for state, _ in CheckRun.STATES:
            if state != CheckRun.RUNNING:
                family.add_metric([state], by_state.get(state, 0))
        yield family
        row = (
            CheckRun.objects.filter(finished_at__isnull=False)
            .annotate(took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
            .aggregate(**_bucket_aggregates("took", CHECK_BUCKETS))
        )
        yield _histogram(
            "berth_check_seconds",
            "From a Check click to its result",
            [row],
            None,
            CHECK_BUCKETS,
        )

    def hosts(self, hosts):
        rows = {h.name: h for h in SandboxHost.objects.filter(name__in=hosts)}
        fresh = timezone.now() - HOST_STALE
        used = placement.used_slots()
        healthy = GaugeMetricFamily(
            "berth_host_healthy",
            "1 if the engine answered its last sample (< 2 min old)",
            labels=["host"],
        )
        drained = GaugeMetricFamily("berth_host_drained", "1 if an admin drained the host", labels=["host"])
        response = GaugeMetricFamily(
            "berth_host_response_seconds", "The engine's answer time to the last ping", labels=["host"]
        )
        checked = GaugeMetricFamily(
            "berth_host_checked_timestamp_seconds", "When the host was last sampled (Unix time)", labels=["host"]
        )
        slots = GaugeMetricFamily("berth_host_slots", "Slots of the host (BERTH_HOST_SLOTS)", labels=["host"])
        slots_used = GaugeMetricFamily(
            "berth_host_slots_used", "Slots taken by live sessions and the warm pool", labels=["host"]
        )
        up = 0
        for host in sorted(hosts):
            row = rows.get(host)
            ok = bool(row and row.healthy and row.checked_at and row.checked_at >= fresh)
            is_drained = bool(row and row.drained)
            up += ok and not is_drained
            healthy.add_metric([host], int(ok))
            drained.add_metric([host], int(is_drained))
            if row and row.response_ms is not None:
                response.add_metric([host], row.response_ms / 1000)
            if row and row.checked_at:
                checked.add_metric([host], row.checked_at.timestamp())
            slots.add_metric([host], settings.SANDBOX_HOST_SLOTS)
            slots_used.add_metric([host], used.get(host, 0))
        yield from (healthy, drained, response, checked, slots, slots_used)
        yield GaugeMetricFamily("berth_hosts_healthy", "Hosts healthy and open to new sandboxes", up)

        family = GaugeMetricFamily(
            "berth_warm_sandboxes", "The warm pool, per host, profile and state", labels=["host", "profile", "state"]
        )
        counts = {(h, p, s): 0 for h in hosts for p in PROFILES for s in (WarmSandbox.WARMING, WarmSandbox.READY)}
        rows = WarmSandbox.objects.exclude(state=WarmSandbox.CLAIMED).values_list("host", "profile", "state")
        for host, profile, state, n in rows.annotate(n=Count("pk")).order_by():
            counts[(host, profile, state)] = n
        for labels, n in sorted(counts.items()):
            family.add_metric(list(labels), n)
        yield family

    def events(self):
        family = CounterMetricFamily(
            "berth_audit_events", "Audited actions: lab starts and ends, admins' actions", labels=["action"]
        )
        for action, n in AuditEvent.objects.values_list("action").annotate(n=Count("pk")).order_by("action"):
            family.add_metric([action], n)
        yield family
        family = CounterMetricFamily("berth_task_failures", "Worker tasks that raised, by task", labels=["task"])
        for task, n in FailedTask.objects.values_list("task").annotate(n=Count("pk")).order_by("task"):
            family.add_metric([task], n)
        yield family

    def redis_figures(self, hosts):
        """Celery's queues (lists in the broker) and the websockets the web processes hold."""
        queues = [settings.CELERY_TASK_DEFAULT_QUEUE] + [host_queue(h) for h in hosts]
        try:
            broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
            pipe = broker.pipeline(transaction=False)
            for queue in queues:
                pipe.llen(queue)
            lengths = pipe.execute()
            with redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2) as client:
                open_sockets = sockets.counts(client)
            broker.close()
        except (redis.RedisError, OSError) as e:
            log.warning("metrics: Redis unavailable: %s", e)
            yield GaugeMetricFamily("berth_redis_up", "1 if Redis answered", 0)
            return
        yield GaugeMetricFamily("berth_redis_up", "1 if Redis answered", 1)
        family = GaugeMetricFamily("berth_queue_length", "Tasks waiting in a Celery queue", labels=["queue"])
        for queue, n in zip(queues, lengths, strict=True):
            family.add_metric([queue], n)
        yield family
        family = GaugeMetricFamily("berth_websockets", "Open websockets over every web process", labels=["kind"])
        for kind, n in open_sockets.items():
            family.add_metric([kind], n)
        yield family


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(BerthCollector())


def allowed(request) -> bool:
    """From an address in BERTH_METRICS_ALLOW, or with `Authorization: Bearer <BERTH_METRICS_TOKEN>`."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    addresses = {address, address.ipv4_mapped} if address.version == 6 and address.ipv4_mapped else {address}
    networks = [ipaddress.ip_network(item, strict=False) for item in settings.METRICS_ALLOW]
    return any(a in net for a in addresses for net in networks if a.version == net.version)


@require_GET
def metrics_view(request):
    if not allowed(request):
        return HttpResponseForbidden("Metrics are served to the addresses in BERTH_METRICS_ALLOW or with its token.\n")
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))  # text, or OpenMetrics if asked
    return HttpResponse(encoder(REGISTRY), content_type=content_type)
