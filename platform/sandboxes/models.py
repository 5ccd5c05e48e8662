from django.conf import settings
from django.db import models
from django.utils import timezone


class LabSession(models.Model):
    """One learner's live lab: one sandbox per node, from start to end."""

    QUEUED = "queued"
    CREATING = "creating"
    STARTING = "starting"
    SETUP = "setup"
    READY = "ready"
    FAILED = "failed"
    ENDED = "ended"
    STATES = [(s, s) for s in (QUEUED, CREATING, STARTING, SETUP, READY, FAILED, ENDED)]
    LIVE_STATES = (QUEUED, CREATING, STARTING, SETUP, READY)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_sessions")
    lab = models.ForeignKey("labs.Lab", on_delete=models.CASCADE, related_name="sessions")
    host = models.CharField(max_length=100)  # the Docker engine (a key of settings.DOCKER_HOSTS)
    # A multi-node lab's private network: made for it, or the one a warm cluster or the learner's
    # kept sandboxes came with (a cluster's addresses stay; "" for one node).
    network = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100, for the start progress bar
    message = models.CharField(max_length=300, blank=True)  # last progress message
    error = models.TextField(blank=True)  # shown to the learner when the start failed
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    last_activity_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("manage_sandboxes", "Can see and manage every sandbox")]

    def __str__(self):
        return f"session {self.pk} ({self.user} / {self.lab.slug} / {self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE_STATES

    @property
    def group_name(self) -> str:
        """The channel-layer group that carries this session's progress and check events."""
        return f"session.{self.pk}"


class Sandbox(models.Model):
    """One node of a session: a container on the session's Docker host."""

    session = models.ForeignKey(LabSession, on_delete=models.CASCADE, related_name="sandboxes")
    node = models.CharField(max_length=63)
    name = models.CharField(max_length=200, unique=True)  # container name
    container_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    # Pause and resume: a stopped sandbox kept for its learner's next start of the same lab.
    kept_until = models.DateTimeField(null=True, blank=True)
    # Sampled by the worker side (the web tier has no Docker access): see sandboxes.lifecycle.sample_stats.
    cpu_percent = models.FloatField(null=True, blank=True)
    memory_bytes = models.BigIntegerField(null=True, blank=True)
    stats_at = models.DateTimeField(null=True, blank=True)
    # Held at its process or CPU cap since (sandboxes/pressure.py): slowed, then ended, if it stays.
    pinned_since = models.DateTimeField(null=True, blank=True)
    pinned_what = models.CharField(max_length=10, blank=True)  # "process" or "CPU"
    slowed_at = models.DateTimeField(null=True, blank=True)
    cpus_before = models.FloatField(null=True, blank=True)  # given back when it lets go

    class Meta:
        ordering = ["session", "node"]
        constraints = [models.UniqueConstraint(fields=["session", "node"], name="one_sandbox_per_node")]

    def __str__(self):
        return self.name


class SandboxHost(models.Model):
    """What admins decide about a Docker host (the hosts themselves come from settings)."""

    name = models.CharField(max_length=100, unique=True)
    drained = models.BooleanField(default=False)  # no new sandboxes; live ones run to their end
    healthy = models.BooleanField(default=True)
    response_ms = models.FloatField(null=True, blank=True)  # the engine's answer to a ping
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name + (" (drained)" if self.drained else "")


class WarmSandbox(models.Model):
    """A pre-started sandbox waiting for a learner, so a start only runs the lab's setup."""

    WARMING = "warming"
    READY = "ready"
    CLAIMED = "claimed"
    STATES = [(s, s) for s in (WARMING, READY, CLAIMED)]

    host = models.CharField(max_length=100)
    image = models.CharField(max_length=200)
    profile = models.CharField(max_length=20)
    name = models.CharField(max_length=200, unique=True)
    container_id = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=STATES, default=WARMING)
    # A node of a warm cluster: its hostname (node1..nodeN), the cluster's size, and the private
    # network its nodes share (which names the cluster; "" for a single sandbox).
    node = models.CharField(max_length=50, default="node1")
    nodes = models.PositiveSmallIntegerField(default=1)
    cluster = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_by = models.OneToOneField(Sandbox, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.name} ({self.state})"


class PlatformLimits(models.Model):
    """The one row of limits saved in the admin console (sandboxes/limits.py)."""

    values = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"limits ({len(self.values)} overridden)"
