"""The lifecycle contract every sandbox backend fulfils (in the spirit of JupyterHub's Spawner).

A sandbox is one isolated machine for one node of one learner's lab session. The primitives are
small so that a variant (another runtime, Kubernetes) overrides little:
create -> start -> wait_ready -> exec / open_tty ... -> stop -> remove.

This contract is the only door to an engine: nothing outside a backend's own package imports an
engine's SDK. Expected failures are SandboxErrors; "already gone" counts as done on stop and
remove. A backend also makes its host ready to run the lab images (`build_images`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field


class SandboxError(Exception):
    """An expected failure: `learner_message` is safe to show; str(self) is for the log."""

    def __init__(self, log_message: str, learner_message: str = "The sandbox could not be started."):
        super().__init__(log_message)
        self.learner_message = learner_message


@dataclass
class SandboxSpec:
    name: str  # unique container name
    image: str
    profile: str  # one of sandboxes.profiles.PROFILES
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 512
    disk_mb: int = 2048
    network: str | None = None  # a private session network for multi-node labs; None = no network
    runtime: str | None = None  # an OCI runtime other than the engine's default (e.g. sysbox-runc)
    env: dict[str, str] = field(default_factory=dict)  # what the sandbox's init needs to know


@dataclass
class SandboxInfo:
    """What list_sandboxes() reports, for reconciliation with the database."""

    container_id: str
    name: str
    labels: dict[str, str]
    running: bool
    created: float = 0.0  # a Unix timestamp


@dataclass
class ExecResult:
    exit_code: int
    output: str
    timed_out: bool = False


class Tty:
    """An interactive shell inside a sandbox, as a byte stream: the relay reads what it prints
    and writes the learner's keystrokes. Each backend attaches its own way (Docker: an exec's
    hijacked socket; Kubernetes: the API server's exec stream)."""

    async def read(self, size: int) -> bytes:
        """Up to `size` bytes of output; b"" once the shell has ended."""
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        """Keystrokes; OSError once the shell is gone."""
        raise NotImplementedError

    def resize(self, rows: int, cols: int) -> None:
        """Blocking; a shell not up yet or already gone is not an error (the next resize fixes it)."""
        raise NotImplementedError

    def exit_code(self) -> int | None:
        """Blocking: the ended shell's exit code; None when the engine no longer knows it (it
        restarted or is gone), so the terminal can say which of the two happened."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SandboxBackend:
    def __init__(self, host: str, url: str):
        self.host = host
        self.url = url

    # --- lifecycle ---------------------------------------------------------------------------
    def create(self, spec: SandboxSpec) -> str:
        """Create the sandbox (not started); return its id. Idempotent by spec.name."""
        raise NotImplementedError

    def start(self, sandbox_id: str) -> None:
        raise NotImplementedError

    def wait_ready(self, sandbox_id: str, timeout: float, progress: Callable[[str], None]) -> None:
        """Return once the sandbox is usable (for the docker profile: its engine answers)."""
        raise NotImplementedError

    def rename(self, sandbox_id: str, name: str) -> None:
        """Give a sandbox a new name (a warm-pool sandbox joining a session)."""
        raise NotImplementedError

    def poll(self, sandbox_id: str) -> bool:
        """True while the sandbox runs."""
        raise NotImplementedError

    def stop(self, sandbox_id: str) -> None:
        """Stop it; already stopped or gone counts as success."""
        raise NotImplementedError

    def remove(self, sandbox_id: str) -> None:
        """Remove it and its private storage; already gone counts as success."""
        raise NotImplementedError

    def list_sandboxes(self) -> list[SandboxInfo]:
        """Every sandbox this platform made on this host, for reconciliation."""
        raise NotImplementedError

    def remove_orphaned_storage(self) -> int:
        """Remove per-sandbox storage (e.g. a nested engine's volume) whose sandbox is gone; return how many."""
        raise NotImplementedError

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        raise NotImplementedError

    def remove_network(self, name: str) -> None:
        raise NotImplementedError

    # --- work inside -------------------------------------------------------------------------
    def put_file(self, sandbox_id: str, path: str, content: bytes, mode: int = 0o644) -> None:
        raise NotImplementedError

    def get_archive(self, sandbox_id: str, path: str, max_bytes: int) -> bytes:
        """A tar of `path` inside the sandbox; SandboxError when it would pass max_bytes."""
        raise NotImplementedError

    def exec(
        self, sandbox_id: str, script: str, timeout: float, on_output: Callable[[str], None] | None = None
    ) -> ExecResult:
        """Run a bash script; stream its output line by line to on_output; stop it after timeout."""
        raise NotImplementedError

    def open_tty(self, sandbox_id: str, rows: int, cols: int) -> Tty:
        """A login shell in /root with this size (blocking)."""
        raise NotImplementedError

    def ping(self) -> None:
        """Raise SandboxError when the engine does not answer."""
        raise NotImplementedError

    def stats(self, sandbox_id: str) -> dict:
        """{"cpu_percent": float (100 = one CPU), "memory_bytes": int, "memory_limit": int,
        "pids": int, "pids_limit": int (0: none), "cpus": float (its CPU quota; 0: none),
        "throttled": float (share of the last second's CPU periods it was held at its quota)}"""
        raise NotImplementedError

    def stats_many(self, sandbox_ids: list[str]) -> dict[str, dict]:
        """stats() of each sandbox that answers (a gone one is left out), asked 8 at a time."""
        from concurrent.futures import ThreadPoolExecutor

        def one(sandbox_id):
            try:
                return sandbox_id, self.stats(sandbox_id)
            except Exception:  # noqa: BLE001 - gone meanwhile: the reaper deals with it
                return sandbox_id, None

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {sandbox_id: stats for sandbox_id, stats in pool.map(one, sandbox_ids) if stats}

    def pids_many(self, sandbox_ids: list[str]) -> dict[str, dict]:
        """{"pids": int, "pids_limit": int (0: none)} of each sandbox, where the backend can read
        them cheaply enough to look every second (the cap watch, sandboxes/pressure.py); {} where
        it cannot, and the host's sampler alone looks."""
        return {}

    def set_weight_now(self, sandbox_ids: list[str], weight: int) -> None:
        """Give these sandboxes `weight` at once where the backend can without a round trip (a
        local engine's cgroups: the engine's API takes tens to hundreds of milliseconds in a fork
        storm, which is when the cap watch needs it); set_cpu still follows, to make it the
        sandbox's own setting. Elsewhere nothing, and set_cpu alone does it."""

    def set_cpu(self, sandbox_id: str, cpus: float | None, weight: int) -> None:
        """Change a running sandbox's CPU quota (None: keep it) and its weight against its
        neighbours (Docker's cpu shares: 1024 is everyone's, 2 the least)."""
        raise NotImplementedError

    # --- the host ------------------------------------------------------------------------------
    def build_images(self, say: Callable[[str], None], only: list[str] | None = None, donors: tuple = ()) -> None:
        """Make every lab image (labs/images/) runnable on this host, offline if need be; `donors`
        are backends of other hosts already done, to copy from rather than build again."""
        raise NotImplementedError
