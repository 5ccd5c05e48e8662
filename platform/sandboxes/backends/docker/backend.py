"""The sandbox contract on the Docker Engine API: every blocking Docker SDK call of the platform."""

import asyncio
import functools
import glob
import hashlib
import io
import logging
import select
import socket
import struct
import subprocess
import tarfile
import time
from collections.abc import Callable

import docker
from django.conf import settings

from sandboxes.backends.base import ExecResult, SandboxBackend, SandboxError, SandboxInfo, SandboxSpec, Tty
from sandboxes.backends.docker import cgroups, images, profiles, usage
from sandboxes.backends.docker.errors import CONFLICT, GONE, NOT_MODIFIED, EngineError, engine_call
from sandboxes.backends.inside import READY_WATCH, ExecOutput, failure_of, phase_of

log = logging.getLogger(__name__)
SESSION_BRIDGE_PREFIX = "bth"


def ensure_host_firewall() -> None:
    """Keep session networks to themselves. Their bridges share a name prefix, so a few rules
    cover them all (installed once, idempotently):
    - INPUT: nothing from a session network reaches the host itself (its gateway address would
      otherwise reach every host service listening on all interfaces);
    - FORWARD: traffic between the nodes of one session (bridged) passes; anything routed out
      of a session network, or into one from elsewhere, is dropped: no internet, no other
      session, no host network.
    An engine on another machine needs the same rules there (docs/sandboxes.md)."""
    bridges = SESSION_BRIDGE_PREFIX + "+"
    chain = "BERTH-SESSIONS"
    for tool in ("iptables", "ip6tables"):

        def run(*args, tool=tool):
            return subprocess.run([tool, *args], capture_output=True).returncode == 0

        if run("-C", "FORWARD", "-j", chain) and run("-C", "INPUT", "-i", bridges, "-j", "DROP"):
            continue  # set up already (by this or another worker)
        run("-N", chain)
        run("-F", chain)
        run("-A", chain, "-i", bridges, "-o", bridges, "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT")
        run("-A", chain, "-i", bridges, "-j", "DROP")
        run("-A", chain, "-o", bridges, "-j", "DROP")
        ok = (run("-C", "FORWARD", "-j", chain) or run("-I", "FORWARD", "-j", chain)) and (
            run("-C", "INPUT", "-i", bridges, "-j", "DROP") or run("-I", "INPUT", "-i", bridges, "-j", "DROP")
        )
        if not ok and tool == "iptables":
            raise SandboxError("cannot install the firewall rules for session networks (is iptables there?)")


class DockerTty(Tty):
    """A `docker exec` shell with a TTY: the engine hands over the raw socket of the exec."""

    def __init__(self, api, exec_id: str, sock: socket.socket):
        self.api, self.exec_id, self.sock = api, exec_id, sock

    async def read(self, size: int) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self.sock, size)

    async def write(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    def resize(self, rows: int, cols: int) -> None:
        try:
            with engine_call(f"resize {self.exec_id}"):
                self.api.exec_resize(self.exec_id, height=rows, width=cols)
        except SandboxError:
            pass  # the shell may not be up yet or already gone; the next resize fixes it

    def exit_code(self) -> int | None:
        for _ in range(20):  # the stream can end a moment before the engine marks the exec done
            try:
                with engine_call(f"inspect {self.exec_id}"):
                    info = self.api.exec_inspect(self.exec_id)
            except SandboxError:  # unknown to the engine (it restarted) or no engine at all
                return None
            if not info["Running"]:
                return info["ExitCode"] or 0
            time.sleep(0.05)
        return 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class DockerBackend(SandboxBackend):
    def __init__(self, host: str, url: str):
        super().__init__(host, url)
        self.client = docker.DockerClient(base_url=url, timeout=120)
        self.api = self.client.api

    @functools.cached_property
    def info(self) -> dict:
        """The engine's `docker info`, asked once: what the properties below read of it does not
        change while the engine runs."""
        with engine_call(f"info of engine {self.host}"):
            return self.api.info()

    @functools.cached_property
    def disk_quota(self) -> bool:
        """Whether this engine can cap a container's disk."""
        status = dict(self.info.get("DriverStatus") or [])
        quota = self.info.get("Driver") in ("btrfs", "zfs") or (
            self.info.get("Driver") == "overlay2" and status.get("Backing Filesystem") == "xfs"
        )
        if not quota:
            driver = self.info.get("Driver")
            log.warning("engine %s (%s) cannot cap sandbox disks: a learner can fill its disk", self.host, driver)
        return quota

    @property
    def local(self) -> bool:
        """The engine runs on this machine: its containers' cgroups and processes are ours to read."""
        return self.url.startswith("unix://")

    @functools.cached_property
    def remaps_users(self) -> bool:
        """Whether the engine runs with --userns-remap (scripts/lib.sh, BERTH_ENGINE_USERNS)."""
        return any("name=userns" in option for option in self.info.get("SecurityOptions") or [])

    # --- lifecycle ---------------------------------------------------------------------------
    def create(self, spec: SandboxSpec) -> str:
        existing = self._own_container(spec)  # a retried task finds the container it made
        if existing:
            return existing
        host_options, raw_host = profiles.host_config(spec, spec.runtime, self.disk_quota)
        host = self.api.create_host_config(**host_options)
        host.update(raw_host)
        networking = None
        if spec.network:  # nodes of a session find each other by hostname on their private network
            networking = self.api.create_networking_config(
                {spec.network: self.api.create_endpoint_config(aliases=[spec.hostname])}
            )
        try:
            with engine_call(f"create {spec.name}", "The sandbox could not be started."):
                return self.api.create_container(
                    **profiles.container_config(spec), host_config=host, networking_config=networking
                )["Id"]
        except EngineError as e:
            if e.status == CONFLICT and (existing := self._own_container(spec)):  # made concurrently by a retry
                return existing
            if e.status == GONE:  # the image
                raise SandboxError(str(e), f"The lab image {spec.image} is not built on this host.") from e
            raise

    def _own_container(self, spec: SandboxSpec) -> str | None:
        """The id of the container named spec.name, if it was made for this very spec; a container
        of that name made for anything else (another session, another installation) is an error,
        never adopted."""
        info = self._inspect(spec.name)
        if info is None:
            return None
        labels = info["Config"].get("Labels") or {}
        if any(labels.get(key) != value for key, value in spec.labels.items()):
            raise SandboxError(f"{spec.name} exists with other labels {labels}; refusing to adopt it")
        return info["Id"]

    def start(self, sandbox_id: str) -> None:
        with engine_call(f"start {sandbox_id}", "The sandbox could not be started."):
            self.api.start(sandbox_id)
        self._delegate_cgroups(sandbox_id)

    def _delegate_cgroups(self, sandbox_id: str) -> None:
        """On an engine that remaps users, hand the sandbox its own cgroups (cgroups.py). Only a
        local engine's cgroups can be reached from here; an engine on another machine runs
        sandboxes whose nested containers then fail to start (docs/sandboxes.md)."""
        if not self.local or not self.remaps_users:
            return  # nothing to hand over: no inspect on the start path of a plain engine
        info = self._inspect(sandbox_id)
        if not info or (info["Config"].get("Labels") or {}).get(profiles.PROFILE_LABEL) not in profiles.NESTING:
            return
        if not info["State"].get("Pid"):
            return  # exited at once: wait_ready reports why
        try:
            cgroups.delegate(info["State"]["Pid"], info["Id"])
        except FileNotFoundError:
            return  # exited meanwhile
        except OSError as e:
            raise SandboxError(
                f"cannot hand {sandbox_id[:12]} its cgroups: {e}", "The sandbox could not be started."
            ) from e

    def wait_ready(self, sandbox_id: str, timeout: float, progress: Callable[[str], None]) -> None:
        """Wait for the sandbox's own readiness marker (written by berth-init), reporting its phases.

        One exec watches the marker from inside: an exec costs the engine tens of milliseconds of
        CPU, so polling with one every 0.1 s took a good part of a core from the boot it waited for."""
        self._check_running(sandbox_id)  # one that exited at once: its logs say why, an exec would not
        result = self._run(sandbox_id, ["sh", "-c", READY_WATCH], timeout=timeout, on_output=phase_of(progress))
        if result.exit_code == 0:
            return
        if result.exit_code == 2:
            raise SandboxError(f"{sandbox_id} failed to start: {failure_of(result.output)}")
        self._check_running(sandbox_id)
        raise SandboxError(
            f"{sandbox_id} not ready after {timeout:.0f} s", "The sandbox took too long to start. Please try again."
        )

    def _check_running(self, sandbox_id: str) -> None:
        if not self.poll(sandbox_id):
            raise SandboxError(f"{sandbox_id} exited while starting: {self._tail_logs(sandbox_id)}")

    def rename(self, sandbox_id: str, name: str) -> None:
        with engine_call(f"rename {sandbox_id} to {name}", "The sandbox could not be started."):
            self.api.rename(sandbox_id, name)

    def poll(self, sandbox_id: str) -> bool:
        info = self._inspect(sandbox_id)
        return bool(info and info["State"]["Running"])

    def _inspect(self, sandbox_id: str) -> dict | None:
        """The container's details; None when it is gone."""
        info = None
        with engine_call(f"inspect {sandbox_id}", done_if=(GONE,)):
            info = self.api.inspect_container(sandbox_id)
        return info

    # A container paused inside a Docker-day sandbox sits in a frozen cgroup: its processes never
    # see the kill, and stopping or removing the sandbox hangs. Thaw everything inside first.
    THAW = (
        "(docker ps -q --filter status=paused | xargs -r docker unpause) >/dev/null 2>&1;"
        " for f in $(find /sys/fs/cgroup -name freezer.state 2>/dev/null); do echo THAWED > $f; done 2>/dev/null;"
        " for f in $(find /sys/fs/cgroup -name cgroup.freeze 2>/dev/null); do echo 0 > $f; done 2>/dev/null; true"
    )

    def thaw(self, sandbox_id: str) -> None:
        try:
            self._run(sandbox_id, ["sh", "-c", self.THAW], timeout=20)
        except SandboxError:
            pass  # not running: nothing frozen can hold it

    def thaw_from_host(self, container_id: str) -> None:
        """Too late to ask inside (its init is gone): thaw its cgroups from the host, when the
        engine is local and its cgroups are where the cgroupfs driver puts them."""
        if not self.local:
            return
        patterns = [f"/sys/fs/cgroup/freezer/{place}/**/freezer.state" for place in cgroups.places(container_id)]
        patterns += [f"/sys/fs/cgroup/{place}/**/cgroup.freeze" for place in cgroups.places(container_id)]
        for pattern in patterns:
            for path in glob.glob(pattern, recursive=True):
                try:
                    with open(path, "w") as f:
                        f.write("THAWED" if path.endswith("freezer.state") else "0")
                except OSError:
                    pass

    def stop(self, sandbox_id: str) -> None:
        self.thaw(sandbox_id)
        with engine_call(f"stop {sandbox_id}", done_if=(GONE, NOT_MODIFIED, CONFLICT)):
            self.api.stop(sandbox_id, timeout=2)

    def remove(self, sandbox_id: str) -> None:
        info = self._inspect(sandbox_id)
        if info is None:
            return  # already gone
        if info["State"].get("Running"):
            self.thaw(sandbox_id)
            self._let_it_die(sandbox_id, info["HostConfig"])
        try:
            with engine_call(f"remove {sandbox_id}", done_if=(GONE, CONFLICT)):  # 409: removal in progress
                self.api.remove_container(sandbox_id, force=True, v=True)
        except EngineError as e:
            log.warning("removing %s failed (%s): thawing it from the host, trying again", sandbox_id[:12], e)
            self.thaw_from_host(info["Id"])
            with engine_call(f"remove {sandbox_id}", done_if=(GONE, CONFLICT)):
                self.api.remove_container(sandbox_id, force=True, v=True)
        for mount in info.get("Mounts", []):
            if mount.get("Type") == "volume":
                with engine_call(f"remove volume {mount['Name']}", done_if=(GONE,)):
                    self.api.remove_volume(mount["Name"], force=True)

    def _let_it_die(self, sandbox_id: str, host_config: dict) -> None:
        """Give a slowed sandbox (sandboxes/pressure.py) one CPU and the usual weight before it is
        killed: its processes need CPU to exit, and a fork bomb's thousands of them, at 0.1 CPU
        and the least weight on a busy host, outlast the engine's wait for the exit (the removal
        fails and the bomb lives on)."""
        if (host_config.get("NanoCpus") or 0) >= 1e9 and (host_config.get("CpuShares") or 1024) >= 1024:
            return
        try:
            self.set_cpu(sandbox_id, max(1.0, (host_config.get("NanoCpus") or 0) / 1e9), 1024)
        except EngineError as e:  # removed meanwhile, or being removed: the removal says
            log.info("could not lift %s's CPU limit before removing it: %s", sandbox_id[:12], e)

    def _own_containers(self) -> list[dict]:
        with engine_call(f"list the sandboxes of {self.host}"):
            return self.api.containers(all=True, filters={"label": f"berth.prefix={settings.SANDBOX_PREFIX}"})

    def list_sandboxes(self) -> list[SandboxInfo]:
        found = self._own_containers()
        return [
            SandboxInfo(
                c["Id"], c["Names"][0].lstrip("/"), c.get("Labels") or {}, c["State"] == "running", c["Created"]
            )
            for c in found
        ]

    def remove_orphaned_storage(self) -> int:
        in_use = {m["Name"] for c in self._own_containers() for m in c.get("Mounts", []) if m.get("Type") == "volume"}
        removed = 0
        with engine_call(f"list the volumes of {self.host}"):
            volumes = self.api.volumes(filters={"label": f"berth.prefix={settings.SANDBOX_PREFIX}"}).get("Volumes")
        for volume in volumes or []:
            if volume["Name"] in in_use:
                continue
            try:
                with engine_call(f"remove volume {volume['Name']}"):
                    self.api.remove_volume(volume["Name"])
                removed += 1
            except EngineError:
                pass  # in use after all (a sandbox being created right now), or already gone
        return removed

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        """A session's private network: internal (no route out), on a bridge whose name starts
        with SESSION_BRIDGE_PREFIX, so one host firewall rule keeps every session off the host."""
        if self.local:
            ensure_host_firewall()
        bridge = SESSION_BRIDGE_PREFIX + hashlib.sha1(name.encode()).hexdigest()[:11]  # 15 characters at most
        with engine_call(f"create network {name}", "The sandbox's network could not be made."):
            if self.api.networks(names=[name]):
                return
            self.api.create_network(
                name,
                driver="bridge",
                internal=True,
                labels=labels,
                check_duplicate=True,
                options={"com.docker.network.bridge.name": bridge},
            )

    def remove_network(self, name: str) -> None:
        with engine_call(f"remove network {name}", done_if=(GONE,)):
            self.api.remove_network(name)

    # --- work inside -------------------------------------------------------------------------
    def put_file(self, sandbox_id: str, path: str, content: bytes, mode: int = 0o644) -> None:
        directory, _, filename = path.rstrip("/").rpartition("/")
        self._run(sandbox_id, ["mkdir", "-p", directory or "/"])
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(filename)
            info.size = len(content)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(content))
        with engine_call(f"put {path} into {sandbox_id}", "The lab's files could not be placed."):
            self.api.put_archive(sandbox_id, directory or "/", buffer.getvalue())

    def get_archive(self, sandbox_id: str, path: str, max_bytes: int) -> bytes:
        found = None
        with engine_call(f"archive {path} of {sandbox_id}", f"{path} could not be read.", done_if=(GONE,)):
            found = self.api.get_archive(sandbox_id, path)  # 404: no such path (or sandbox)
        if found is None:
            raise SandboxError(f"{path} is not in {sandbox_id}", f"{path} does not exist in the sandbox.")
        stream, _ = found
        chunks, size = [], 0
        for chunk in stream:
            size += len(chunk)
            if size > max_bytes:
                stream.close()
                raise SandboxError(
                    f"archive of {path} passed {max_bytes} bytes",
                    f"{path} holds more than {max_bytes // 2**20} MB; remove large files and try again.",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def exec(self, sandbox_id, script, timeout, on_output=None) -> ExecResult:
        # `timeout` inside stops the script; the deadline below also stops us waiting on a
        # background process that keeps the output open.
        cmd = ["timeout", "-k", "2", str(int(timeout)), "bash", "-c", script]
        return self._run(sandbox_id, cmd, timeout=timeout + 5, on_output=on_output)

    def open_tty(self, sandbox_id: str, rows: int, cols: int) -> Tty:
        with engine_call(f"open tty in {sandbox_id}", "The terminal could not be opened."):
            exec_id = self.api.exec_create(
                sandbox_id,
                ["bash", "-l"],
                stdin=True,
                tty=True,
                workdir="/root",
                environment={"TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)},
            )["Id"]
            sock = self.api.exec_start(exec_id, tty=True, socket=True)
        raw = getattr(sock, "_sock", sock)  # the SDK wraps unix sockets in SocketIO
        raw.setblocking(False)
        tty = DockerTty(self.api, exec_id, raw)
        tty.resize(rows, cols)
        return tty

    def ping(self) -> None:
        with engine_call(f"ping engine {self.host}"):
            self.api.ping()

    def stats(self, sandbox_id: str) -> dict:
        with engine_call(f"stats of {sandbox_id}"):
            s = self.api.stats(sandbox_id, stream=False, one_shot=False)
            limits = self.api.inspect_container(sandbox_id)["HostConfig"]
        now, before = s["cpu_stats"], s["precpu_stats"]
        cpu = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
        system = now.get("system_cpu_usage", 0) - before.get("system_cpu_usage", 0)
        cpus = now.get("online_cpus") or 1
        # CPU periods (100 ms) in the last second, and in how many it was held at its quota
        periods, throttled = (
            (now.get("throttling_data") or {}).get(key, 0) - (before.get("throttling_data") or {}).get(key, 0)
            for key in ("periods", "throttled_periods")
        )
        memory = s["memory_stats"]
        page_cache = memory.get("stats") or {}
        return {
            "cpu_percent": (cpu / system * cpus * 100) if system > 0 else 0.0,
            # as `docker stats` counts it: without the inactive page cache, which the kernel reclaims
            "memory_bytes": max(
                0, memory.get("usage", 0) - page_cache.get("total_inactive_file", page_cache.get("inactive_file", 0))
            ),
            "memory_limit": memory.get("limit", 0),
            "pids": s.get("pids_stats", {}).get("current", 0),
            "pids_limit": max(0, limits.get("PidsLimit") or 0),
            "cpus": (limits.get("NanoCpus") or 0) / 1e9,
            "throttled": throttled / periods if periods > 0 else 0.0,
        }

    def stats_many(self, sandbox_ids: list[str]) -> dict[str, dict]:
        """A local engine's sandboxes read from their cgroups, all in one second (usage.py); the
        engine's API for the rest (a remote engine, a layout usage.py does not know)."""
        found = self._usage.usage(sandbox_ids) if self.local and self._usage.usable else {}
        rest = [sandbox_id for sandbox_id in sandbox_ids if sandbox_id not in found]
        return {**found, **(super().stats_many(rest) if rest else {})}

    def pids_many(self, sandbox_ids: list[str]) -> dict[str, dict]:
        return self._usage.pids(sandbox_ids) if self.local and self._usage.usable else {}

    def set_weight_now(self, sandbox_ids: list[str], weight: int) -> None:
        if self.local and self._usage.usable:
            for sandbox_id in sandbox_ids:
                self._usage.set_weight(sandbox_id, weight)

    @functools.cached_property
    def _usage(self) -> usage.Reader:
        return usage.Reader()

    def set_cpu(self, sandbox_id: str, cpus: float | None, weight: int) -> None:
        # The SDK's update_container has no NanoCpus (what the sandbox was created with, and
        # the only quota the engine accepts alongside it): the API takes it.
        change = {"CpuShares": weight} if cpus is None else {"NanoCpus": int(cpus * 1e9), "CpuShares": weight}
        with engine_call(f"CPU of {sandbox_id}"):
            response = self.api._post_json(self.api._url("/containers/{0}/update", sandbox_id), data=change)
            self.api._raise_for_status(response)

    # --- helpers -------------------------------------------------------------------------------
    def _run(self, sandbox_id, cmd, timeout: float = 30, on_output=None) -> ExecResult:
        """Run cmd without a TTY, demultiplexing Docker's framed output ourselves so a deadline holds."""
        try:
            with engine_call(f"exec in {sandbox_id}"):
                exec_id = self.api.exec_create(sandbox_id, cmd, stdout=True, stderr=True, workdir="/root")["Id"]
                sock = self.api.exec_start(exec_id, socket=True)
        except EngineError as e:
            if e.status == GONE:
                raise SandboxError(str(e), "The sandbox is gone.") from e
            raise
        raw = getattr(sock, "_sock", sock)
        deadline = time.monotonic() + timeout
        output = ExecOutput(on_output)
        buffer = b""
        timed_out = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([raw], [], [], remaining)
                if not ready:
                    continue
                chunk = raw.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= 8:
                    (size,) = struct.unpack(">I", buffer[4:8])
                    if len(buffer) < 8 + size:
                        break
                    output.add(buffer[8 : 8 + size])
                    buffer = buffer[8 + size :]
        finally:
            raw.close()
        printed = output.finish()
        if timed_out:
            return ExecResult(124, printed, timed_out=True)
        with engine_call(f"exec in {sandbox_id}"):
            exit_code = self.api.exec_inspect(exec_id).get("ExitCode")
        if exit_code is None:
            exit_code = -1
        return ExecResult(exit_code, printed, timed_out=exit_code == 124)

    def _tail_logs(self, sandbox_id: str) -> str:
        try:
            with engine_call(f"logs of {sandbox_id}"):
                return self.api.logs(sandbox_id, tail=20).decode("utf-8", "replace")
        except EngineError:
            return "(no logs)"

    # --- the host ------------------------------------------------------------------------------
    def build_images(self, say, only=None, donors=()) -> None:
        say(f"seccomp profile for the docker profile: {profiles.prepare()}")
        images.build_all(self.client, say, only=only, donors=tuple(d.client for d in donors))
