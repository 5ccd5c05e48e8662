"""The lab format: labs/<slug>/lab.yaml (see docs/authoring.md). Parsing never stops at the first
problem: every error is collected with its file, line and field."""

import re
from dataclasses import dataclass, field
from pathlib import Path

from course.yamldoc import ContentError, Doc, Fields
from sandboxes.profiles import NAMES as PROFILES

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
NODE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
LAB_KEYS = {"title", "image", "profile", "time_limit", "nodes", "files", "setup", "steps", "resources", "architecture"}
RESOURCE_KEYS = {"memory_mb": int, "cpus": (int, float), "pids": int, "disk_mb": int}
STEP_KEYS = {"title", "text", "hint", "check", "solution", "sabotage", "node", "timeout", "architecture"}
# A target architecture, per profile: the kinds of object it names, and what its links join
# ([a container, a network or volume] on a Docker engine; [a Service, the Deployment whose pods it
# selects] on a cluster).
ARCHITECTURE_KINDS = {
    "docker": ("containers", "networks", "volumes"),
    "kubernetes": ("deployments", "services", "pods"),
}
ARCHITECTURE_LINKS = {
    "docker": ("containers", ("networks", "volumes"), "a link is [container, network or volume]"),
    "kubernetes": ("services", ("deployments",), "a link is [Service, Deployment whose pods it selects]"),
}
OBJECT_NAME = {
    "docker": (re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$"), "a Docker object name (letters, digits, _ . -)"),
    "kubernetes": (
        re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"),
        "a Kubernetes object name (lower-case letters, digits, - .), namespace/name outside default",
    ),
}
FILE_KEYS = {"path", "source", "content", "mode", "node"}
MAX_TIME_LIMIT = 24 * 60


# A lab's definition: what lab.yaml says, what the database holds (labs.models, same field
# names) and what a sandbox is brought up from (labs/runner.py). One shape for all three.
@dataclass
class StepDef:
    title: str
    text: str  # Markdown
    hint: str  # Markdown
    check_script: str
    solution_script: str
    sabotage_script: str = ""
    node: str = ""  # default: the lab's first node
    timeout_seconds: int = 30
    check_architecture: bool = False  # the check also requires the lab's target architecture


@dataclass
class LabDef:
    slug: str
    path: str
    title: str
    image: str
    profile: str
    time_limit_minutes: int
    nodes: list[str]
    setup: str
    files: list[dict] = field(default_factory=list)
    resources: dict = field(default_factory=dict)
    steps: list[StepDef] = field(default_factory=list)
    architecture: dict = field(default_factory=dict)  # the target: ARCHITECTURE_KINDS of the profile, links

    def node_of(self, step: StepDef) -> str:
        return step.node or self.nodes[0]


def parse_lab(lab_dir: Path, display_path: str) -> tuple[LabDef | None, list[ContentError]]:
    """Parse labs/<slug>/lab.yaml; return (lab, []) or (None, errors)."""
    text = (lab_dir / "lab.yaml").read_text(encoding="utf-8")
    return parse_lab_text(text, lab_dir.name, display_path, lab_dir)


def parse_lab_text(text: str, slug: str, display_path: str, lab_dir: Path) -> tuple[LabDef | None, list[ContentError]]:
    """Parse a lab's lab.yaml text (a file's, or a draft's in the studio); `source:` files are
    read from lab_dir."""
    errors: list[ContentError] = []
    try:
        doc = Doc(display_path, text)
    except ContentError as e:
        return None, [e]
    if not SLUG.match(slug):
        errors.append(ContentError(display_path, 1, "(folder)", f"{slug!r} is not a valid lab slug (a-z, 0-9, -)"))
    top = Fields(doc, doc.data, "", errors)
    top.reject_unknown(LAB_KEYS)
    title = top.get("title", str)
    image = top.get("image", str)
    profile = top.get("profile", str, required=False, default="standard")
    if profile not in PROFILES:
        errors.append(doc.error("profile", f"must be one of {', '.join(PROFILES)}"))
    time_limit = top.get("time_limit", int, required=False, default=60)
    if time_limit is not None and not 5 <= time_limit <= MAX_TIME_LIMIT:
        errors.append(doc.error("time_limit", f"minutes, between 5 and {MAX_TIME_LIMIT}"))
    nodes = top.get("nodes", list, required=False, default=["node1"])
    for i, node in enumerate(nodes or []):
        if not isinstance(node, str) or not NODE.match(node):
            errors.append(doc.error(f"nodes[{i}]", "a node is a hostname: lower-case letters, digits and -"))
    if nodes is not None and len(set(nodes)) != len(nodes):
        errors.append(doc.error("nodes", "node names must be unique"))
    setup = top.get("setup", str, required=False, default="")
    resources = top.get("resources", dict, required=False, default={}) or {}
    r = Fields(doc, resources, "resources", errors)
    r.reject_unknown(set(RESOURCE_KEYS))
    for key, kind in RESOURCE_KEYS.items():
        value = r.get(key, kind, required=False)
        if value is not None and value <= 0:
            errors.append(doc.error(f"resources.{key}", "must be positive"))
    architecture = parse_architecture(
        doc, top.get("architecture", dict, required=False, default={}) or {}, profile, errors
    )
    files = [
        parse_file(doc, lab_dir, item, i, nodes or [], errors)
        for i, item in enumerate(top.get("files", list, required=False, default=[]) or [])
    ]
    steps = []
    raw_steps = top.get("steps", list)
    if raw_steps is not None and not raw_steps:
        errors.append(doc.error("steps", "a lab needs at least one step"))
    for i, raw in enumerate(raw_steps or []):
        if not isinstance(raw, dict):
            errors.append(doc.error(f"steps[{i}]", "each step is a mapping (title, text, check, ...)"))
            continue
        s = Fields(doc, raw, f"steps[{i}]", errors)
        s.reject_unknown(STEP_KEYS)
        step = StepDef(
            title=s.get("title", str),
            text=s.get("text", str),
            hint=s.get("hint", str),
            check_script=s.get("check", str),
            solution_script=s.get("solution", str),
            sabotage_script=s.get("sabotage", str, required=False, default=""),
            node=s.get("node", str, required=False, default=""),
            timeout_seconds=s.get("timeout", int, required=False, default=30),
            check_architecture=s.get("architecture", bool, required=False, default=False),
        )
        if step.check_architecture and not architecture:
            errors.append(doc.error(f"steps[{i}].architecture", "the lab declares no target architecture"))
        if step.node and nodes and step.node not in nodes:
            errors.append(doc.error(f"steps[{i}].node", f"{step.node!r} is not one of the lab's nodes"))
        if step.timeout_seconds is not None and not 1 <= step.timeout_seconds <= 600:
            errors.append(doc.error(f"steps[{i}].timeout", "seconds, between 1 and 600"))
        steps.append(step)
    if errors:
        return None, errors
    lab = LabDef(
        slug=slug,
        path=display_path,
        title=title,
        image=image,
        profile=profile,
        time_limit_minutes=time_limit,
        nodes=nodes,
        setup=setup,
        files=files,
        steps=steps,
        resources=resources,
        architecture=architecture,
    )
    return lab, []


def parse_architecture(doc: Doc, raw: dict, profile: str, errors: list[ContentError]) -> dict:
    """The target a lab's live view compares against: names of the objects the learner makes
    (containers, networks and volumes on a Docker engine; Deployments, Services and pods on a
    cluster), and links saying what is attached to (or selects) what."""
    if not raw:
        return {}
    if profile not in ARCHITECTURE_KINDS:
        errors.append(doc.error("architecture", "a target architecture needs the docker or kubernetes profile"))
        return {}
    kinds, (name_pattern, name_rule) = ARCHITECTURE_KINDS[profile], OBJECT_NAME[profile]
    a = Fields(doc, raw, "architecture", errors)
    a.reject_unknown({*kinds, "links"})
    target: dict = {}
    for kind in kinds:
        names = a.get(kind, list, required=False, default=[]) or []
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name_pattern.match(name):
                errors.append(doc.error(f"architecture.{kind}[{i}]", name_rule))
        target[kind] = [n for n in names if isinstance(n, str)]
    source, others, link_rule = ARCHITECTURE_LINKS[profile]
    target["links"] = []
    for i, link in enumerate(a.get("links", list, required=False, default=[]) or []):
        where = f"architecture.links[{i}]"
        if not (isinstance(link, list) and len(link) == 2 and all(isinstance(x, str) for x in link)):
            errors.append(doc.error(where, link_rule))
            continue
        first, other = link
        if first not in target[source]:
            errors.append(doc.error(where, f"{first!r} is not one of architecture.{source}"))
        elif not any(other in target[kind] for kind in others):
            errors.append(doc.error(where, f"{other!r} is not one of architecture.{' or .'.join(others)}"))
        else:
            target["links"].append([first, other])
    return target


def parse_file(doc: Doc, lab_dir: Path, item, i: int, nodes: list[str], errors: list[ContentError]) -> dict:
    name = f"files[{i}]"
    if not isinstance(item, dict):
        errors.append(doc.error(name, "each file is a mapping (path, source or content, mode)"))
        return {}
    f = Fields(doc, item, name, errors)
    f.reject_unknown(FILE_KEYS)
    target = f.get("path", str)
    if target and not target.startswith("/"):
        errors.append(doc.error(f"{name}.path", "must be an absolute path inside the sandbox"))
    source, content = item.get("source"), item.get("content")
    if (source is None) == (content is None):
        errors.append(doc.error(name, "give exactly one of source (a file in the lab folder) or content"))
        content = ""
    elif source is not None:
        source_path = (lab_dir / str(source)).resolve()
        if lab_dir.resolve() not in source_path.parents or not source_path.is_file():
            errors.append(doc.error(f"{name}.source", f"{source!r} is not a file inside the lab folder"))
            content = ""
        else:
            content = source_path.read_text(encoding="utf-8")
    mode = str(f.get("mode", (str, int), required=False, default="0644"))
    if not re.fullmatch(r"0?[0-7]{3,4}", mode):
        errors.append(doc.error(f"{name}.mode", 'an octal mode such as "0644" or "0755" (quote it)'))
    node = f.get("node", str, required=False, default="")
    if node and node not in nodes:
        errors.append(doc.error(f"{name}.node", f"{node!r} is not one of the lab's nodes"))
    return {"path": target, "content": content, "mode": mode, "node": node}
