"""An in-memory twin of a sandbox engine, for tests that are about the platform's logic rather
than about sandboxes (in the spirit of Django's locmem mail backend): sandboxes are records, files
a dict, every call is written to `calls`, scripts answer with what `answer` says (exit 0 and no
output unless told otherwise), and a terminal echoes what it is sent. Pick it with
BERTH_SANDBOX_BACKEND=sandboxes.backends.memory.MemoryBackend. Every promise about real sandboxes
is proven on the Docker backend instead.
"""

import asyncio
import fnmatch
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandboxes.backends.base import ExecResult, SandboxBackend, SandboxError, SandboxInfo, SandboxSpec, Tty


@dataclass
class MemorySandbox:
    id: str
    spec: SandboxSpec
    running: bool = False
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    cpus: float | None = None  # set_cpu's, once called


class MemoryTty(Tty):
    """A terminal that echoes its input, as a shell's line discipline would; "exit" ends it."""

    def __init__(self):
        self.output: asyncio.Queue[bytes] = asyncio.Queue()
        self.output.put_nowait(b"$ ")
        self.ended = False
        self.size = (0, 0)

    async def read(self, size: int) -> bytes:
        return b"" if self.ended and self.output.empty() else await self.output.get()

    async def write(self, data: bytes) -> None:
        if self.ended:
            raise OSError("the shell has exited")
        self.output.put_nowait(data)
        if data.strip() == b"exit":
            self.ended = True
            self.output.put_nowait(b"")

    def resize(self, rows: int, cols: int) -> None:
        self.size = (rows, cols)

    def exit_code(self) -> int | None:
        return 0

    def close(self) -> None:
        self.ended = True


class MemoryBackend(SandboxBackend):
    # One engine per host name, shared by every instance (a test and the code under test see the same).
    engines: dict[str, "MemoryBackend"] = {}

    def __new__(cls, host: str, url: str):
        if host not in cls.engines:
            cls.engines[host] = super().__new__(cls)
            cls.engines[host].reset()
        return cls.engines[host]

    def reset(self) -> None:
        self.sandboxes: dict[str, MemorySandbox] = {}
        self.networks: dict[str, dict] = {}
        self.calls: list[tuple] = []
        self.answers: list[tuple[str, int, str]] = []  # (glob of a script, exit code, output)
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def answer(self, pattern: str, exit_code: int = 0, output: str = "") -> None:
        """Scripts matching `pattern` (a glob) exit with `exit_code` and print `output`."""
        self.answers.insert(0, (pattern, exit_code, output))

    def _log(self, *call) -> None:
        with self.lock:
            self.calls.append(call)

    def _get(self, sandbox_id: str) -> MemorySandbox:
        found = self.sandboxes.get(sandbox_id) or next(
            (s for s in self.sandboxes.values() if s.spec.name == sandbox_id), None
        )
        if found is None:
            raise SandboxError(f"no sandbox {sandbox_id}", "The sandbox is gone.")
        return found

    # --- lifecycle ---------------------------------------------------------------------------
    def create(self, spec: SandboxSpec) -> str:
        self._log("create", spec)
        for sandbox in self.sandboxes.values():
            if sandbox.spec.name == spec.name:
                return sandbox.id
        sandbox = MemorySandbox(f"mem{next(self.ids):06d}", spec)
        self.sandboxes[sandbox.id] = sandbox
        return sandbox.id

    def start(self, sandbox_id: str) -> None:
        self._log("start", sandbox_id)
        self._get(sandbox_id).running = True

    def wait_ready(self, sandbox_id: str, timeout: float, progress: Callable[[str], None]) -> None:
        self._log("wait_ready", sandbox_id)
        if not self._get(sandbox_id).running:
            raise SandboxError(f"{sandbox_id} is not running")

    def rename(self, sandbox_id: str, name: str) -> None:
        self._log("rename", sandbox_id, name)
        self._get(sandbox_id).spec.name = name

    def poll(self, sandbox_id: str) -> bool:
        return sandbox_id in self.sandboxes and self.sandboxes[sandbox_id].running

    def stop(self, sandbox_id: str) -> None:
        self._log("stop", sandbox_id)
        if sandbox_id in self.sandboxes:
            self.sandboxes[sandbox_id].running = False

    def remove(self, sandbox_id: str) -> None:
        self._log("remove", sandbox_id)
        for key, sandbox in list(self.sandboxes.items()):
            if sandbox_id in (key, sandbox.spec.name):
                del self.sandboxes[key]

    def list_sandboxes(self) -> list[SandboxInfo]:
        return [
            SandboxInfo(s.id, s.spec.name, dict(s.spec.labels), s.running, s.created) for s in self.sandboxes.values()
        ]

    def remove_orphaned_storage(self) -> int:
        return 0

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self._log("create_network", name)
        self.networks.setdefault(name, dict(labels))

    def remove_network(self, name: str) -> None:
        self._log("remove_network", name)
        self.networks.pop(name, None)

    # --- work inside -------------------------------------------------------------------------
    def put_file(self, sandbox_id: str, path: str, content: bytes, mode: int = 0o644) -> None:
        self._log("put_file", sandbox_id, path)
        self._get(sandbox_id).files[path] = (content, mode)

    def get_archive(self, sandbox_id: str, path: str, max_bytes: int) -> bytes:
        raise SandboxError("the in-memory backend keeps no archives", "Downloads need a real sandbox.")

    def exec(self, sandbox_id, script, timeout, on_output=None) -> ExecResult:
        self._log("exec", sandbox_id, script, timeout)
        if not self._get(sandbox_id).running:
            raise SandboxError(f"{sandbox_id} is not running", "The sandbox did not answer.")
        exit_code, output = next(((c, o) for p, c, o in self.answers if fnmatch.fnmatchcase(script, p)), (0, ""))
        for line in output.splitlines() if on_output else []:
            on_output(line)
        return ExecResult(exit_code, output)

    def open_tty(self, sandbox_id: str, rows: int, cols: int) -> Tty:
        self._log("open_tty", sandbox_id)
        self._get(sandbox_id)
        tty = MemoryTty()
        tty.resize(rows, cols)
        return tty

    def ping(self) -> None:
        pass

    def stats(self, sandbox_id: str) -> dict:
        box = self._get(sandbox_id)
        return {
            "cpu_percent": 0.0,
            "memory_bytes": 0,
            "memory_limit": box.spec.memory_mb << 20,
            "pids": 1,
            "pids_limit": box.spec.pids,
            "cpus": box.cpus if box.cpus is not None else box.spec.cpus,
            "throttled": 0.0,
        }

    def set_cpu(self, sandbox_id: str, cpus: float | None, weight: int) -> None:
        self._log("set_cpu", sandbox_id, cpus, weight)
        if cpus is not None:
            self._get(sandbox_id).cpus = cpus

    def build_images(self, say, only=None, donors=()) -> None:
        say("the in-memory backend runs no images: nothing to build")
