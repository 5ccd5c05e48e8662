"""The seccomp profile of the `docker` sandbox profile.

It is Docker's own default profile (from Debian's docker source package, fetched at set-up time,
never copied into this repository) plus the key-management calls that a nested runc needs
("unable to join session keyring" otherwise). The result is cached under DATA_DIR.
"""

import json
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

DEBIAN_PACKAGE = "golang-github-docker-docker-dev"
PROFILE_IN_PACKAGE = "usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"
# keyctl: runc joins a session keyring; pivot_root: runc enters each nested container's rootfs
# (Docker 20.10's default profile does not allow it even with CAP_SYS_ADMIN).
NESTED_ENGINE_SYSCALLS = ["keyctl", "add_key", "request_key", "pivot_root"]
# Never allowed, whatever the capabilities: file handles reach files outside the container.
NEVER_ALLOWED = {"open_by_handle_at", "name_to_handle_at"}


def profile_path() -> Path:
    return settings.DATA_DIR / "seccomp" / "docker-sandbox.json"


def derive(default_profile: dict, granted_caps: set[str]) -> dict:
    """Docker's default profile with its capability conditions settled for `granted_caps`, plus
    the nested-engine syscalls.

    Docker resolves a profile's "includes"/"excludes" on capabilities only for its built-in
    default; a custom profile keeps them unresolved, so pivot_root, mount, unshare... would stay
    blocked although the sandbox holds CAP_SYS_ADMIN. We resolve them here instead.
    """
    granted = {"CAP_" + cap.removeprefix("CAP_") for cap in granted_caps}
    profile = json.loads(json.dumps(default_profile))  # a deep copy
    rules = []
    for rule in profile["syscalls"]:
        includes, excludes = rule.get("includes", {}), rule.get("excludes", {})
        if not set(includes.get("caps", [])) <= granted or set(excludes.get("caps", [])) & granted:
            continue
        includes.pop("caps", None)
        excludes.pop("caps", None)
        rule["names"] = [name for name in rule["names"] if name not in NEVER_ALLOWED]
        if rule["names"]:
            rules.append(rule)
    profile["syscalls"] = rules
    profile["syscalls"].append({"names": NESTED_ENGINE_SYSCALLS, "action": "SCMP_ACT_ALLOW", "args": []})
    return profile


def fetch_default_profile() -> dict:
    """Download Debian's docker source package (no install) and read its default profile."""
    with tempfile.TemporaryDirectory(prefix="berth-seccomp-") as tmp:
        download = ["apt-get", "download", DEBIAN_PACKAGE]
        if subprocess.run(download, cwd=tmp, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)  # no package lists yet
            subprocess.run(download, cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        return json.loads((Path(tmp) / "x" / PROFILE_IN_PACKAGE).read_text())


def ensure_profile(granted_caps: set[str]) -> Path:
    """The derived profile for a sandbox holding `granted_caps`, made once."""
    path = profile_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(derive(fetch_default_profile(), granted_caps), indent=1))
    return path


def load_profile() -> str:
    path = profile_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `manage.py build_lab_images` first")
    return path.read_text()
