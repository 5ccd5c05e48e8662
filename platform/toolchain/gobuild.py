"""Build pinned Go programs from the Go module proxy into a cache (Django-free).

The spec (labs/images/toolchain.yaml) lists programs: a Go module at an exact version and the
main packages to build from it. Each program is built in a generated *wrapper module* (a
go.mod of our own in the cache that requires the pinned module), so nothing third-party is ever
copied into the repository. Two things the wrapper can take from the module itself, read from
the module cache at build time:

- ``inherit_replaces``: the module's own ``replace`` lines (a dependency's replaces are ignored
  by Go). A replacement by a local path (k8s.io/kubernetes's ``./staging/src/k8s.io/api``) becomes
  the published module of the same path at ``local_replace_version`` (``v0.{minor}.{patch}``).
- ``requires_from: vendor.mod``: for ``+incompatible`` modules with no go.mod (docker/cli,
  docker/docker), their ``vendor.mod`` requirements and replaces.

Results land in ``<data>/toolchain/<name>-<version>/`` (``<data>`` is BERTH_BUILD_CACHE, which
the scripts set to /var/cache/berth, else BERTH_DATA_DIR, default <repo>/var) with a stamp
holding the spec hash: the next run with the same spec and Go says "cached" and builds nothing.
GOPATH and GOMODCACHE live under ``<data>/go/``. Each program compiles with a build cache of its
own (``<data>/go/cache/<name>-<version>``), removed once the program is built: all of them kept
came to 16 GB, more than a CI machine's disk had free, and programs share almost no compiled
package (their dependencies differ in version). A failed build keeps its cache, so the retry is
incremental; BERTH_GO_KEEP_BUILD_CACHE=1 keeps every cache.

CLI: ``python platform/toolchain/gobuild.py [--list] [--force] [--keep-going] [NAME ...]``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO / "labs" / "images" / "toolchain.yaml"
STAMP = "berth-build.json"
HEARTBEAT_SECONDS = 30

Say = Callable[[str], None]


class SpecError(ValueError):
    """The spec file is malformed; the message names file and field."""


class BuildError(RuntimeError):
    def __init__(self, program: str, package: str, command: list[str], output: str):
        self.program, self.package, self.command, self.output = program, package, command, output
        tail = "\n".join(output.strip().splitlines()[-25:])
        super().__init__(f"{program}: building {package} failed\n$ {' '.join(command)}\n{tail}")


# --- the spec ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Package:
    path: str  # import path of a main package (or ./relative for a local program)
    output: str  # binary name


@dataclass(frozen=True)
class Program:
    name: str
    packages: tuple[Package, ...]
    module: str = ""  # a module from the proxy ...
    version: str = ""
    path: str = ""  # ... or a module of our own in this repository (relative to the repo)
    cgo: bool = False
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    replace: tuple[str, ...] = ()
    inherit_replaces: bool = False
    local_replace_version: str = ""
    requires_from: str = ""  # "" or "vendor.mod"
    notes: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}" if self.version else self.name


_KEYS = {
    "name",
    "module",
    "version",
    "path",
    "packages",
    "cgo",
    "tags",
    "ldflags",
    "env",
    "replace",
    "inherit_replaces",
    "local_replace_version",
    "requires_from",
    "notes",
}


def load_spec(path: Path | str = DEFAULT_SPEC) -> list[Program]:
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("programs") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SpecError(f"{path}: programs: a list of programs is required")
    programs, seen = [], set()
    for i, raw in enumerate(entries):
        where = f"{path}: programs[{i}]"
        if not isinstance(raw, dict):
            raise SpecError(f"{where}: a mapping is required")
        unknown = set(raw) - _KEYS
        if unknown:
            raise SpecError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        name = str(raw.get("name") or "")
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
            raise SpecError(f"{where}.name: required, lower-case letters, digits, '.', '_' or '-'")
        where = f"{path}: {name}"
        if name in seen:
            raise SpecError(f"{where}.name: duplicate")
        seen.add(name)
        module, version, local = (str(raw.get(k) or "") for k in ("module", "version", "path"))
        if bool(module) == bool(local):
            raise SpecError(f"{where}: exactly one of module (with version) or path is required")
        if module and not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+incompatible)?", version):
            raise SpecError(f"{where}.version: an exact version such as v1.2.3 is required")
        pkgs = []
        for j, p in enumerate(raw.get("packages") or []):
            if isinstance(p, str):
                p = {"package": p}
            if not isinstance(p, dict) or not p.get("package"):
                raise SpecError(f"{where}.packages[{j}]: a package path (or {{package, output}}) is required")
            pkg = str(p["package"])
            if module and not (pkg == module or pkg.startswith(module + "/")):
                raise SpecError(f"{where}.packages[{j}]: {pkg} is not inside module {module}")
            out = str(p.get("output") or pkg.rstrip("/").rsplit("/", 1)[-1])
            if local and pkg in (".", "./"):
                out = str(p.get("output") or name)
            pkgs.append(Package(pkg, out))
        if not pkgs:
            raise SpecError(f"{where}.packages: at least one package is required")
        outputs = [p.output for p in pkgs]
        if len(set(outputs)) != len(outputs):
            raise SpecError(f"{where}.packages: two packages give the same binary name")
        requires_from = str(raw.get("requires_from") or "")
        if requires_from not in ("", "vendor.mod"):
            raise SpecError(f"{where}.requires_from: only vendor.mod is known")
        env = raw.get("env") or {}
        if not isinstance(env, dict):
            raise SpecError(f"{where}.env: a mapping is required")
        for key in ("tags", "ldflags", "replace"):
            if not isinstance(raw.get(key) or [], list):
                raise SpecError(f"{where}.{key}: a list is required")
        for r in raw.get("replace") or []:
            if "=>" not in str(r):
                raise SpecError(f"{where}.replace: {r!r} is not 'old [v] => new [v]'")
        programs.append(
            Program(
                name=name,
                module=module,
                version=version,
                path=local,
                packages=tuple(pkgs),
                cgo=bool(raw.get("cgo", False)),
                tags=tuple(str(t) for t in raw.get("tags") or []),
                ldflags=tuple(str(f) for f in raw.get("ldflags") or []),
                env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
                replace=tuple(str(r) for r in raw.get("replace") or []),
                inherit_replaces=bool(raw.get("inherit_replaces", False)),
                local_replace_version=str(raw.get("local_replace_version") or ""),
                requires_from=requires_from,
                notes=str(raw.get("notes") or ""),
            )
        )
    return programs


# --- go.mod reading and the wrapper module -----------------------------------------------------
@dataclass
class GoMod:
    module: str = ""
    go: str = ""
    godebug: list[str] = field(default_factory=list)
    require: list[tuple[str, str]] = field(default_factory=list)
    replace: list[tuple[str, str]] = field(default_factory=list)  # ("old [v]", "new [v]")
    exclude: list[str] = field(default_factory=list)


def parse_gomod(text: str) -> GoMod:
    """Read the directives that matter here from go.mod (or vendor.mod) text."""
    mod, block = GoMod(), None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
                continue
            verb, rest = block, line
        else:
            verb, _, rest = line.partition(" ")
            rest = rest.strip()
            if rest == "(":
                block = verb
                continue
        if verb == "module":
            mod.module = rest.strip('"')
        elif verb == "go":
            mod.go = rest
        elif verb == "godebug":
            mod.godebug.append(rest)
        elif verb == "require":
            parts = rest.split()
            if len(parts) >= 2:
                mod.require.append((parts[0], parts[1]))
        elif verb == "replace":
            old, _, new = rest.partition("=>")
            mod.replace.append((" ".join(old.split()), " ".join(new.split())))
        elif verb == "exclude":
            mod.exclude.append(" ".join(rest.split()))
    return mod


def template_vars(program: Program, commit: str = "", date: str = "") -> dict[str, str]:
    m = re.match(r"v(\d+)\.(\d+)\.(\d+)", program.version or "")
    major, minor, patch = m.groups() if m else ("0", "0", "0")
    plain = re.sub(r"\+incompatible$", "", program.version or "")
    return {
        "version": plain,  # v1.36.3 (without +incompatible)
        "bare_version": plain.lstrip("v"),  # 1.36.3
        "major": major,
        "minor": minor,
        "patch": patch,
        "module": program.module,
        "commit": commit,
        "date": date,
    }


def wrapper_gomod(
    program: Program, module_gomod: str | None, vendor_mod: str | None = None, go_version: str = "1.26"
) -> str:
    """The go.mod of the generated wrapper module that builds `program`.

    module_gomod is the pinned module's own go.mod text (None for a +incompatible module),
    vendor_mod its vendor.mod text where the spec asks for it.
    """
    own = parse_gomod(module_gomod) if module_gomod else GoMod()
    vend = parse_gomod(vendor_mod) if vendor_mod else None
    tv = template_vars(program)
    go = own.go or (vend.go if vend else "") or go_version
    lines = [
        "// Generated by platform/toolchain/gobuild.py: do not edit, do not commit.",
        f"module berth.local/toolchain/{program.name}",
        "",
        f"go {go}",
    ]
    for g in own.godebug:
        lines.append(f"godebug {g}")
    requires = [(program.module, program.version)]
    if vend:
        requires += [(p, v) for p, v in vend.require if p != program.module]
    lines += ["", "require ("] + [f"\t{p} {v}" for p, v in requires] + [")"]

    # Replaces keyed by what they replace: the module's own (or vendor.mod's), then the spec's,
    # which win over an inherited one of the same path.
    explicit = {}
    for r in program.replace:
        old, _, new = r.partition("=>")
        explicit[" ".join(old.split())] = " ".join(new.format(**tv).split())
    overridden = {o.split()[0] for o in explicit}
    replaces: dict[str, str] = {}
    inherited = (own.replace if program.inherit_replaces else []) + (vend.replace if vend else [])
    for old, new in inherited:
        if old.split()[0] not in overridden:
            o, n = _inherited(old, new, program, tv)
            replaces[o] = n
    replaces.update(explicit)
    if replaces:
        width = max(len(o) for o in replaces)
        lines += ["", "replace ("] + [f"\t{o.ljust(width)} => {n}" for o, n in replaces.items()] + [")"]
    excludes = own.exclude if program.inherit_replaces else []
    if excludes:
        lines += ["", "exclude ("] + [f"\t{e}" for e in excludes] + [")"]
    return "\n".join(lines) + "\n"


def _inherited(old: str, new: str, program: Program, tv: dict[str, str]) -> tuple[str, str]:
    target = new.split()
    if target and (target[0].startswith("./") or target[0].startswith("../")):
        # A local directory inside the module (k8s staging): the published module of that path.
        if not program.local_replace_version:
            raise SpecError(
                f"{program.name}: {program.module} replaces {old} with the local path {new}; "
                "set local_replace_version (e.g. v0.{minor}.{patch})"
            )
        path = old.split()[0]
        return (path, f"{path} {program.local_replace_version.format(**tv)}")
    return (old, new)


# --- the environment ---------------------------------------------------------------------------
def data_dir() -> Path:
    """Where programs are built and kept: BERTH_BUILD_CACHE when set (scripts/lib.sh sets a
    directory of the machine, so every checkout on it, a CI clone too, shares one build of each
    program), else the install's data directory."""
    return Path(os.environ.get("BERTH_BUILD_CACHE") or os.environ.get("BERTH_DATA_DIR") or REPO / "var")


def go_binary() -> str:
    for candidate in (os.environ.get("BERTH_GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("no Go toolchain: install Go 1.26 (/usr/local/go/bin/go) or set BERTH_GO")


def go_env(base: Path | None = None, program: Program | None = None) -> dict[str, str]:
    base = base or data_dir()
    env = dict(os.environ)
    gopath = base / "go"
    env.update(
        GOPATH=str(gopath),
        GOMODCACHE=str(gopath / "pkg" / "mod"),
        GOCACHE=str(build_cache(program, base) if program else gopath / "cache"),
        GOTOOLCHAIN=os.environ.get("BERTH_GOTOOLCHAIN", "local"),
        GOFLAGS="-mod=mod -buildvcs=false",
        GOWORK="off",
    )
    env["PATH"] = str(Path(go_binary()).parent) + os.pathsep + env.get("PATH", "")
    return env


def build_cache(program: Program, base: Path | None = None) -> Path:
    return (base or data_dir()) / "go" / "cache" / program.label


def _go_version(env: dict[str, str]) -> str:
    out = subprocess.run(
        [go_binary(), "env", "GOVERSION", "GOOS", "GOARCH"], env=env, capture_output=True, text=True, check=True
    )
    return " ".join(out.stdout.split())


def spec_hash(program: Program, go_version: str) -> str:
    doc = {"program": asdict(program), "go": go_version}
    if program.path:
        doc["sources"] = _tree_digest(REPO / program.path)
    if program.requires_from:
        doc["recipe"] = "lang-from-vendor.mod"  # see lang_flags()
    blob = json.dumps(doc, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


# --- building ----------------------------------------------------------------------------------
def output_dir(program: Program, base: Path | None = None) -> Path:
    return (base or data_dir()) / "toolchain" / program.label


def _run(cmd: list[str], cwd: Path, env: dict[str, str], say: Say, what: str) -> tuple[int, str]:
    """Run a go command; every HEARTBEAT_SECONDS say that it is still going."""
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        while True:
            try:
                proc.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                say(f"  ... {what} ({time.monotonic() - start:.0f} s)")
        log.seek(0)
        return proc.returncode, log.read()


def _module_info(program: Program, env: dict[str, str], work: Path, say: Say) -> dict:
    cmd = [go_binary(), "mod", "download", "-json", f"{program.module}@{program.version}"]
    code, out = _run(cmd, work, env, say, f"downloading {program.module}@{program.version}")
    try:
        info = json.loads(out[out.index("{") :])
    except ValueError:
        info = {"Error": out}
    if code or info.get("Error"):
        raise BuildError(program.name, program.module, cmd, info.get("Error") or out)
    return info


def _prepare_wrapper(
    program: Program, env: dict[str, str], base: Path, say: Say
) -> tuple[Path, dict[str, str], list[str]]:
    """Write the wrapper module; return its directory, the template values and extra go build flags."""
    work = base / "toolchain" / ".work" / program.label
    work.mkdir(parents=True, exist_ok=True)
    info = _module_info(program, env, work.parent, say)
    gomod = Path(info["GoMod"]).read_text() if info.get("GoMod") else None
    if gomod and parse_gomod(gomod).module != program.module:
        gomod = None  # a synthesized go.mod of a +incompatible module: "module path" only
    vendor, flags = None, []
    if program.requires_from == "vendor.mod":
        vendor_file = Path(info["Dir"]) / "vendor.mod"
        if not vendor_file.exists():
            raise SpecError(f"{program.name}: {program.module}@{program.version} has no vendor.mod")
        vendor = vendor_file.read_text()
        flags += lang_flags(program, vendor)
    text = wrapper_gomod(program, gomod, vendor)
    gomod_path = work / "go.mod"
    if not gomod_path.exists() or _stamp_of(gomod_path) != _digest(text):
        gomod_path.write_text(text)
        (work / ".berth-gomod").write_text(_digest(text))
    commit = (info.get("Origin") or {}).get("Hash", "")
    date = ""
    if info.get("Info") and Path(info["Info"]).exists():
        stamp = json.loads(Path(info["Info"]).read_text()).get("Time", "")
        if stamp:
            date = datetime.fromisoformat(stamp.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%SZ")
        commit = commit or (json.loads(Path(info["Info"]).read_text()).get("Origin") or {}).get("Hash", "")
    return work, template_vars(program, commit=commit, date=date), flags


def lang_flags(program: Program, vendor_mod: str) -> list[str]:
    """A module without go.mod is compiled as Go 1.16; compile it as the Go its vendor.mod names.

    (docker/cli marks most files //go:build go1.2x for this, not all: cmd/docker/aliases_utils.go
    in v29.10.0 fails with "implicit function instantiation requires go1.18".)
    """
    go = parse_gomod(vendor_mod).go
    if not go:
        return []
    lang = ".".join(go.split(".")[:2])
    return [f"-gcflags={program.module}/...=-lang=go{lang}"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stamp_of(gomod_path: Path) -> str:
    marker = gomod_path.parent / ".berth-gomod"
    return marker.read_text() if marker.exists() else ""


def cached(program: Program, go_version: str, base: Path | None = None) -> bool:
    out = output_dir(program, base)
    try:
        stamp = json.loads((out / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("spec_hash") == spec_hash(program, go_version) and all(
        (out / p.output).is_file() for p in program.packages
    )


def build_program(program: Program, say: Say = print, *, force: bool = False, base: Path | None = None) -> Path:
    """Build one program (or say "cached"); two processes building the same one take turns."""
    base = base or data_dir()
    locks = base / "toolchain" / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{program.label}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{program.label}: another build of it is running, waiting")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(program, say, force=force, base=base)


def _build_locked(program: Program, say: Say, *, force: bool, base: Path) -> Path:
    env = go_env(base, program)
    version = _go_version(env)
    out = output_dir(program, base)
    if not force and cached(program, version, base):
        say(f"{program.label}: cached ({out})")
        return out
    started = time.monotonic()
    say(f"{program.label}: building {len(program.packages)} program(s) with {version.split()[0]}")
    env["CGO_ENABLED"] = "1" if program.cgo else "0"
    env.update(dict(program.env))
    if program.path:
        work, tv, flags = REPO / program.path, template_vars(program), []
    else:
        work, tv, flags = _prepare_wrapper(program, env, base, say)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ldflags = " ".join(["-s", "-w"] + [f.format(**tv) for f in program.ldflags])
    sizes, seconds = {}, {}
    for pkg in program.packages:
        t0 = time.monotonic()
        cmd = [go_binary(), "build", "-trimpath", *flags, "-ldflags", ldflags, "-o", str(tmp / pkg.output)]
        if program.tags:
            cmd += ["-tags", ",".join(program.tags)]
        cmd.append(pkg.path)
        say(f"{program.label}: {pkg.path} ...")
        code, log = _run(cmd, work, env, say, f"{program.label}: {pkg.output}")
        if code:
            raise BuildError(program.name, pkg.path, cmd, log)
        seconds[pkg.output] = round(time.monotonic() - t0, 1)
        sizes[pkg.output] = (tmp / pkg.output).stat().st_size
        say(f"{program.label}: {pkg.output} built in {seconds[pkg.output]:.0f} s ({sizes[pkg.output] / 2**20:.1f} MiB)")
    if not program.path:
        for name in ("go.mod", "go.sum"):
            if (work / name).exists():
                shutil.copy2(work / name, tmp / f"{name}.txt")  # what exactly was built, for the record
    stamp = {
        "name": program.name,
        "module": program.module or program.path,
        "version": program.version,
        "spec_hash": spec_hash(program, version),
        "go": version,
        "seconds": round(time.monotonic() - started, 1),
        "per_binary_seconds": seconds,
        "sizes": sizes,
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (tmp / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    if os.environ.get("BERTH_GO_KEEP_BUILD_CACHE") != "1":
        shutil.rmtree(build_cache(program, base), ignore_errors=True)
    say(f"{program.label}: done in {stamp['seconds']:.0f} s ({sum(sizes.values()) / 2**20:.1f} MiB) -> {out}")
    return out


# A cold build of the whole spec fills a 7-8 GB module cache, and one program's build cache (a
# Kubernetes version the largest) adds several GB while it builds: below this, expect a full disk.
DISK_NEEDED = 15 * 2**30


def _warn_when_disk_is_short(programs: list[Program], say: Say, base: Path) -> None:
    base.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(base).free
    if free >= DISK_NEEDED:
        return
    version = _go_version(go_env(base))
    if not all(cached(p, version, base) for p in programs):
        say(f"warning: {free / 2**30:.1f} GiB free under {base}; a cold build of these programs "
            f"needs about {DISK_NEEDED / 2**30:.0f} GiB (Go's module and build caches)")


def build(
    names: list[str] | None = None,
    say: Say = print,
    *,
    spec: Path | str = DEFAULT_SPEC,
    force: bool = False,
    keep_going: bool = False,
    base: Path | None = None,
) -> dict[str, Path]:
    """Build the named programs (all when None) and return {name: directory of its binaries}."""
    programs = load_spec(spec)
    if names:
        known = {p.name for p in programs}
        missing = [n for n in names if n not in known]
        if missing:
            raise SpecError(f"{spec}: no program named {', '.join(missing)} (known: {', '.join(sorted(known))})")
        programs = [p for p in programs if p.name in names]
    done, failed = {}, []
    _warn_when_disk_is_short(programs, say, base or data_dir())
    for program in programs:
        try:
            done[program.name] = build_program(program, say, force=force, base=base)
        except (BuildError, SpecError) as exc:
            if not keep_going:
                raise
            failed.append(program.name)
            say(f"{program.label}: FAILED\n{exc}")
    if failed:
        say(f"failed: {', '.join(failed)}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="programs to build (default: all in the spec)")
    parser.add_argument("--spec", default=str(DEFAULT_SPEC))
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    parser.add_argument("--keep-going", action="store_true", help="build the others when one fails")
    parser.add_argument("--list", action="store_true", help="list the programs and whether they are cached")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    if args.list:
        version = _go_version(go_env())
        for p in load_spec(args.spec):
            state = "cached" if cached(p, version) else "not built"
            print(f"{p.name:28} {p.module or p.path}@{p.version or 'local'}  {state}")
        return 0
    started = time.monotonic()
    try:
        done = build(args.names or None, say, spec=args.spec, force=args.force, keep_going=args.keep_going)
    except (BuildError, SpecError) as exc:
        print(exc, file=sys.stderr)
        return 1
    say(f"{len(done)} program(s) ready in {time.monotonic() - started:.0f} s")
    wanted = args.names or [p.name for p in load_spec(args.spec)]
    return 0 if len(done) == len(set(wanted)) else 1


if __name__ == "__main__":
    sys.exit(main())
