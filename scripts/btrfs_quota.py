"""Which quota accounting Berth's engine file system uses, and switching it to simple quotas.

    python3 scripts/btrfs_quota.py mode PATH     prints off, full or simple
    python3 scripts/btrfs_quota.py simple PATH   turns quotas on in simple mode (kernel >= 6.7)

The per-sandbox disk caps are btrfs quota-group limits. Full accounting walks every extent's
back references on each commit, and it made the engine itself slow: with a few hundred
sandboxes, creating one took seconds of kernel time (docs/benchmarks.md). Simple quotas charge
an extent to the subvolume that wrote it, which is what a cap on a sandbox's own writes needs,
at a fraction of the cost. Debian 12's btrfs-progs cannot enable them, so this asks the kernel.
"""

import fcntl
import os
import struct
import sys
from pathlib import Path

# BTRFS_IOC_QUOTA_CTL = _IOWR(0x94, 40, struct btrfs_ioctl_quota_ctl_args { u64 cmd, status; })
QUOTA_CTL = (3 << 30) | (16 << 16) | (0x94 << 8) | 40
DISABLE, ENABLE_SIMPLE = 2, 4
# BTRFS_IOC_FS_INFO = _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args), 1024 bytes
FS_INFO = (2 << 30) | (1024 << 16) | (0x94 << 8) | 31


def ioctl(path: str, request: int, argument: bytes) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return fcntl.ioctl(fd, request, argument)
    finally:
        os.close(fd)


def uuid_of(path: str) -> str:
    """The file system's UUID, as /sys/fs/btrfs names it."""
    u = ioctl(path, FS_INFO, bytes(1024))[16:32].hex()  # after max_id and num_devices
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"


def mode(path: str) -> str:
    sysfs = Path("/sys/fs/btrfs") / uuid_of(path) / "qgroups"
    if not sysfs.exists():
        return "off"
    kind = (sysfs / "mode").read_text().strip() if (sysfs / "mode").exists() else "qgroup"
    return "simple" if kind == "squota" else "full"


def quota_ctl(path: str, command: int) -> None:
    ioctl(path, QUOTA_CTL, struct.pack("QQ", command, 0))


def enable_simple(path: str) -> None:
    if mode(path) == "full":
        quota_ctl(path, DISABLE)
    quota_ctl(path, ENABLE_SIMPLE)


if __name__ == "__main__":
    action, target = sys.argv[1], sys.argv[2]
    if action == "mode":
        print(mode(target))
    elif action == "simple":
        try:
            enable_simple(target)
        except OSError as e:  # an older kernel: the caller falls back to full accounting
            sys.exit(f"simple quotas unavailable on {target}: {e}")
    else:
        sys.exit(__doc__)
