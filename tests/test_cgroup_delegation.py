"""Handing a remapped sandbox its own cgroups (sandboxes/backends/docker/cgroups.py), on a copy of
/proc and /sys/fs/cgroup laid out as cgroup v1 with a v2 hierarchy beside it (this host's kind).
The whole path on a live engine that remaps users: tests/test_isolation.py."""

import os

import pytest

from sandboxes.backends.docker import cgroups

CONTAINER = "c0ffee" * 10 + "abcd"
MOUNTINFO = """\
31 23 0:28 / {root}/sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / {root}/sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
33 31 0:30 / {root}/sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / {root}/sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
35 31 0:32 / {root}/sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
"""


@pytest.fixture
def host(tmp_path):
    """A process 42 in container CONTAINER's cgroups, its files made by the host's root."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(MOUNTINFO.format(root=tmp_path))
    (proc / "42").mkdir()
    (proc / "42" / "cgroup").write_text(
        f"4:memory:/docker/{CONTAINER}\n3:cpu,cpuacct:/docker/{CONTAINER}\n"
        f"1:name=systemd:/docker/{CONTAINER}\n0::/\n"
    )
    cgroup = tmp_path / "sys" / "fs" / "cgroup"
    for hierarchy, files in [
        ("memory", ["cgroup.procs", "tasks", "memory.limit_in_bytes"]),
        ("cpu,cpuacct", ["cgroup.procs", "tasks", "cpu.cfs_quota_us"]),
        ("systemd", ["cgroup.procs", "tasks"]),
    ]:
        directory = cgroup / hierarchy / "docker" / CONTAINER
        directory.mkdir(parents=True)
        for name in files:
            (directory / name).write_text("")
    (cgroup / "unified").mkdir()
    (cgroup / "unified" / "cgroup.procs").write_text("")
    return proc, cgroup


def remap(proc, uid=100000, gid=100000):
    (proc / "42" / "uid_map").write_text(f"         0     {uid}      65536\n")
    (proc / "42" / "gid_map").write_text(f"         0     {gid}      65536\n")


def owner(path):
    return os.stat(path).st_uid, os.stat(path).st_gid


def test_the_container_s_own_directories_and_process_files_are_handed_over_not_its_limits(host):
    proc, cgroup = host
    remap(proc, 100000, 100001)
    handed = cgroups.delegate(42, CONTAINER, proc)
    assert sorted(p.relative_to(cgroup).parts[0] for p in handed) == ["cpu,cpuacct", "memory", "systemd"]
    own = cgroup / "memory" / "docker" / CONTAINER
    assert owner(own) == owner(own / "cgroup.procs") == owner(own / "tasks") == (100000, 100001)
    assert owner(own / "memory.limit_in_bytes") == (0, 0)  # the sandbox may not raise its own cap
    assert owner(cgroup / "cpu,cpuacct" / "docker" / CONTAINER / "cpu.cfs_quota_us") == (0, 0)
    # never a parent or a hierarchy's root: the v2 line names "/", which is not the container's
    assert owner(cgroup / "memory" / "docker") == owner(cgroup / "unified") == (0, 0)
    assert owner(cgroup / "unified" / "cgroup.procs") == (0, 0)


def test_a_sandbox_that_is_not_remapped_is_left_alone(host):
    proc, cgroup = host
    (proc / "42" / "uid_map").write_text("         0          0 4294967295\n")
    (proc / "42" / "gid_map").write_text("         0          0 4294967295\n")
    assert cgroups.delegate(42, CONTAINER, proc) == []
    assert owner(cgroup / "memory" / "docker" / CONTAINER / "cgroup.procs") == (0, 0)


def test_hierarchies_are_keyed_as_proc_pid_cgroup_names_them(host):
    proc, cgroup = host
    found = cgroups.hierarchies(proc / "self" / "mountinfo")
    assert found[frozenset({"memory"})] == cgroup / "memory"
    assert found[frozenset({"cpu", "cpuacct"})] == cgroup / "cpu,cpuacct"
    assert found[frozenset({"name=systemd"})] == cgroup / "systemd"  # xattr is an option, not a controller
    assert found[frozenset()] == cgroup / "unified"
