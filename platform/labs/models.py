from django.conf import settings
from django.db import models

from labs.format import LabDef, StepDef
from sandboxes.profiles import PROFILES as SANDBOX_PROFILES


class Lab(models.Model):
    PROFILE_STANDARD = "standard"
    PROFILE_DOCKER = "docker"
    PROFILE_KUBERNETES = "kubernetes"
    PROFILES = [
        (PROFILE_STANDARD, "Standard"),
        (PROFILE_DOCKER, "Docker-in-Docker"),
        (PROFILE_KUBERNETES, "Kubernetes nodes"),
    ]

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    image = models.CharField(max_length=200)
    profile = models.CharField(max_length=20, choices=PROFILES, default=PROFILE_STANDARD)
    time_limit_minutes = models.PositiveIntegerField(default=60)
    nodes = models.JSONField(default=list)  # ["node1", ...]; one name per terminal tab
    files = models.JSONField(default=list)  # [{path, mode, content, node}]
    resources = models.JSONField(default=dict)  # {memory_mb, cpus, pids, disk_mb}: above the defaults
    setup = models.TextField(blank=True)
    architecture = models.JSONField(default=dict, blank=True)  # the target: {containers, networks, volumes, links}
    source_path = models.CharField(max_length=300)
    # What the course files said when last loaded: an unchanged file does not undo a studio edit.
    source_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("author_labs", "Can write, test and publish labs")]

    def __str__(self):
        return self.slug

    @property
    def sandbox_description(self) -> str:
        """What a learner gets, after "A private sandbox": e.g. "with its own Docker engine"."""
        return SANDBOX_PROFILES[self.profile].what

    def definition(self) -> LabDef:
        """The lab as its lab.yaml defines it: what a sandbox is brought up from."""
        return LabDef(
            slug=self.slug,
            path=self.source_path,
            title=self.title,
            image=self.image,
            profile=self.profile,
            time_limit_minutes=self.time_limit_minutes,
            nodes=self.nodes,
            setup=self.setup,
            files=self.files,
            resources=self.resources,
            architecture=self.architecture,
            steps=[step.definition() for step in self.steps.all()],
        )


class Step(models.Model):
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()  # 1-based
    title = models.CharField(max_length=200)
    text_markdown = models.TextField()
    text_html = models.TextField()
    hint = models.TextField(blank=True)  # rendered
    hint_markdown = models.TextField(blank=True)  # as written, for export and the studio
    check_script = models.TextField()
    solution_script = models.TextField()
    sabotage_script = models.TextField(blank=True)
    node = models.CharField(max_length=63, blank=True)  # default: the lab's first node
    timeout_seconds = models.PositiveIntegerField(default=30)
    check_architecture = models.BooleanField(default=False)  # the check also requires the lab's target architecture

    class Meta:
        ordering = ["lab", "position"]
        constraints = [models.UniqueConstraint(fields=["lab", "position"], name="unique_step_position")]

    def __str__(self):
        return f"{self.lab.slug} step {self.position}"

    def definition(self) -> StepDef:
        return StepDef(
            title=self.title,
            text=self.text_markdown,
            hint=self.hint_markdown,
            check_script=self.check_script,
            solution_script=self.solution_script,
            sabotage_script=self.sabotage_script,
            node=self.node,
            timeout_seconds=self.timeout_seconds,
            check_architecture=self.check_architecture,
        )


class CheckRun(models.Model):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timeout"
    ERROR = "error"
    STATES = [(s, s) for s in (RUNNING, PASSED, FAILED, TIMED_OUT, ERROR)]

    session = models.ForeignKey("sandboxes.LabSession", on_delete=models.CASCADE, related_name="check_runs")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="check_runs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_runs")
    state = models.CharField(max_length=10, choices=STATES, default=RUNNING)
    output = models.TextField(blank=True)
    exit_code = models.IntegerField(null=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # One check at a time per learner and step.
            models.UniqueConstraint(
                fields=["user", "step"], condition=models.Q(state="running"), name="one_running_check"
            )
        ]

    def __str__(self):
        return f"check {self.pk} of {self.step} ({self.state})"


class SolutionReveal(models.Model):
    """A learner saw a step's solution: on request, or offered after repeated failed checks."""

    ASKED = "asked"
    AFTER_FAILURES = "after failures"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="solution_reveals")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="solution_reveals")
    session = models.ForeignKey("sandboxes.LabSession", null=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=20, choices=[(ASKED, ASKED), (AFTER_FAILURES, AFTER_FAILURES)])
    revealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "step"], name="one_reveal_per_step")]

    def __str__(self):
        return f"{self.user} saw the solution of {self.step}"
