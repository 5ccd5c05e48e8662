"""Hand a user-namespaced sandbox its own cgroups, so its inner engine or kubelet can make child
cgroups (nested containers, their limits, pause) while the sandbox's own limits stay the host's.

On an engine run with `--userns-remap`, a sandbox's root is an unprivileged uid of the host
(100000 or so). The engine makes the sandbox's cgroup directories owned by the host's root, so
the sandbox could not create anything under them: its first nested container fails with
`mkdir /sys/fs/cgroup/cpuset/docker: permission denied`. Handing over the directory and the
files that move processes (not the limit files: writing memory.limit_in_bytes or pids.max stays
refused) is what systemd calls delegation. The host does it right after each start (fresh, warm
pool, resume); berth-cgroups in the image waits for it. docs/isolation-runtimes.md has the
measurement behind this."""

import os
from pathlib import Path


def places(container_id: str) -> tuple[str, ...]:
    """Where, under a hierarchy's root, the engine puts a container's cgroup: the cgroupfs
    driver's `docker/<id>`, or systemd's `docker-<id>.scope`."""
    return (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope")


# Files of a cgroup directory that let its owner move processes into children it makes.
HANDED_OVER = {"v1": ("cgroup.procs", "tasks"), "v2": ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control")}


def root_of_namespace(map_file: Path) -> int:
    """The host id that id 0 of a process's user namespace maps to (0 when not remapped)."""
    for line in map_file.read_text().splitlines():
        inside, outside, _count = line.split()
        if inside == "0":
            return int(outside)
    raise OSError(f"{map_file}: no mapping for id 0")


# Mount options of a v1 hierarchy that are not controllers.
NOT_CONTROLLERS = {"rw", "ro", "xattr", "clone_children", "noprefix", "cpuset_v2_mode", "favordynmods"}


def hierarchies(mountinfo: Path = Path("/proc/self/mountinfo")) -> dict[frozenset[str], Path]:
    """Where this host mounts each cgroup hierarchy, keyed like /proc/PID/cgroup names them:
    v1 by its controllers (or `name=...`), v2 by the empty set."""
    found = {}
    for line in mountinfo.read_text().splitlines():
        before, _, after = line.partition(" - ")
        fstype, _source, options = after.split(" ", 2)
        mountpoint = Path(before.split(" ")[4])
        if fstype == "cgroup2":
            found.setdefault(frozenset(), mountpoint)
        elif fstype == "cgroup":
            names = {o for o in options.split(",") if o not in NOT_CONTROLLERS}
            found.setdefault(frozenset(o for o in names if "=" not in o or o.startswith("name=")), mountpoint)
    return found


def delegate(pid: int, container_id: str, proc: Path = Path("/proc")) -> list[Path]:
    """Hand the cgroups of process `pid` (the init of container `container_id`) to the root of
    its user namespace. Only directories named for that container are touched, never a
    hierarchy's root or a parent. Returns the directories handed over; none when the process
    is not remapped."""
    uid = root_of_namespace(proc / str(pid) / "uid_map")
    gid = root_of_namespace(proc / str(pid) / "gid_map")
    if uid == 0:
        return []
    mounts = hierarchies(proc / "self" / "mountinfo")
    handed = []
    for line in (proc / str(pid) / "cgroup").read_text().splitlines():
        _number, controllers, path = line.split(":", 2)
        key = frozenset(controllers.split(",")) if controllers else frozenset()
        if key not in mounts or container_id not in path.rsplit("/", 1)[-1]:
            continue  # not mounted here, or not the container's own directory
        directory = mounts[key] / path.lstrip("/")
        for target in (directory, *(directory / name for name in HANDED_OVER["v1" if controllers else "v2"])):
            if target.exists():
                os.chown(target, uid, gid)
        handed.append(directory)
    return handed
