"""The live architecture view: what a learner's own Docker engine holds, drawn as a diagram.

Worker side, `take_snapshot` runs one inventory command in the sandbox and keeps the diagram in
the cache. Web side, `latest` reads it and `snapshot_wanted` says whether a fresh one is worth a
task: soon after terminal traffic (a command may have changed something), or when the last one is
old. So an idle page costs one small exec every MAX_AGE seconds, and a busy one about one a second.
"""

import hashlib
import json
import re
import time

from django.core.cache import cache

TRAFFIC_WINDOW = 6.0  # seconds after terminal traffic during which snapshots follow each other
MIN_INTERVAL = 0.8  # seconds between two snapshots of one sandbox
MAX_AGE = 20.0  # seconds: an idle view still refreshes this often (a check or setup may change things)
LIMIT = 25  # objects of each kind drawn; the rest are counted

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


async def amark_traffic(session_id: int) -> None:
    await cache.aset(traffic_key(session_id), time.time(), timeout=60)


def latest(session_id: int, node: str) -> dict | None:
    return cache.get(snapshot_key(session_id, node))


def snapshot_wanted(session_id: int, node: str, snapshot: dict | None) -> bool:
    """True when a new snapshot is due and no other request has already asked for one."""
    now = time.time()
    age = now - snapshot["taken_at"] if snapshot else None
    traffic = cache.get(traffic_key(session_id)) or 0.0
    due = (
        snapshot is None
        or age > MAX_AGE
        or (age > MIN_INTERVAL and traffic > now - TRAFFIC_WINDOW)
        or (snapshot["taken_at"] < traffic)  # traffic after the last snapshot: always one more
    )
    return due and cache.add(f"arch-pending:{session_id}:{node}", 1, timeout=5)


def store(session_id: int, node: str, model: dict) -> dict:
    diagram = mermaid(model, node)
    snapshot = {
        "taken_at": time.time(),
        "hash": hashlib.sha256(diagram.encode()).hexdigest()[:16],
        "diagram": diagram,
        "counts": {kind: len(model[kind]) for kind in ("containers", "images", "networks", "volumes", "repositories")},
    }
    cache.set(snapshot_key(session_id, node), snapshot, timeout=3600)
    cache.delete(f"arch-pending:{session_id}:{node}")
    return snapshot


def take_snapshot(session_id: int, node: str) -> dict | None:
    """Worker side: read the sandbox's engine and store its diagram; None if there is no sandbox."""
    from sandboxes.backends import get_backend
    from sandboxes.models import LabSession, Sandbox

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
    result = get_backend(sandbox.session.host).exec(sandbox.container_id, INVENTORY, timeout=10)
    try:
        model = parse_inventory(result.output)
    except (ValueError, KeyError, TypeError, AttributeError):
        cache.delete(f"arch-pending:{session_id}:{node}")
        return None  # the engine is (re)starting, or a learner broke the CLI: the next one tells
    return store(session_id, node, model)


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


# --- the diagram ------------------------------------------------------------------------------
def label(text: str, limit: int = 48) -> str:
    """A learner-chosen name made safe inside a quoted Mermaid label."""
    text = re.sub(r"[^\w.:/@+\- >()]", "?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_volume(name: str) -> str:
    return name[:12] + "…" if re.fullmatch(r"[0-9a-f]{64}", name) else name


def mermaid(model: dict, node: str) -> str:
    lines = ["flowchart LR"]
    lines.append(f'  cli["docker CLI"] -- "REST API on /var/run/docker.sock" --> daemon["dockerd on {label(node)}"]')
    ids: dict[tuple[str, str], str] = {}

    def add(kind, name, shape):
        ids[(kind, name)] = f"{kind[0]}{len(ids)}"
        return f"    {ids[(kind, name)]}{shape}"

    def group(title, kind, names, shape_of):
        if not names:
            return
        lines.append(f'  subgraph {kind}["{title}"]')
        for name in names[:LIMIT]:
            lines.append(add(kind, name, shape_of(name)))
        if len(names) > LIMIT:
            lines.append(f'    {kind}_more["… and {len(names) - LIMIT} more"]')
        lines.append("  end")
        lines.append(f"  daemon --> {kind}")

    containers = model["containers"]
    group("Images", "images", model["images"], lambda n: f'["{label(n)}"]')
    group(
        "Containers",
        "containers",
        [c["name"] for c in containers],
        lambda n: f'["{label(n)}<br/>{next(describe(c) for c in containers if c["name"] == n)}"]',
    )
    group(
        "Networks",
        "networks",
        model["networks"],
        lambda n: f'(["{label(n)} ({label(model["drivers"].get(n, ""), 12)})"])',
    )
    group("Volumes", "volumes", model["volumes"], lambda n: f'[("{label(short_volume(n))}")]')
    if model["repositories"]:
        group("Registry localhost:5000", "registry", model["repositories"], lambda n: f'["{label(n)}"]')

    for c in containers[:LIMIT]:
        me = ids.get(("containers", c["name"]))
        image = c["image"] if ":" in c["image"].rsplit("/", 1)[-1] else c["image"] + ":latest"
        if ("images", image) in ids:
            lines.append(f"  {ids[('images', image)]} -. runs .-> {me}")
        for network in c["networks"]:
            if ("networks", network) in ids:
                lines.append(f"  {me} --- {ids[('networks', network)]}")
        for volume in c["volumes"]:
            if ("volumes", volume) in ids:
                lines.append(f"  {me} --- {ids[('volumes', volume)]}")
        lines.append(f"  class {me} {css_state(c['state'])}")
    for repo in model["repositories"][:LIMIT]:
        for image in model["images"][:LIMIT]:
            if image.startswith(f"localhost:5000/{repo}:"):
                lines.append(f"  {ids[('images', image)]} -. pushed .-> {ids[('registry', repo)]}")
    lines += [
        "  classDef running fill:#dafbe1,stroke:#1a7f37,color:#0f3d1f",
        "  classDef stopped fill:#eaeef2,stroke:#6e7781,color:#24292f",
        "  classDef paused fill:#fff8c5,stroke:#9a6700,color:#3b2300",
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
