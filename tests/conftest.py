"""Shared fixtures: personas, the real Docker backend with prefix cleanup, and the real stack
(uvicorn + Celery worker + terminal relay as subprocesses on the test database)."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from berth.serving import web_command

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "log"


@pytest.fixture(autouse=True)
def fresh_limits():
    """Limits saved by one test (in its database) are never seen from another's cache."""
    from sandboxes import limits

    limits.forget()
    yield
    limits.forget()


# --- personas ----------------------------------------------------------------------------------
@pytest.fixture
def roles(db):
    from accounts.roles import ensure_roles

    return ensure_roles()


def make_user(roles, username, role):
    from django.contrib.auth.models import User

    user = User.objects.create_user(username, password=f"{username}-pass-123")
    user.groups.add(roles[role])
    return user


@pytest.fixture
def learner(roles):
    return make_user(roles, "alice", "learner")


@pytest.fixture
def other_learner(roles):
    """A second learner, who must see nothing of the first."""
    return make_user(roles, "mallory", "learner")


@pytest.fixture
def instructor(roles):
    return make_user(roles, "ivan", "instructor")


@pytest.fixture
def admin_user(roles):
    return make_user(roles, "ada", "admin")


@pytest.fixture
def course(db):
    from course.loader import load_course

    report = load_course()
    assert not report.errors, "\n".join(map(str, report.errors))
    return report


# --- Docker --------------------------------------------------------------------------------------
def remove_test_sandboxes():
    import docker

    client = docker.DockerClient(base_url=settings.DOCKER_HOSTS["local"])
    mine = {"label": f"berth.prefix={settings.SANDBOX_PREFIX}"}

    def remove(thing, **options):
        try:
            thing.remove(**options)
        except docker.errors.NotFound:
            pass  # removed meanwhile by the platform itself
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: the platform is removing it right now
                raise

    # sparse: no inspect per container, which fails for one removed between the list and it.
    for c in client.containers.list(all=True, sparse=True, filters=mine):
        remove(c, force=True, v=True)
    for v in client.volumes.list(filters=mine):
        remove(v, force=True)
    for n in client.networks.list(filters=mine):
        remove(n)


@pytest.fixture(scope="session")
def docker_engine():
    """The real engine, emptied of test sandboxes before and after the session."""
    assert settings.SANDBOX_PREFIX.startswith("berthtest"), "tests must run with their own sandbox prefix"
    remove_test_sandboxes()
    yield
    remove_test_sandboxes()


@pytest.fixture
def sandboxes_removed_after(docker_engine):
    """Remove the test's sandboxes when it ends (the database forgets them at its flush)."""
    yield
    remove_test_sandboxes()


@pytest.fixture
def backend(docker_engine):
    from sandboxes.backends import get_backend

    return get_backend("local")


@pytest.fixture(scope="session")
def kube_host(docker_engine, django_db_setup, django_db_blocker, tmp_path_factory):
    """A real two-node Kubernetes cluster for the Kubernetes backend (tests/kube_host.py), once
    per session."""
    from sandboxes.backends import get_backend
    from tests import kube_host as host

    backend = get_backend("local")
    with django_db_blocker.unblock():  # the nodes' limits may be the console's
        cluster = host.start(backend, tmp_path_factory.mktemp("kube-host"))
    yield cluster
    host.stop(backend, cluster)


@pytest.fixture
def memory_backend(settings):
    """The in-memory twin of a sandbox engine (sandboxes/backends/memory.py), for tests of the
    platform's own logic; it records every call the platform makes."""
    from sandboxes.backends import get_backend
    from sandboxes.backends.memory import MemoryBackend

    settings.SANDBOX_BACKEND = "sandboxes.backends.memory.MemoryBackend"
    get_backend.cache_clear()
    MemoryBackend.engines.clear()
    yield get_backend("local")
    MemoryBackend.engines.clear()
    get_backend.cache_clear()


# --- peers the tests run: a browser, an identity provider, a learning platform -----------------
CHROMIUM = os.environ.get("BERTH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def chromium():
    """Debian's Chromium, headless, for a test of its own (test_e2e.py shares one per module)."""
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the ORM between page actions, as in test_e2e
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def peer_env(settings_module: str, **extra: str) -> dict:
    """The environment of a Django project of the tests' own (tests/idp/, tests/lms/)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "PYTHONPATH": str(ROOT), **extra}
    env.pop("DEBUG", None)
    return env


@contextmanager
def peer_server(env: dict, port: int, name: str, ready_url: str):
    """That project served on 127.0.0.1:port (log: var/log/NAME.log) until the block ends."""
    LOGS.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=open(LOGS / f"{name}.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _http_ok(ready_url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in 30 s:\n{(LOGS / f'{name}.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(10)


# --- the real stack ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    from django.db import connection

    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    credentials = d["USER"] + (f":{d['PASSWORD']}" if d["PASSWORD"] else "")
    # dj-database-url 3 keeps ?host=/socket/folder among the OPTIONS, not as HOST
    host = d["HOST"] or d.get("OPTIONS", {}).get("host") or "127.0.0.1"
    if host.startswith("/"):  # a unix socket folder
        return f"postgres://{credentials}@/{d['NAME']}?host={host}"
    return f"postgres://{credentials}@{host}:{d['PORT'] or 5432}/{d['NAME']}"


class Stack:
    def __init__(self, port: int, prefix: str = "test"):
        self.port = port
        self.prefix = prefix
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def log_path(self, name: str) -> Path:
        return LOGS / f"{self.prefix}-{name}.log"

    def logs(self, lines=40) -> str:
        out = []
        for name in self.processes:
            path = self.log_path(name)
            if path.exists():
                out.append(f"----- {name} -----\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_worker(queue: str, log_name: str) -> subprocess.Popen:
    """A Celery worker of the test's own, on a queue nobody else uses, in its own process group
    (so the test can SIGKILL it with its pool, as a crash would)."""
    return subprocess.Popen(
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
        stdout=open(LOGS / log_name, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_stack(db_url: str, extra_env: dict | None = None, prefix: str = "test") -> Stack:
    """uvicorn, a Celery worker and the relay as subprocesses, as scripts/up runs them."""
    LOGS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "1", "PYTHONUNBUFFERED": "1", "BERTH_CAP_WATCH": "0"}
    env.update(extra_env or {})  # the cap watch is off: on the tests' database, the tests drive it
    if prefix != "test" and "REDIS_URL" not in (extra_env or {}):
        # A stack of a test's own runs beside the suite's: on the same Redis database, the two
        # relays would share the relay channel and take each other's keystrokes, and the two
        # workers each other's tasks. It gets a Redis database of its own, emptied first.
        env["REDIS_URL"] = next_redis_db(os.environ["REDIS_URL"])
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    venv = Path(sys.executable).parent
    st = Stack(port, prefix)
    commands = {
        "web": (
            web_command(venv, port),  # as scripts/up runs it
            {"BERTH_DOCKER_HOSTS": "local=unix:///nonexistent/no-docker-in-the-web-process.sock"},
        ),
        "worker": (
            [
                str(venv / "celery"),
                "-A",
                "berth",
                "worker",
                "-Q",
                "berth,sandboxes.local",
                "-c",
                "2",
                "-n",
                f"{prefix}-{port}@%h",
                "--loglevel",
                "INFO",
            ],
            {},
        ),
        "relay": ([sys.executable, str(ROOT / "manage.py"), "run_relay", "--host", "local"], {}),
    }
    for name, (cmd, extra) in commands.items():
        log = open(st.log_path(name), "w")
        st.processes[name] = subprocess.Popen(
            cmd,
            cwd=ROOT / "platform",
            env={**env, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_for(lambda: _http_ok(f"{st.http}/accounts/login/"), 30, "the web process", st)
    _wait_for(lambda: "ready" in st.log_path("worker").read_text(), 30, "the Celery worker", st)
    _wait_for(lambda: "listening" in st.log_path("relay").read_text(), 30, "the relay", st)
    return st


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, docker_engine):
    """The stack on the test database. The web process is given an unusable Docker address:
    everything must work without it touching Docker."""
    with django_db_blocker.unblock():
        db_url = database_url()
    _flush_test_redis()
    st = start_stack(db_url)
    yield st
    st.stop()


def next_redis_db(url: str) -> str:
    """The Redis URL of the database after this one's (redis://host:port/14 -> .../15)."""
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db or 0) + 1) % 16}"


def _flush_test_redis():
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def _http_ok(url) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _wait_for(predicate, timeout, what, st):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout} s\n{st.logs()}")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failing stack test, print the stack's logs (like dockerspawner's tests do)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "stack" in item.fixturenames:
        st = item.funcargs.get("stack")
        if st:
            report.sections.append(("stack logs", st.logs()))


DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


def on_the_test_cluster(item) -> bool:
    """A test of the Kubernetes backend, on the session's two-node cluster (kube_host)."""
    callspec = getattr(item, "callspec", None)
    return "kube_host" in item.fixturenames or bool(callspec and callspec.params.get("engine") == "kubernetes")


def pytest_collection_modifyitems(config, items):
    """The tests on the session's Kubernetes cluster run last, one after the other: its nodes
    live from the first of them to the session's end (not idling beside the lab self-test), and
    no test after them empties the engine of test sandboxes, the cluster's nodes among them.

    BERTH_TEST_DATABASE_ONLY=1 (the PostgreSQL pass of scripts/test) keeps only the tests that
    reach the database, and of those that start sandboxes only the ones marked `database` (whose
    subject is the database: claims, locks, outages): a test of sandboxes or terminals that merely
    records what it did proves nothing new on another database, and costs CI minutes."""
    items[:] = [item for item in items if not on_the_test_cluster(item)] + [
        item for item in items if on_the_test_cluster(item)
    ]
    if os.environ.get("BERTH_TEST_DATABASE_ONLY") != "1":
        return
    kept, dropped = [], []
    for item in items:
        uses_db = item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames)
        about_db = not item.get_closest_marker("docker") or item.get_closest_marker("database")
        (kept if uses_db and about_db else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
