"""Shared code of the benchmarks: a private Berth stack (uvicorn + Celery worker + relay as
subprocesses, like tests/conftest.py's `stack`) on its own SQLite file, Redis database, sandbox and
channel prefixes; a logged-in browser; statistics; process and host measurements; cleanup of every
`berthbench*` container, volume and network, also on Ctrl-C and errors.

Import this module before Django: `setup(name)` sets the environment the settings read, then
calls django.setup(). Nothing here asserts a time: the benchmarks report.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ROOT / "platform"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
VAR = ROOT / "var" / "bench"
LOGS = VAR / "log"
RESULTS = VAR / "results"
ENGINE = "unix:///run/berth/docker.sock"
PREFIX = "berthbench"
REDIS_URL = "redis://127.0.0.1:6379/10"
PASSWORD = "bench-pass-4711"
STANDARD_IMAGE = "berth/base:latest"
DOCKER_IMAGE = "berth/docker:latest"
STANDARD_DAY = 90  # the bench's own standard-profile lesson (Day 1..3 come from lessons/)

os.environ.setdefault("PYTHONUNBUFFERED", "1")
# bench/websockets.py would shadow the `websockets` library for scripts run from bench/: keep
# bench/ on the path (for `import common`) but after site-packages.
_HERE = str(Path(__file__).resolve().parent)
for _entry in [p for p in sys.path if p and Path(p).resolve() == Path(_HERE)]:
    sys.path.remove(_entry)
sys.path.append(_HERE)
if str(PLATFORM) not in sys.path:
    sys.path.insert(0, str(PLATFORM))

from berth.serving import web_command  # noqa: E402 (platform/ is on the path only now)


# --- environment and Django --------------------------------------------------------------------
def bench_env(name: str, **extra: str) -> dict[str, str]:
    """What every process of a bench sees (the bench itself and its stack)."""
    env = {
        "DATABASE_URL": f"sqlite:///{VAR / (name + '.sqlite3')}",
        "REDIS_URL": REDIS_URL,
        "BERTH_SANDBOX_PREFIX": PREFIX,
        "BERTH_CHANNEL_PREFIX": PREFIX,
        "DEBUG": "1",
        "BERTH_DOCKER_PROFILE": "1",
        "BERTH_WARM_POOL": "",  # the bench fills pools itself (pool.refill) when it wants them
        "BERTH_KEEP_DAYS": "0",  # an ended sandbox is removed: every start is a real one, never a resume
        "BERTH_STARTS_PER_HOUR": "1000",
        "BERTH_DOCKER_HOSTS": f"local={ENGINE}",
        "DJANGO_SETTINGS_MODULE": "berth.settings",
        "LOG_LEVEL": os.environ.get("BERTH_BENCH_LOG_LEVEL", "WARNING"),  # INFO to see the relay's decisions
    }
    env.update(extra)
    return env


_django_ready = False


def setup(name: str, fresh_db: bool = True, **extra: str) -> dict[str, str]:
    """Point this process at the bench's own database/Redis/prefixes, set Django up, and (when
    fresh_db) create the database: migrate, load the course, add the bench's standard lab and
    learner. Returns the environment the stack must get."""
    global _django_ready
    VAR.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = bench_env(name, **extra)
    os.environ.update(env)
    if fresh_db:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{VAR / (name + '.sqlite3')}{suffix}").unlink(missing_ok=True)
    import django

    django.setup()
    _django_ready = True
    install_cleanup()
    if fresh_db:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from course.loader import load_course

        report = load_course()
        if report.errors:
            print("load_course errors:", *report.errors, sep="\n  ", file=sys.stderr)
        make_standard_lesson()
        make_learner("bench")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return env


def make_standard_lesson():
    """A one-node standard-profile lab on berth/base (what tests/test_lab_engine_stack.py does)."""
    from course.models import Course, Lesson, Module
    from labs.files import save_lab
    from labs.format import LabDef, StepDef

    lab = save_lab(
        LabDef(
            slug="bench-standard",
            path="(bench)",
            title="Bench: standard sandbox",
            image=STANDARD_IMAGE,
            profile="standard",
            time_limit_minutes=60,
            nodes=["node1"],
            setup="mkdir -p /root/answers",
            steps=[StepDef("Touch", "x", "x", check_script="test -f /tmp/x", solution_script="touch /tmp/x")],
        )
    )
    course = Course.default()  # the bench's lesson is a day of the default course, as /course/day/N/ says
    module, _ = Module.objects.get_or_create(course=course, number=99, defaults={"title": "Bench"})
    Lesson.objects.update_or_create(
        slug="bench-standard",
        defaults=dict(
            course=course,
            day=STANDARD_DAY,
            module=module,
            title="Bench standard",
            summary="x",
            body_markdown="x",
            body_html="<p>x</p>",
            lab=lab,
            source_path="(bench)",
        ),
    )
    return lab


def make_learner(username: str):
    from django.contrib.auth.models import User

    from accounts.roles import ensure_roles

    groups = ensure_roles()
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(PASSWORD)
    user.save()
    user.groups.set([groups["learner"]])
    return user


def lab(day: int):
    """The lab of day N of the default course."""
    from course.models import Course, Lesson

    return Lesson.objects.select_related("lab").get(course=Course.default(), day=day).lab


# --- the stack ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_stacks: list[Stack] = []


class Stack:
    """uvicorn + a Celery worker + the relay, as subprocesses in their own process groups."""

    def __init__(self, name: str, env: dict[str, str], web_env: dict[str, str] | None = None, web_processes: int = 1):
        self.name = name
        self.web_processes = web_processes
        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        # Like the tests: the web process gets an unusable Docker address; it must not need one.
        self.web_env = {"BERTH_DOCKER_HOSTS": "local=unix:///nonexistent/no-docker-in-the-web-process.sock"}
        self.web_env.update(web_env or {})
        self.processes: dict[str, subprocess.Popen] = {}

    def log_path(self, part: str) -> Path:
        return LOGS / f"{self.name}-{part}.log"

    def start(self) -> Stack:
        commands = {
            "web": (
                web_command(VENV_BIN, self.port, self.web_processes),
                self.web_env,
            ),
            "worker": (
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "berth",
                    "worker",
                    "-Q",
                    "berth,sandboxes.local",
                    "-c",
                    "2",
                    "-n",
                    f"bench-{self.port}@%h",
                    "--loglevel",
                    "INFO",
                ],
                {"LOG_LEVEL": "INFO"},
            ),
            "relay": ([str(PYTHON), str(ROOT / "manage.py"), "run_relay", "--host", "local"], {"LOG_LEVEL": "INFO"}),
        }
        _stacks.append(self)
        for part, (cmd, extra) in commands.items():
            log = open(self.log_path(part), "w")
            self.processes[part] = subprocess.Popen(
                cmd,
                cwd=PLATFORM,
                env={**self.env, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(lambda: _http_ok(f"{self.http}/accounts/login/"), 60, "the web process")
        self._wait(lambda: "ready" in self.log_path("worker").read_text(errors="replace"), 60, "the Celery worker")
        self._wait(lambda: "listening" in self.log_path("relay").read_text(errors="replace"), 60, "the relay")
        return self

    def _wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for part, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{part} exited with {proc.returncode}\n{self.logs()}")
            try:
                if predicate():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not start in {timeout} s\n{self.logs()}")

    def add_web(self, part: str = "web2") -> str:
        """A second web process on the same database and channel layer (scale-out); its URL."""
        port = free_port()
        log = open(self.log_path(part), "w")
        self.processes[part] = subprocess.Popen(
            web_command(VENV_BIN, port),
            cwd=PLATFORM,
            env={**self.env, **self.web_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait(lambda: _http_ok(f"http://127.0.0.1:{port}/accounts/login/"), 60, part)
        return f"ws://127.0.0.1:{port}"

    def pid(self, part: str) -> int:
        return self.processes[part].pid

    def alive(self) -> dict[str, bool]:
        return {part: proc.poll() is None for part, proc in self.processes.items()}

    def logs(self, lines: int = 30) -> str:
        out = []
        for part in self.processes:
            path = self.log_path(part)
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"----- {part} ({path}) -----\n" + "\n".join(tail))
        return "\n".join(out)

    def stop(self):
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # its own group: uvicorn/celery children too
                except ProcessLookupError:
                    pass
        for proc in self.processes.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        if self in _stacks:
            _stacks.remove(self)


def _http_ok(url) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


# --- a logged-in browser ------------------------------------------------------------------------
class Browser:
    """A learner logged in through the real login form, with the Origin header a browser sends."""

    def __init__(self, stack: Stack, username: str = "bench"):
        import requests

        self.stack = stack
        self.http = requests.Session()
        self.origin = stack.http
        self.http.get(stack.http + "/accounts/login/", timeout=10)
        r = self.http.post(
            stack.http + "/accounts/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
            headers={"Origin": self.origin, "Referer": stack.http + "/accounts/login/"},
            timeout=10,
            allow_redirects=False,
        )
        if r.status_code != 302 or "sessionid" not in self.http.cookies:
            raise RuntimeError(f"login failed: {r.status_code} {r.text[:300]}")

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    def ws_headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie_header, "Origin": self.origin}

    def get(self, path, **kw):
        return self.http.get(self.stack.http + path, timeout=30, **kw)

    def post(self, path, data=None, htmx=True):
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "Origin": self.origin}
        if htmx:
            headers["HX-Request"] = "true"
        return self.http.post(self.stack.http + path, data=data or {}, headers=headers, timeout=30)

    def websocket(self, path: str, **kw):
        from websockets.sync.client import connect

        return connect(self.stack.ws + path, additional_headers=self.ws_headers(), open_timeout=30, **kw)

    async def async_websocket(self, path: str, **kw):
        from websockets.asyncio.client import connect

        return await connect(self.stack.ws + path, additional_headers=self.ws_headers(), open_timeout=60, **kw)


def read_until(ws, needle: bytes, timeout: float = 30) -> bytes:
    """Read binary terminal frames from a sync websocket until `needle` appears."""
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{needle!r} not seen in {timeout} s; got {data[-300:]!r}")
        message = ws.recv(timeout=remaining)
        if isinstance(message, bytes):
            data += message
        elif message.startswith('["exit"'):
            raise RuntimeError(f"terminal exited: {message}")
    return data


def events_until_state(ws, states=("ready", "failed"), timeout: float = 120) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no state in {states} after {timeout} s; saw {seen}")
        event = json.loads(ws.recv(timeout=remaining))
        seen.append(event)
        if event.get("kind") == "progress" and event.get("state") in states:
            return seen


# --- sandboxes made directly (for benches that measure something other than the start) ----------
def backend():
    from sandboxes.backends import get_backend

    return get_backend("local")


def make_ready_sessions(user, lab_row, count: int, threads: int = 4, on_progress=None, stop_when=None) -> list:
    """`count` READY sessions of `lab_row` for `user`, each with its own started sandbox, made
    through the backend (create/start/wait_ready) and recorded like provision() records them:
    the web process and the relay then treat them as any learner's live lab. Stops early when
    stop_when() says so (e.g. memory is getting short). Returns the LabSession rows."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import close_old_connections
    from django.utils import timezone

    from sandboxes import pool
    from sandboxes.lifecycle import sandbox_name
    from sandboxes.models import LabSession, Sandbox

    be = backend()
    made: list = []
    lock = threading.Lock()
    stop = threading.Event()

    def one(_):
        if stop.is_set():
            return None
        if stop_when and stop_when():
            stop.set()
            return None
        close_old_connections()
        now = timezone.now()
        session = LabSession.objects.create(
            user=user,
            lab=lab_row,
            host="local",
            state=LabSession.CREATING,
            expires_at=now + dt.timedelta(minutes=60),
        )
        node = lab_row.nodes[0]
        sandbox = Sandbox.objects.create(session=session, node=node, name=sandbox_name(session.pk, node))
        labels = {
            "berth.prefix": PREFIX,
            "berth.session": str(session.pk),
            "berth.user": str(user.pk),
            "berth.lab": lab_row.slug,
            "berth.node": node,
        }
        spec = pool.spec_for(sandbox.name, lab_row.image, lab_row.profile, node, labels)
        sandbox.container_id = be.create(spec)
        sandbox.save(update_fields=["container_id"])
        be.start(sandbox.container_id)
        be.wait_ready(sandbox.container_id, 180, lambda phase: None)
        LabSession.objects.filter(pk=session.pk).update(
            state=LabSession.READY,
            progress=100,
            message="Ready",
            ready_at=timezone.now(),
            last_activity_at=timezone.now(),
        )
        session.refresh_from_db()
        with lock:
            made.append(session)
            if on_progress:
                on_progress(len(made))
        close_old_connections()
        return session

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, range(count)))
    return made


# --- host and process measurements --------------------------------------------------------------
def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        parts = value.split()
        out[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def mem_available() -> int:
    return meminfo()["MemAvailable"]


def rss(pid: int) -> int:
    """Resident set size of one process, in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and every process below it (uvicorn's workers under their parent),
    found through /proc/PID/task/*/children: no walk of all of /proc, which beside a fork bomb
    would be thousands of reads."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_seconds(current)
        for listing in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in listing.read_text().split()]
            except (OSError, ValueError):
                continue
    return total


def redis_used_memory() -> int:
    import redis

    return int(redis.Redis.from_url(REDIS_URL).info("memory")["used_memory"])


def redis_pid() -> int | None:
    import redis

    try:
        return int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])
    except Exception:
        return None


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict:
    import docker

    info = {}
    info["nproc"] = os.cpu_count()
    info["ram_gib"] = round(meminfo()["MemTotal"] / 2**30, 1)
    info["kernel"] = os.uname().release
    try:
        client = docker.DockerClient(base_url=ENGINE)
        engine = client.info()
        info["docker"] = client.version().get("Version")
        info["storage_driver"] = engine.get("Driver")
        info["cgroup"] = f"v{engine.get('CgroupVersion')} ({engine.get('CgroupDriver')})"
    except Exception as e:  # noqa: BLE001 - the report says what it could not read
        info["docker"] = f"unknown ({e})"
    info["python"] = sys.version.split()[0]
    try:
        model = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        info["cpu"] = model[0].split(":", 1)[1].strip() if model else "?"
    except OSError:
        info["cpu"] = "?"
    return info


class Sampler(threading.Thread):
    """Samples named probes (callables returning a number) every `every` seconds."""

    def __init__(self, probes: dict, every: float = 0.5):
        super().__init__(daemon=True)
        self.probes, self.every = probes, every
        self.samples: list[dict] = []
        self.marks: list[tuple[float, str]] = []
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def mark(self, label: str):
        self.marks.append((time.monotonic() - self.t0, label))

    def run(self):
        while not self._halt.is_set():
            row = {"t": time.monotonic() - self.t0}
            for name, probe in self.probes.items():
                try:
                    row[name] = probe()
                except Exception:  # noqa: BLE001 - a probe that fails once is just missing
                    row[name] = None
            self.samples.append(row)
            self._halt.wait(self.every)

    def stop(self):
        self._halt.set()
        self.join(5)

    def series(self, name, since: float = 0.0, until: float = float("inf")) -> list:
        return [s[name] for s in self.samples if s.get(name) is not None and since <= s["t"] <= until]


def pss(pid: int) -> int:
    """Proportional set size (shared pages split between their users), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def container_usage(api, container_id: str) -> dict:
    """What one container costs the host: its cgroup's memory (all of it, and anonymous only),
    CPU time so far, and the PSS of its containerd shim (outside its cgroup). cgroup v1 or v2."""
    info = api.inspect_container(container_id)
    pid, full_id = info["State"]["Pid"], info["Id"]
    out = {"pid": pid}
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    paths = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if full_id in path:  # the container's own cgroup, not a child its init moved into
            path = path[: path.index(full_id) + len(full_id)]
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    if "memory" in paths:  # cgroup v1
        mem = Path("/sys/fs/cgroup/memory") / paths["memory"].lstrip("/")
        out["memory"] = int((mem / "memory.usage_in_bytes").read_text())
        stat = dict(ln.split() for ln in (mem / "memory.stat").read_text().splitlines())
        out["anon"] = int(stat.get("total_rss", stat.get("rss", 0)))
        out["file"] = int(stat.get("total_cache", stat.get("cache", 0)))
        inactive = int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
        out["working_set"] = max(0, out["memory"] - inactive)  # what cAdvisor / kubectl top report
        cpu = Path("/sys/fs/cgroup/cpuacct") / paths.get("cpuacct", paths.get("cpu", "")).lstrip("/")
        out["cpu_seconds"] = int((cpu / "cpuacct.usage").read_text()) / 1e9
    else:  # cgroup v2
        base = Path("/sys/fs/cgroup") / paths[""].lstrip("/")
        out["memory"] = int((base / "memory.current").read_text())
        stat = dict(ln.split() for ln in (base / "memory.stat").read_text().splitlines())
        out["anon"] = int(stat.get("anon", 0))
        out["file"] = int(stat.get("file", 0))
        out["working_set"] = max(0, out["memory"] - int(stat.get("inactive_file", 0)))
        cpu = dict(ln.split() for ln in (base / "cpu.stat").read_text().splitlines())
        out["cpu_seconds"] = int(cpu["usage_usec"]) / 1e6
    shim = ppid(pid)
    out["shim_pss"] = pss(shim) if shim else 0
    return out


# --- Docker CLI baselines ---------------------------------------------------------------------
def docker_cli(*args, check=True, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "-H", ENGINE, *args], capture_output=True, text=True, check=check, timeout=timeout)


def baseline_name(kind: str) -> str:
    """Bare baseline containers: named berthbench-bl-*, without Berth's labels (a reaper that
    runs meanwhile must not take them for orphans of its own)."""
    return f"{PREFIX}-bl-{kind}-{secrets.token_hex(3)}"


# --- statistics -----------------------------------------------------------------------------------
def percentile(values, p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def summary(values) -> dict:
    xs = list(values)
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "p50": statistics.median(xs),
        "p95": percentile(xs, 95),
        "p99": percentile(xs, 99),
        "min": min(xs),
        "max": max(xs),
        "mean": statistics.fmean(xs),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def ratio(a: float, b: float) -> str:
    if not b or b != b or a != a:
        return "n/a"
    return f"{a / b:.1f}x"


# --- results --------------------------------------------------------------------------------------
class Report:
    """What a bench prints and hands to run_all: rows of figures with their baseline and promise."""

    def __init__(self, bench: str, title: str, quick: bool):
        self.bench, self.title, self.quick = bench, title, quick
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.details: dict = {}
        self.started = time.time()
        self.load_before = loadavg()
        self.failed: list[str] = []

    def row(self, metric: str, value: str, baseline: str = "", ratio_: str = "", promise: str = "", verdict: str = ""):
        r = {
            "metric": metric,
            "value": value,
            "baseline": baseline,
            "ratio": ratio_,
            "promise": promise,
            "verdict": verdict,
        }
        self.rows.append(r)
        print(
            f"  {metric}: {value}"
            + (f" | baseline {baseline}" if baseline else "")
            + (f" | ratio {ratio_}" if ratio_ else "")
            + (f" | promise {promise}" if promise else "")
            + (f" | {verdict}" if verdict else ""),
            flush=True,
        )

    def note(self, text: str):
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def fail(self, text: str):
        self.failed.append(text)
        print(f"  FAILED: {text}", file=sys.stderr, flush=True)

    def save(self):
        data = {
            "bench": self.bench,
            "title": self.title,
            "mode": "quick" if self.quick else "full",
            "started": dt.datetime.fromtimestamp(self.started, dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(time.time() - self.started, 1),
            "load_before": self.load_before,
            "load_after": loadavg(),
            "rows": self.rows,
            "notes": self.notes,
            "details": self.details,
            "failed": self.failed,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{self.bench}.json").write_text(json.dumps(data, indent=2, default=str))
        print(
            f"  ({data['seconds']} s, load {self.load_before} -> {data['load_after']}; "
            f"{RESULTS / (self.bench + '.json')})",
            flush=True,
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a brief run (small N) that proves the bench works")
    return parser.parse_args()


# --- cleanup ------------------------------------------------------------------------------------
_cleanup_installed = False


def cleanup_engine():
    """Remove every berthbench* container (by label or name), volume and network on Berth's engine."""
    import docker

    client = docker.DockerClient(base_url=ENGINE, timeout=120)
    found = {}
    for filters in ({"label": f"berth.prefix={PREFIX}"}, {"name": PREFIX}):
        for c in client.containers.list(all=True, filters=filters, sparse=True):
            name = (c.attrs.get("Names") or ["/"])[0].lstrip("/")
            labels = c.attrs.get("Labels") or {}
            if name.startswith(PREFIX) or labels.get("berth.prefix") == PREFIX:
                found[c.id] = name

    def remove(item):
        cid, name = item
        try:
            # The backend's removal first gives a slowed fork bomb (noisy_neighbours) a CPU to
            # exit with; a bare forced removal leaves it "marked for removal", still forking.
            backend().remove(cid)
            return
        except Exception as e:  # noqa: BLE001 - Django not set up (an early failure), or the engine refused
            print(f"cleanup: {name}: the backend's removal failed ({e}); removing it bare", file=sys.stderr)
        try:
            backend().set_cpu(cid, 1.0, 1024)  # a CPU to exit with, as above
        except Exception:  # noqa: BLE001 - as above
            pass
        try:
            client.api.remove_container(cid, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: being removed already
                print(f"cleanup: {name}: {e}", file=sys.stderr)

    items = list(found.items())
    workers = [threading.Thread(target=lambda part=items[i::8]: [remove(x) for x in part]) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seen = found
    for v in client.volumes.list(filters={"label": f"berth.prefix={PREFIX}"}):
        try:
            v.remove(force=True)
        except docker.errors.APIError:
            pass
    for n in client.networks.list(filters={"label": f"berth.prefix={PREFIX}"}):
        try:
            n.remove()
        except docker.errors.APIError:
            pass
    return len(seen)


def cleanup_all():
    for st in list(_stacks):
        try:
            st.stop()
        except Exception as e:  # noqa: BLE001 - keep cleaning up
            print(f"cleanup: stopping the stack: {e}", file=sys.stderr)
    try:
        cleanup_engine()
    except Exception as e:  # noqa: BLE001
        print(f"cleanup: engine: {e}", file=sys.stderr)


def install_cleanup():
    global _cleanup_installed
    if _cleanup_installed:
        return
    _cleanup_installed = True
    atexit.register(cleanup_all)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)  # unwinds through finally blocks; atexit cleans up

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def session_id_from(html: str) -> int:
    m = re.search(r'data-session-id="(\d+)"', html)
    if not m:
        raise RuntimeError(f"no session in the start response: {html[:500]}")
    return int(m.group(1))


def panel_url_from(html: str) -> str | None:
    m = re.search(r'data-panel-url="([^"]+)"', html)
    return m.group(1) if m else None
