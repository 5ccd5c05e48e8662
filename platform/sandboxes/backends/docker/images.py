"""Build the lab images from labs/images/ recipes on a Docker engine, with no registry needed.

The recipes start `FROM debian:bookworm-slim`. When that base is missing and cannot be pulled
(no registry reachable, as on air-gapped hosts), it is made with debootstrap from Debian's
package mirror and imported under the same tag. Images of a few static programs start from
`berth/empty`, an imported empty root, not `scratch` (see ensure_empty).
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import docker
import yaml
from django.conf import settings

from sandboxes.backends.docker.errors import GONE, EngineError, engine_call
from toolchain import gobuild

BASE_IMAGE = "debian:bookworm-slim"
EMPTY_IMAGE = "berth/empty:latest"
DEBIAN_MIRROR = "http://deb.debian.org/debian"

Say = Callable[[str], None]


def image_manifest() -> list[dict]:
    path = settings.COURSE_LABS_DIR / "images" / "images.yaml"
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def has_image(client: docker.DockerClient, tag: str) -> bool:
    found = False
    with engine_call(f"inspect image {tag}", done_if=(GONE,)):
        found = bool(client.images.get(tag))
    return found


def ensure_base(client: docker.DockerClient, say: Say, donors: tuple[docker.DockerClient, ...] = ()) -> None:
    if has_image(client, BASE_IMAGE):
        say(f"{BASE_IMAGE}: present")
        return
    for donor in donors:  # another engine of this platform already has it: copy, no rebuild
        if has_image(donor, BASE_IMAGE):
            say(f"{BASE_IMAGE}: copying from another Docker host")
            client.images.load(b"".join(donor.images.get(BASE_IMAGE).save(named=True)))
            return
    try:
        say(f"{BASE_IMAGE}: trying to pull")
        with engine_call(f"pull {BASE_IMAGE}"):
            client.images.pull(BASE_IMAGE)
        return
    except EngineError as e:
        say(f"{BASE_IMAGE}: no registry reachable ({str(e).splitlines()[0][:80]}); building it with debootstrap")
    if not shutil.which("debootstrap"):
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap) and no registry is reachable")
    started = time.monotonic()
    cache = settings.DATA_DIR / "debootstrap-cache"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="berth-rootfs-") as rootfs:
        run_streamed(
            ["debootstrap", "--variant=minbase", f"--cache-dir={cache}", "bookworm", rootfs, DEBIAN_MIRROR],
            say,
        )
        os.chmod(rootfs, 0o755)  # a temporary directory is 0700: "/" must be readable by every user
        slim_down(Path(rootfs))
        say(f"{BASE_IMAGE}: importing the root filesystem")
        import_rootfs(client, Path(rootfs), BASE_IMAGE, changes=['CMD ["bash"]'])
    say(f"{BASE_IMAGE}: built offline in {time.monotonic() - started:.0f} s")


def ensure_empty(client: docker.DockerClient, say: Say) -> None:
    """An image of one empty root directory, for images of static programs. `FROM scratch` would
    do on a plain engine, but on one that remaps users (scripts/lib.sh) the classic builder
    writes what it copies onto scratch as owned by the remapped root (uid 100000), not root,
    into the image itself; a nested engine or a kubelet then cannot unpack it ("failed to
    Lchown ... for UID 100000"). On an imported base the same COPY is owned by root."""
    if has_image(client, EMPTY_IMAGE):
        return
    with tempfile.TemporaryDirectory(prefix="berth-empty-") as root:
        os.chmod(root, 0o755)
        import_rootfs(client, Path(root), EMPTY_IMAGE, as_root=True)
    say(f"{EMPTY_IMAGE}: imported")


def import_rootfs(
    client: docker.DockerClient, rootfs: Path, tag: str, changes: list[str] | None = None, as_root: bool = False
) -> None:
    """Import a directory as a one-layer image: owners as on disk, or every file root's (as_root)."""
    repository, _, name = tag.rpartition(":")
    owners = ["--owner=0", "--group=0"] if as_root else []
    tar = subprocess.Popen(["tar", "-C", str(rootfs), *owners, "-c", "."], stdout=subprocess.PIPE)
    client.api.import_image_from_stream(tar.stdout, repository=repository, tag=name, changes=changes)
    tar.wait()


# What Debian's own slim images leave out: package lists, documentation and translations
# (120 MB of a 200 MB minbase). Later installs skip them too, through dpkg's path-exclude.
SLIM_DPKG_CONFIG = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def slim_down(rootfs: Path) -> None:
    (rootfs / "etc/dpkg/dpkg.cfg.d/berth-slim").write_text(SLIM_DPKG_CONFIG)
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "usr/share/man/*", "usr/share/info/*"):
        for path in rootfs.glob(pattern):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for path in (rootfs / "usr/share/locale").iterdir():
        if path.name != "locale.alias":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in (rootfs / "usr/share/doc").rglob("*"):
        if path.is_file() and path.name != "copyright":
            path.unlink()


def run_streamed(cmd: list[str], say: Say) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        say("  " + line.rstrip())
    if proc.wait() != 0:
        raise RuntimeError(f"{cmd[0]} failed with exit code {proc.returncode}")


def with_versions(entry: dict, versions: dict[str, str]) -> dict:
    """The entry with every "{version:PROGRAM}" in its tag, build arguments and preloads filled
    from labs/images/toolchain.yaml, which pins each program's version once."""

    def fill(text: str) -> str:
        for name, version in versions.items():
            text = text.replace(f"{{version:{name}}}", version)
        if "{version:" in text:
            raise ValueError(f"labs/images/images.yaml: {text!r} names a program toolchain.yaml does not have")
        return text

    return {
        **entry,
        "tag": fill(entry["tag"]),
        "args": {key: fill(str(value)) for key, value in (entry.get("args") or {}).items()},
        "preload": [fill(image) for image in entry["preload"]] if entry.get("preload") is not None else None,
    }


def place_binaries(entry: dict, context: Path, built: dict[str, Path]) -> None:
    """The entry's programs, as Berth built them from their Go modules, into the build context's
    bin/; `entrypoint` (when the entry names one) is a link to the image's main program."""
    target = context / "bin"
    target.mkdir(exist_ok=True)
    for program, names in (entry.get("binaries") or {}).items():
        for name in names:
            shutil.copy2(built[program] / name, target / name)
    if entry.get("entrypoint"):
        (target / "entrypoint").symlink_to(entry["entrypoint"])


def build_image(client: docker.DockerClient, entry: dict, say: Say, built: dict[str, Path] | None = None) -> None:
    recipe = settings.COURSE_LABS_DIR / "images" / entry["recipe"]
    tag = entry["tag"]
    rootfs = entry.get("rootfs")
    build_tag = f"berth/rootfs-{entry['recipe']}:build" if rootfs else tag
    with rebuilding(client, tag, say), tempfile.TemporaryDirectory(prefix="berth-build-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(recipe, context)
        if entry.get("binaries"):
            place_binaries(entry, context, built or {})
        if entry.get("preload") is not None:
            preload = context / "preload"
            preload.mkdir(exist_ok=True)
            for image in entry["preload"]:
                say(f"{tag}: saving {image} for preloading")
                with open(preload / (image.replace("/", "_").replace(":", "_") + ".tar"), "wb") as f:
                    for chunk in client.images.get(image).save(named=True):
                        f.write(chunk)
        # On the engine's default bridge, which only builds use (sandboxes have no network or a
        # session network of their own); the host's network is refused on an engine that remaps
        # users, and Berth's engine gets NAT for that bridge from scripts/lib.sh.
        run_build(
            client, tag, say, path=str(context), tag=build_tag, buildargs=entry.get("args") or None,
            labels={"berth.recipe": entry["recipe"]},
        )  # fmt: skip
        if rootfs:
            changes = [*rootfs.get("changes", []), f"LABEL berth.recipe={entry['recipe']}"]
            import_built_rootfs(client, build_tag, rootfs["path"], tag, changes)


@contextmanager
def rebuilding(client: docker.DockerClient, tag: str, say: Say) -> Iterator[None]:
    """Around a build of `tag`: its time said, and the image it replaced forgotten."""
    started = time.monotonic()
    before = image_id(client, tag)
    yield
    say(f"{tag}: built in {time.monotonic() - started:.1f} s")
    if before and before != image_id(client, tag):
        forget_replaced(client, before)


def run_build(client: docker.DockerClient, name: str, say: Say, **build) -> None:
    """`docker build` with `build`'s arguments, its output said line by line as `name`'s."""
    try:
        for event in client.api.build(rm=True, forcerm=True, decode=True, **build):
            if "stream" in event and event["stream"].strip():
                say(f"{name}: {event['stream'].rstrip()}")
            if "error" in event:
                raise RuntimeError(f"building {name} failed: {event['error'].strip()}")
    except docker.errors.APIError as e:  # refused before it began (its URL holds every argument)
        raise RuntimeError(f"building {name} failed: {e.explanation}") from None


def import_built_rootfs(client: docker.DockerClient, built: str, path: str, tag: str, changes: list[str]) -> None:
    """The directory `path` of the image `built`, imported as the one-layer image `tag` (a recipe's
    `rootfs`), every file root's. `FROM scratch` + `COPY` gives one layer too, but on an engine
    that remaps users that layer is owned by the remapped root (see ensure_empty), and so is
    what the engine's archive of a container gives: hence the copy through a directory here."""
    container = client.containers.create(built, command=["true"], network_disabled=True)
    try:
        chunks, _ = container.get_archive(path.rstrip("/") + "/.")  # "/.": the contents, not the directory
        with tempfile.TemporaryDirectory(prefix="berth-rootfs-") as root:
            tar = subprocess.Popen(["tar", "-x", "-C", root], stdin=subprocess.PIPE)
            assert tar.stdin is not None
            for chunk in chunks:
                tar.stdin.write(chunk)
            tar.stdin.close()
            if tar.wait() != 0:
                raise RuntimeError(f"unpacking {path} of {built} failed")
            os.chmod(root, 0o755)
            import_rootfs(client, Path(root), tag, changes, as_root=True)
    finally:
        container.remove(force=True)
    client.images.remove(built)


def image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def forget_replaced(client: docker.DockerClient, old_id: str) -> None:
    """The image a rebuild replaced, untagged now: removed, or every rebuild of a node image
    (2-3 GB) would stay on the engine's disk. One a sandbox still runs on stays until it goes."""
    try:
        client.images.remove(old_id, noprune=False)
    except docker.errors.APIError:
        pass  # still used by a container, or tagged elsewhere


def build_all(
    client: docker.DockerClient, say: Say, only: list[str] | None = None, donors: tuple[docker.DockerClient, ...] = ()
) -> None:
    versions = {program.name: program.version for program in gobuild.load_spec() if program.version}
    entries = [with_versions(e, versions) for e in image_manifest() if not only or e["recipe"] in only]
    # The Go programs (cached after the first build: see platform/toolchain/gobuild.py) compile
    # while the images that hold none of them are built: a cold first run overlaps the two.
    programs = sorted({name for entry in entries for name in entry.get("binaries") or {}})
    with ThreadPoolExecutor(max_workers=1) as go, engine_call("build the lab images"):
        compiling = go.submit(gobuild.build, programs, say) if programs else None
        ensure_base(client, say, donors)
        ensure_empty(client, say)
        for entry in entries:
            if not entry.get("binaries"):
                build_image(client, entry, say)
        built = compiling.result() if compiling else {}
        for entry in entries:
            if entry.get("binaries"):
                build_image(client, entry, say, built)


# Berth's own images (the repository's Dockerfile: target -> tag), for a cluster that runs the
# platform and reaches no registry (docs/kubernetes.md): built on the Debian base made above.
PLATFORM_IMAGES = {"postgres": "berth/postgres:15", "platform": "berth/platform:latest"}


def build_platform(client: docker.DockerClient, say: Say) -> list[str]:
    ensure_base(client, say)
    extra_cas = "".join(p.read_text() for p in sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt")))
    bases = {
        "NODE_IMAGE": BASE_IMAGE,
        "PYTHON_IMAGE": BASE_IMAGE,
        "DEBIAN_IMAGE": BASE_IMAGE,
        "EXTRA_CA_CERTS": extra_cas,
    }
    for target, tag in PLATFORM_IMAGES.items():
        with rebuilding(client, tag, say):
            run_build(client, tag, say, path=str(settings.BASE_DIR), target=target, tag=tag, buildargs=bases)
    return list(PLATFORM_IMAGES.values())
