"""What the sandboxes of a local engine use, read from their cgroups: the same figures as the
engine's stats API (backends/base.py, SandboxBackend.stats), for all of them at once.

The API answers for one container at a time and waits a second between its two readings, so a
host of a few hundred sandboxes took minutes to sample; here every sandbox is read, one wait
is made for all, and every sandbox is read again. That makes the host's sampler cheap enough
to run every few seconds, which is how soon a fork bomb loses its weight (sandboxes/pressure.py).
Only the cgroupfs layouts the engine makes (`docker/<id>`, or systemd's `docker-<id>.scope`)
are known; a sandbox found in neither is left to the API.

One figure the API has not: how much CPU a sandbox *wants* ("cpu_demand", 100 = one CPU): the
time its threads ran plus the time they waited for a CPU (/proc/<tid>/schedstat). On a full host a
miner gets less than its quota, and one whose weight was lowered gets next to nothing; what it
uses then says little, what it waits for says it is still there.
"""

import time
from pathlib import Path

from sandboxes.backends.docker.cgroups import hierarchies, places

UNLIMITED = 1 << 60  # at or above this a v1 limit file means "no limit"
# A sandbox with more threads than this is not asked what it wants: it is past its share of its
# process cap anyway (sandboxes/pressure.py holds it for that), and a fork bomb's 2,048 threads took
# 0.1 s to read, twice a sample, eight bombs most of a second of the host's CPU every 5 s.
DEMAND_THREADS = 512


def number(path: Path) -> int:
    text = path.read_text().split()[0]
    return UNLIMITED if text == "max" else int(text)


def keyed(path: Path) -> dict[str, int]:
    """A flat keyed file (cpu.stat, memory.stat) as numbers."""
    return {key: int(value) for key, value in (line.split() for line in path.read_text().splitlines())}


class Reader:
    """Reads the cgroups of this machine's containers; which files depends on v1 or v2."""

    def __init__(self, mountinfo: Path = Path("/proc/self/mountinfo")):
        mounts = hierarchies(mountinfo)
        self.v2 = mounts.get(frozenset())
        by_controller = {name: path for key, path in mounts.items() for name in key}
        self.v1 = {name: by_controller.get(name) for name in ("pids", "cpu", "cpuacct", "memory")}
        if all(self.v1.values()):
            self.v2 = None  # a hybrid host: the controllers are on v1

    @property
    def usable(self) -> bool:
        return bool(self.v2) or all(self.v1.values())

    def directories(self, container_id: str, only: str = "") -> dict[str, Path] | None:
        """The container's cgroup in each hierarchy read (on v1 `only` that controller's), by
        controller ("" for v2's single one); None when one is not found (gone, or where the
        engine's layouts do not put it)."""
        found = {}
        roots = {"": self.v2} if self.v2 else {only: self.v1[only]} if only else self.v1
        for controller, root in roots.items():
            found[controller] = next((root / p for p in places(container_id) if (root / p).is_dir()), None)
            if found[controller] is None:
                return None
        return found

    def counters(self, dirs: dict[str, Path]) -> dict | None:
        """One reading of a container's cgroups (`directories`); None when they went meanwhile."""
        try:
            if self.v2:
                d = dirs[""]
                cpu = keyed(d / "cpu.stat")
                quota, period = (d / "cpu.max").read_text().split()
                memory = keyed(d / "memory.stat")
                return {
                    "cpu_ns": cpu["usage_usec"] * 1000,
                    "periods": cpu.get("nr_periods", 0),
                    "throttled": cpu.get("nr_throttled", 0),
                    "quota": (int(quota) / int(period)) if quota != "max" else 0.0,
                    "pids": number(d / "pids.current"),
                    "pids_limit": number(d / "pids.max"),
                    "memory": number(d / "memory.current") - memory.get("inactive_file", 0),
                    "memory_limit": number(d / "memory.max"),
                }
            pids, cpu, cpuacct, mem = (dirs[name] for name in ("pids", "cpu", "cpuacct", "memory"))
            stat = keyed(cpu / "cpu.stat")
            quota = number(cpu / "cpu.cfs_quota_us")
            memory = keyed(mem / "memory.stat")
            return {
                "cpu_ns": number(cpuacct / "cpuacct.usage"),
                "periods": stat.get("nr_periods", 0),
                "throttled": stat.get("nr_throttled", 0),
                "quota": quota / number(cpu / "cpu.cfs_period_us") if 0 < quota < UNLIMITED else 0.0,
                "pids": number(pids / "pids.current"),
                "pids_limit": number(pids / "pids.max"),
                "memory": number(mem / "memory.usage_in_bytes") - memory.get("total_inactive_file", 0),
                "memory_limit": number(mem / "memory.limit_in_bytes"),
            }
        except (OSError, ValueError, KeyError):
            return None  # removed while being read

    def pids(self, container_ids: list[str]) -> dict[str, dict]:
        """Processes and process cap ("pids", "pids_limit": 0 for none) of each container found:
        two small files each, no wait, so the cap watch (sandboxes/pressure.py) can look every second."""
        found = {}
        for cid in container_ids:
            dirs = self.directories(cid, only="pids")
            d = dirs and dirs["" if self.v2 else "pids"]
            try:
                if d:
                    cap = number(d / "pids.max")
                    found[cid] = {"pids": number(d / "pids.current"), "pids_limit": 0 if cap >= UNLIMITED else cap}
            except (OSError, ValueError):
                continue  # removed while being read
        return found

    def threads(self, dirs: dict[str, Path]) -> list[str]:
        """Every thread in the container's cgroup and the cgroups it made (a nested engine's)."""
        root, name = (dirs[""], "cgroup.threads") if self.v2 else (dirs["cpu"], "tasks")
        found = []
        for listing in root.rglob(name):
            try:
                found += listing.read_text().split()
            except OSError:
                continue  # removed meanwhile
        return found

    def usage(self, container_ids: list[str], window: float = 1.0) -> dict[str, dict]:
        """Stats (as SandboxBackend.stats gives them) of each container whose cgroups were found
        at both readings, `window` seconds apart."""
        host_memory = host_memory_bytes()
        located = {cid: dirs for cid in container_ids if (dirs := self.directories(cid))}
        first = {cid: c for cid, dirs in located.items() if (c := self.counters(dirs))}
        threads = {cid: self.threads(located[cid]) for cid in first}
        waited = {cid: scheduled(tids) for cid, tids in threads.items() if len(tids) <= DEMAND_THREADS}
        started = time.monotonic()
        if first:
            time.sleep(window)
        elapsed_ns = (time.monotonic() - started) * 1e9 or 1.0
        found = {}
        for cid, before in first.items():
            now = self.counters(located[cid])
            if now is None:
                continue
            periods = now["periods"] - before["periods"]
            found[cid] = {
                "cpu_percent": max(0, now["cpu_ns"] - before["cpu_ns"]) / elapsed_ns * 100,
                "memory_bytes": max(0, now["memory"]),
                "memory_limit": min(now["memory_limit"], host_memory),
                "pids": now["pids"],
                "pids_limit": 0 if now["pids_limit"] >= UNLIMITED else now["pids_limit"],
                "cpus": now["quota"],
                "throttled": (now["throttled"] - before["throttled"]) / periods if periods > 0 else 0.0,
            }
            if (then := waited.get(cid)) is not None:
                demand = sum(ns - then[tid] for tid, ns in scheduled(list(then)).items())
                found[cid]["cpu_demand"] = max(0, demand) / elapsed_ns * 100
        return found

    def set_weight(self, container_id: str, shares: int) -> bool:
        """The container's CPU weight, written to its cgroup at once (v1 cpu.shares; v2 cpu.weight,
        converted as runc does). False when its cgroup is not found."""
        dirs = self.directories(container_id, only="cpu")
        if not dirs:
            return False
        try:
            if self.v2:
                (dirs[""] / "cpu.weight").write_text(str(1 + ((shares - 2) * 9999) // 262142))
            else:
                (dirs["cpu"] / "cpu.shares").write_text(str(shares))
        except OSError:
            return False  # removed meanwhile
        return True


def scheduled(thread_ids: list[str]) -> dict[str, int]:
    """Nanoseconds each thread has run and waited to run, by thread id (the gone ones left out)."""
    found = {}
    for tid in thread_ids:
        try:
            ran, waited, _slices = Path(f"/proc/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        found[tid] = int(ran) + int(waited)
    return found


def host_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return UNLIMITED
