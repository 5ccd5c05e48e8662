"""The live architecture view: what a learner's own Docker engine holds (or, on a Kubernetes
day, their cluster: sandboxes/cluster_view.py), drawn as a diagram.

Worker side, `take_snapshot` runs one inventory command in the sandbox and keeps the diagram in
the cache. Web side, `latest` reads it and `snapshot_wanted` says whether a fresh one is worth a
task: soon after terminal traffic (a command may have changed something), or when the last one is
old. So an idle page costs one small exec every MAX_AGE seconds, and a busy one about one a second.
"""

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from berth import aredis
from sandboxes import cluster_view
from sandboxes.backends import get_backend
from sandboxes.backends.base import ExecResult
from sandboxes.drawing import TARGET_STYLES, label, plural, target_marks
from sandboxes.models import LabSession, Sandbox

TRAFFIC_WINDOW = 6.0  # seconds after terminal traffic during which snapshots follow each other
MIN_INTERVAL = 0.5  # seconds between two snapshots of one sandbox
MAX_AGE = 20.0  # seconds: an idle view still refreshes this often (a check or setup may change things)
LIMIT = 25  # objects of each kind drawn; the rest are counted
# Terminal traffic while an inventory ran may have changed what it read: read again at once (this
# many times at most) rather than wait for the page's next poll and a new task.
AGAIN_AFTER_TRAFFIC = 2

# One exec, one JSON document: containers (full inspect), images, networks, volumes, and the
# local registry's catalogue when it answers.
INVENTORY = r"""
ids=$(docker ps -aq 2>/dev/null | head -n 60)
printf '{"containers":'; if [ -n "$ids" ]; then docker inspect $ids 2>/dev/null || echo '[]'; else echo '[]'; fi
printf ',"images":['; docker images --format '{{json .}}' 2>/dev/null | head -n 60 | paste -sd, -; printf ']'
printf ',"networks":'; docker network inspect $(docker network ls -q 2>/dev/null) 2>/dev/null || echo '[]'
printf ',"volumes":['; docker volume ls --format '{{json .}}' 2>/dev/null | head -n 60 | paste -sd, -; printf ']'
printf ',"registry":'; curl -fs --max-time 1 http://localhost:5000/v2/_catalog 2>/dev/null || printf '{}'
printf '}\n'
"""

BUILTIN_NETWORKS = {"bridge", "host", "none"}


def snapshot_key(session_id: int, node: str) -> str:
    return f"arch:{session_id}:{node}"


def traffic_key(session_id: int) -> str:
    return f"arch-traffic:{session_id}"


async def amark_traffic(session_ids) -> None:
    """Note terminal traffic of these sessions now, in one round trip (the relay batches them).
    Milliseconds, an int: Django's Redis cache stores ints as they are, so `cache.get` reads it
    back. Through a long-lived client: Django's cache is per asyncio context, and a client per
    mark opened a new connection each time (bench/limits.md)."""
    client = aredis.client(settings.CACHES["default"]["LOCATION"])
    now = int(time.time() * 1000)
    async with client.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            pipe.set(cache.make_and_validate_key(traffic_key(session_id)), now, ex=60)
        await pipe.execute()


def traffic_at(session_id: int) -> float:
    """When the session's terminal last had traffic (seconds since the epoch; 0 if not lately)."""
    return (cache.get(traffic_key(session_id)) or 0) / 1000


def latest(session_id: int, node: str) -> dict | None:
    return cache.get(snapshot_key(session_id, node))


def snapshot_wanted(session_id: int, node: str, snapshot: dict | None) -> bool:
    """True when a new snapshot is due and no other request has already asked for one."""
    now = time.time()
    age = now - snapshot["taken_at"] if snapshot else None
    traffic = traffic_at(session_id)
    due = (
        snapshot is None
        or age > MAX_AGE
        or (age > MIN_INTERVAL and traffic > now - TRAFFIC_WINDOW)
        or (snapshot["taken_at"] < traffic)  # traffic after the last snapshot: always one more
    )
    return due and cache.add(f"arch-pending:{session_id}:{node}", 1, timeout=2)  # a lost task blocks 2 s at most


def store(
    session_id: int, node: str, model: dict, target: dict | None = None, taken_at: float | None = None, view=None
) -> dict:
    """Keep the diagram of `model`, read at `taken_at` (when its inventory began)."""
    view = view or DOCKER
    diff = view.compare(model, target) if target else None
    diagram = view.draw(model, node, diff)
    snapshot = {
        "problems": diff["problems"] if diff else None,
        "taken_at": taken_at or time.time(),
        "hash": hashlib.sha256(diagram.encode()).hexdigest()[:16],
        "diagram": diagram,
        "counts": view.counts(model),
        "summary": view.summary(model),
    }
    cache.set(snapshot_key(session_id, node), snapshot, timeout=3600)
    cache.delete(f"arch-pending:{session_id}:{node}")
    return snapshot


def take_snapshot(session_id: int, node: str) -> dict | None:
    """Worker side: read the sandbox's engine and store its diagram; None if there is no sandbox."""
    sandbox = (
        Sandbox.objects.filter(
            session_id=session_id, node=node, session__state=LabSession.READY, removed_at__isnull=True
        )
        .select_related("session")
        .first()
    )
    if sandbox is None or not sandbox.container_id:
        cache.delete(f"arch-pending:{session_id}:{node}")
        return None
    backend = get_backend(sandbox.session.host)
    lab = sandbox.session.lab
    target = lab.architecture if node == lab.nodes[0] else {}
    view = VIEWS[lab.profile]
    snapshot = None
    for _ in range(AGAIN_AFTER_TRAFFIC + 1):
        started = time.time()
        model = read_engine(backend, sandbox.container_id, view)
        if model is None:
            cache.delete(f"arch-pending:{session_id}:{node}")
            return snapshot
        snapshot = store(session_id, node, model, target, taken_at=started, view=view)
        if traffic_at(session_id) <= started:
            break  # nothing typed since this inventory began: it is up to date
    return snapshot


def read_engine(backend, container_id: str, view=None) -> dict | None:
    view = view or DOCKER
    result = backend.exec(container_id, view.inventory, timeout=10)
    try:
        return view.parse(result.output)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # the engine is (re)starting, or a learner broke the CLI: the next look tells


def verify(
    backend, container_id: str, target: dict, result: ExecResult, say=lambda line: None, profile: str = "docker"
) -> ExecResult:
    """A check's architecture part, after its script: the same comparison the live view draws,
    told line by line; a script that passed fails when the target is not met."""
    if result.timed_out:
        return result
    view = VIEWS[profile]
    model = read_engine(backend, container_id, view)
    if model is None:
        lines, ok = [f"✗ {view.unreadable}"], False
    else:
        diff = view.compare(model, target)
        ok = not diff["problems"]
        lines = diff["problems"] or ["✓ The running system matches the target architecture."]
        lines += [f"• also there, not in the target: {kind[:-1]} {name}" for kind, name in diff["extra"]]
    for line in lines:
        say(line)
    output = "\n".join([result.output.rstrip(), *lines]).strip()
    return ExecResult(result.exit_code if ok else (result.exit_code or 1), output)


# --- from the engine's JSON to a small model --------------------------------------------------
def parse_inventory(raw: str) -> dict:
    data = json.loads(raw)
    containers = []
    for c in data.get("containers") or []:
        state = c.get("State", {})
        networks = sorted((c.get("NetworkSettings", {}).get("Networks") or {}).keys())
        mounts = c.get("Mounts") or []
        containers.append(
            {
                "name": c.get("Name", "").lstrip("/"),
                "image": c.get("Config", {}).get("Image", ""),
                "state": state.get("Status", "unknown"),
                "exit_code": state.get("ExitCode", 0),
                "networks": [n for n in networks if n != "none"],
                "volumes": sorted(m["Name"] for m in mounts if m.get("Type") == "volume" and m.get("Name")),
                "binds": sorted(m.get("Source", "") for m in mounts if m.get("Type") == "bind"),
                "ports": sorted(
                    f"{b[0].get('HostPort')}->{port}"
                    for port, b in (c.get("NetworkSettings", {}).get("Ports") or {}).items()
                    if b
                ),
            }
        )
    images = sorted(
        f"{i['Repository']}:{i['Tag']}" for i in data.get("images") or [] if i.get("Repository") not in ("<none>", None)
    )
    used = {n for c in containers for n in c["networks"]}
    networks = sorted(
        n["Name"] for n in data.get("networks") or [] if n["Name"] not in BUILTIN_NETWORKS or n["Name"] in used
    )
    drivers = {n["Name"]: n.get("Driver", "") for n in data.get("networks") or []}
    volumes = sorted(v["Name"] for v in data.get("volumes") or [])
    repositories = sorted((data.get("registry") or {}).get("repositories") or [])
    return {
        "containers": sorted(containers, key=lambda c: c["name"]),
        "images": images,
        "networks": networks,
        "drivers": drivers,
        "volumes": volumes,
        "repositories": repositories,
    }


# --- the target, compared ---------------------------------------------------------------------
def compare(model: dict, target: dict) -> dict:
    """What the target architecture wants and the engine lacks (problems, as sentences), what is
    there beyond it (extra), and the parts to draw as missing."""
    containers = {c["name"]: c for c in model["containers"]}
    problems, missing = [], {"containers": [], "networks": [], "volumes": [], "links": []}
    for name in target.get("containers", []):
        c = containers.get(name)
        if c is None:
            problems.append(f"✗ container {name} does not exist")
            missing["containers"].append(name)
        elif c["state"] != "running":
            problems.append(f"✗ container {name} is {describe(c)}, not running")
    for kind in ("networks", "volumes"):
        for name in target.get(kind, []):
            if name not in model[kind]:
                problems.append(f"✗ {kind[:-1]} {name} does not exist")
                missing[kind].append(name)
    for container, other in target.get("links", []):
        c = containers.get(container)
        if c is None:
            continue  # already said
        if other in target.get("networks", []) and other not in c["networks"]:
            problems.append(f"✗ container {container} is not attached to network {other}")
            missing["links"].append([container, other])
        elif other in target.get("volumes", []) and other not in c["volumes"]:
            problems.append(f"✗ container {container} does not mount volume {other}")
            missing["links"].append([container, other])
    extra = [("containers", name) for name in containers if name not in target.get("containers", [])]
    if target.get("networks"):
        wanted = set(target["networks"]) | BUILTIN_NETWORKS
        extra += [("networks", n) for n in model["networks"] if n not in wanted]
    if target.get("volumes"):
        extra += [("volumes", v) for v in model["volumes"] if v not in target["volumes"] and not ANONYMOUS.match(v)]
    return {"problems": problems, "missing": missing, "extra": extra}


ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


# --- the diagram ------------------------------------------------------------------------------
def short_volume(name: str) -> str:
    return name[:12] + "…" if re.fullmatch(r"[0-9a-f]{64}", name) else name


def mermaid(model: dict, node: str, diff: dict | None = None) -> str:
    """The engine as a Mermaid flowchart; with a diff, what the target still lacks is drawn
    dashed in red and what it does not ask for in grey."""
    missing = diff["missing"] if diff else {"containers": [], "networks": [], "volumes": [], "links": []}
    extra = set(diff["extra"]) if diff else set()
    lines = ["flowchart LR"]
    lines.append(f'  cli["docker CLI"] -- "REST API on /var/run/docker.sock" --> daemon["dockerd on {label(node)}"]')
    ids: dict[tuple[str, str], str] = {}
    containers = {c["name"]: c for c in model["containers"]}

    def group(title, kind, names, shape_of):
        if not names:
            return
        lines.append(f'  subgraph {kind}["{title}"]')
        for name in names[:LIMIT]:
            ids[(kind, name)] = f"{kind[0]}{len(ids)}"
            lines.append(f"    {ids[(kind, name)]}{shape_of(name)}")
        if len(names) > LIMIT:
            lines.append(f'    {kind}_more["… and {len(names) - LIMIT} more"]')
        lines.append("  end")
        lines.append(f"  daemon --> {kind}")

    def container_label(name):
        c = containers.get(name)
        return f'["{label(name)}<br/>{describe(c) if c else "missing"}"]'

    group("Images", "images", model["images"], lambda n: f'["{label(n)}"]')
    group("Containers", "containers", list(containers) + missing["containers"], container_label)
    group(
        "Networks",
        "networks",
        model["networks"] + missing["networks"],
        lambda n: f'(["{label(n)} ({label(model["drivers"].get(n, "missing"), 12)})"])',
    )
    group(
        "Volumes",
        "volumes",
        model["volumes"] + missing["volumes"],
        lambda n: f'[("{label(short_volume(n))}{"" if n in model["volumes"] else "<br/>missing"}")]',
    )
    if model["repositories"]:
        group("Registry localhost:5000", "registry", model["repositories"], lambda n: f'["{label(n)}"]')

    for c in model["containers"][:LIMIT]:
        me = ids.get(("containers", c["name"]))
        image = c["image"] if ":" in c["image"].rsplit("/", 1)[-1] else c["image"] + ":latest"
        if ("images", image) in ids:
            lines.append(f"  {ids[('images', image)]} -. runs .-> {me}")
        for kind in ("networks", "volumes"):
            for other in c[kind]:
                if (kind, other) in ids:
                    lines.append(f"  {me} --- {ids[(kind, other)]}")
        lines.append(f"  class {me} {'extra' if ('containers', c['name']) in extra else css_state(c['state'])}")
    for container, other in missing["links"]:
        kind = "networks" if ("networks", other) in ids else "volumes"
        if ("containers", container) in ids and (kind, other) in ids:
            lines.append(f"  {ids[('containers', container)]} -. missing .-> {ids[(kind, other)]}")
    lines += target_marks(ids, missing, extra, ("containers", "networks", "volumes"), drawn="containers")
    for repo in model["repositories"][:LIMIT]:
        for image in model["images"][:LIMIT]:
            if image.startswith(f"localhost:5000/{repo}:") and ("images", image) in ids:
                lines.append(f"  {ids[('images', image)]} -. pushed .-> {ids[('registry', repo)]}")
    lines += [
        "  classDef running fill:#dafbe1,stroke:#1a7f37,color:#0f3d1f",
        "  classDef stopped fill:#eaeef2,stroke:#6e7781,color:#24292f",
        "  classDef paused fill:#fff8c5,stroke:#9a6700,color:#3b2300",
        *TARGET_STYLES,
    ]
    return "\n".join(lines)


def describe(container: dict) -> str:
    state = container["state"]
    if state == "exited":
        state = f"exited ({container['exit_code']})"
    ports = f" {' '.join(container['ports'][:2])}" if container["ports"] else ""
    return label(state + ports, 40)


def css_state(state: str) -> str:
    return {"running": "running", "paused": "paused", "restarting": "paused"}.get(state, "stopped")


ENGINE_KINDS = ("containers", "images", "networks", "volumes")


def engine_counts(model: dict) -> dict:
    return {kind: len(model[kind]) for kind in (*ENGINE_KINDS, "repositories")}


def engine_summary(model: dict) -> str:
    return ", ".join(plural(len(model[kind]), kind[:-1]) for kind in ENGINE_KINDS)


@dataclass(frozen=True)
class View:
    """How one profile's sandbox is read, compared with a lab's target, drawn and summed up."""

    inventory: str
    parse: Callable[[str], dict]
    compare: Callable[[dict, dict], dict]
    draw: Callable[..., str]
    counts: Callable[[dict], dict]
    summary: Callable[[dict], str]
    unreadable: str


DOCKER = View(
    INVENTORY,
    parse_inventory,
    compare,
    mermaid,
    engine_counts,
    engine_summary,
    "Could not read the Docker engine (is dockerd running?).",
)
KUBERNETES = View(
    cluster_view.INVENTORY,
    cluster_view.parse_inventory,
    cluster_view.compare,
    cluster_view.mermaid,
    cluster_view.counts,
    cluster_view.summary,
    "Could not read the cluster (does kubectl get nodes answer?).",
)
VIEWS = {"docker": DOCKER, "kubernetes": KUBERNETES}
