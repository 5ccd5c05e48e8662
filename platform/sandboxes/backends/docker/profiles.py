"""How each sandbox profile becomes container settings (PRODUCT.md, "Profiles").

standard: Docker's default capabilities minus the risky ones, no-new-privileges, memory / CPU /
PID limits, no network (or the session's private internal network), no host mounts, no socket.

docker: a nested Docker engine. All capabilities minus those that reach the host kernel, a
private cgroup namespace whose hierarchies the sandbox mounts itself, a seccomp profile derived
from Docker's default that also allows keyctl, /var/lib/docker on a per-sandbox volume. Never
--privileged, never a host bind mount, never the host's Docker socket.
"""

from pathlib import Path

from docker.types import Mount

from sandboxes.backends.base import SandboxSpec
from sandboxes.backends.docker import seccomp

STANDARD_CAPS_DROPPED = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SYS_CHROOT"]

HOST_KERNEL_CAPS = [
    "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME", "SYS_RESOURCE", "MAC_ADMIN", "MAC_OVERRIDE",
    "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_CONTROL", "SYS_PACCT", "LINUX_IMMUTABLE",
    # open_by_handle_at ("shocker") reads any file of the host's file system by handle; a nested
    # engine does not need it (tests/test_isolation.py tries it).
    "DAC_READ_SEARCH",
]  # fmt: skip


# Every capability the kernel knows (capability(7)), for settling the seccomp profile's conditions.
ALL_CAPS = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]  # fmt: skip


def docker_profile_caps() -> set[str]:
    return set(ALL_CAPS) - set(HOST_KERNEL_CAPS)


def prepare() -> Path:
    """What the profiles need on the worker before a sandbox starts: the docker profile's seccomp file."""
    return seccomp.ensure_profile(docker_profile_caps())


def engine_volume_name(spec_name: str) -> str:
    return f"{spec_name}-engine"


# Profiles whose sandboxes make cgroups of their own (a nested engine, a kubelet): on an engine
# that remaps users they are handed their cgroups at each start (cgroups.py); others never are.
NESTING = ("docker", "kubernetes")
PROFILE_LABEL = "berth.profile"


def container_config(spec: SandboxSpec) -> dict:
    """Keyword arguments for the low-level create_container() (everything but the host config)."""
    return {
        "image": spec.image,
        "name": spec.name,
        "hostname": spec.hostname,
        "labels": {**spec.labels, PROFILE_LABEL: spec.profile},
        "environment": {"TERM": "xterm-256color", "BERTH_NODE": spec.hostname, **spec.env},
    }


def host_config(spec: SandboxSpec, docker_runtime: str | None = None, disk_quota: bool = False) -> tuple[dict, dict]:
    """(create_host_config() keyword arguments, raw HostConfig fields the SDK has no argument for).

    disk_quota: the engine can cap a container's file system (btrfs; overlay2 on xfs with
    pquota). Then the sandbox's whole disk is capped, and a Docker-day sandbox keeps its inner
    engine's data inside that cap; otherwise the inner engine needs a volume (overlay2 cannot
    stack on overlay2) and only memory, CPU and PIDs are capped."""
    memory = f"{spec.memory_mb}m"
    raw: dict = {}
    options = {
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap: a memory hog meets the OOM killer inside its own cgroup
        "nano_cpus": int(spec.cpus * 1e9),
        "pids_limit": spec.pids,
        "network_mode": spec.network or "none",
        "log_config": {"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}},
        # No name server answers from a sandbox: a lookup of an unknown name should fail in a
        # second, not after glibc's 5 s x 2 tries (nested containers copy these options).
        "dns_opt": ["timeout:1", "attempts:1"],
        # Nor the host's search domains, which nested containers would inherit and ask in turn: a
        # sandbox resolves the same on every host, and as one that is a pod (berth-pod-dns).
        "dns_search": ["."],
    }
    if disk_quota:
        options["storage_opt"] = {"size": f"{spec.disk_mb}M"}
    if spec.profile == "standard":
        options.update(
            cap_drop=STANDARD_CAPS_DROPPED,
            security_opt=["no-new-privileges:true"],
            tmpfs={"/run": "rw,nosuid,nodev,size=16m"},
        )
    elif spec.profile in ("docker", "kubernetes"):  # a nested engine, or containerd and a kubelet
        options.update(
            cap_add=["ALL"],
            cap_drop=HOST_KERNEL_CAPS,
            security_opt=[
                "seccomp=" + seccomp.load_profile(),
                "no-new-privileges:true",
            ],
            cgroupns="private",
            tmpfs={"/run": "rw,nosuid,nodev,exec,size=64m", "/tmp": "rw,nosuid,nodev,exec,size=512m"},
        )
        if not disk_quota and spec.profile == "docker":  # overlay2 cannot stack on overlay2: a volume
            options["mounts"] = [
                Mount("/var/lib/docker", engine_volume_name(spec.name), type="volume", labels=spec.labels)
            ]
        # What the CLI calls --security-opt systempaths=unconfined: the sandbox mounts its own
        # cgroup hierarchies and the inner engine needs /proc unmasked for its containers.
        raw.update(MaskedPaths=[], ReadonlyPaths=[])
        if docker_runtime:
            options["runtime"] = docker_runtime
    else:
        raise ValueError(f"unknown sandbox profile {spec.profile!r}")
    return options, raw
