"""Import a Killercoda scenario folder as a Berth lab (manage.py import_killercoda PATH).

What maps: the title; step titles and Markdown text; `verify` scripts as checks; the intro's
`background` and `foreground` scripts as the lab's setup; `assets` as files; ``` blocks marked
{{exec}} as runnable blocks, {{copy}} as plain blocks (every block has a Copy button); the
intro and finish text folded into the first and last steps. Killercoda has no solutions and no
hints: each step's solution is made from its {{exec}} blocks, its hint names them. Whatever has
no equivalent (per-step background/foreground scripts, inline {{exec}}, the image id, the
interface layout, ...) is reported by name and, for scripts, kept in the lab folder.
"""

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXEC_FENCE = re.compile(r"```([\w+-]*)\n(.*?)```\{\{(exec|execute)( interrupt)?\}\}", re.DOTALL)
COPY_FENCE = re.compile(r"```([\w+-]*)\n(.*?)```\{\{copy\}\}", re.DOTALL)
INLINE_MARK = re.compile(r"`([^`\n]+)`\{\{(exec|execute|copy)( interrupt)?\}\}")
NO_SOLUTION = 'echo "This imported step has no solution yet: write one in lab.yaml." >&2\nexit 1\n'
KNOWN_TOP = {"title", "description", "details", "backend", "interface", "environment", "difficulty", "time"}
KNOWN_DETAILS = {"intro", "steps", "finish", "assets"}
KNOWN_STEP = {"title", "text", "verify", "background", "foreground"}


@dataclass
class ImportReport:
    slug: str
    path: Path
    unsupported: list[str] = field(default_factory=list)  # "name: what happened"


class ScenarioError(Exception):
    pass


def convert_markdown(text: str, where: str, report: ImportReport) -> tuple[str, list[str]]:
    """Return (Berth Markdown, the commands of its {{exec}} blocks)."""
    commands: list[str] = []

    def runnable(match):
        language = match.group(1) or "bash"
        commands.append(match.group(2).rstrip("\n"))
        if match.group(4):
            report.unsupported.append(f"{where}: '{{{{exec interrupt}}}}' runs like a plain {{{{exec}}}} block")
        return f"```{language} run\n{match.group(2)}```"

    text = EXEC_FENCE.sub(runnable, text)
    text = COPY_FENCE.sub(lambda m: f"```{m.group(1)}\n{m.group(2)}```", text)
    inline = INLINE_MARK.findall(text)
    if inline:
        report.unsupported.append(
            f"{where}: {len(inline)} inline `...`{{{{exec}}}}/{{{{copy}}}} marker(s) became plain inline code"
        )
        text = INLINE_MARK.sub(r"`\1`", text)
    return text, commands


def read(folder: Path, name: str | None, where: str) -> str:
    if not name:
        return ""
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise ScenarioError(f"{where}: {name!r} is not a file in the scenario folder")
    return path.read_text(encoding="utf-8")


SYMBOLIC = re.compile(r"([ugoa]*)([-+=])([rwx]*)")
WHO = {"u": 0o700, "g": 0o070, "o": 0o007}
WHAT = {"r": 0o444, "w": 0o222, "x": 0o111}


def file_mode(chmod: str) -> int | None:
    """An asset's `chmod` as a mode: octal ("0600") or symbolic as chmod takes it ("+x", "u+x",
    "go-w", "a=r,u+w"), applied to a new file's 0644; None when it is neither."""
    if re.fullmatch(r"0?[0-7]{3,4}", chmod):
        return int(chmod, 8)
    mode = 0o644
    for clause in chmod.split(","):
        match = SYMBOLIC.fullmatch(clause.strip())
        if not match:
            return None
        who, op, perms = match.groups()
        scope = sum(WHO[w] for w in set(who.replace("a", "ugo"))) if who else 0o777
        bits = sum(WHAT[p] for p in set(perms)) & scope
        mode = {"+": mode | bits, "-": mode & ~bits, "=": (mode & ~scope) | bits}[op]
    return mode


def import_scenario(folder: Path, labs_dir: Path, slug: str | None = None, overwrite: bool = False) -> ImportReport:
    index_path = folder / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{index_path}: missing (a Killercoda scenario has an index.json)") from None
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{index_path}:{e.lineno}: not valid JSON: {e.msg}") from None
    slug = slug or re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-") or "imported"
    target = labs_dir / slug
    if target.exists() and not overwrite:
        raise ScenarioError(f"{target} exists; pass --overwrite or choose --slug")
    report = ImportReport(slug, target)
    for key in sorted(set(index) - KNOWN_TOP):
        report.unsupported.append(f"index.json: {key}: not understood, ignored")
    details = index.get("details", {})
    for key in sorted(set(details) - KNOWN_DETAILS):
        report.unsupported.append(f"details.{key}: not understood, ignored")
    for key in ("interface", "environment", "difficulty", "time"):
        if key in index:
            report.unsupported.append(f"index.json: {key}: no equivalent in Berth (the page layout is Berth's own)")

    image_id = (index.get("backend") or {}).get("imageid", "ubuntu")
    has_docker = image_id.startswith("ubuntu") or "docker" in image_id
    image, profile = ("berth/docker:latest", "docker") if has_docker else ("berth/base:latest", "standard")
    report.unsupported.append(f"backend.imageid: {image_id!r} has no equivalent; the lab uses {image} ({profile})")
    if "kubernetes" in image_id:
        report.unsupported.append(
            "backend.imageid: Kubernetes environments are not available; the lab will need rework"
        )

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    kept = target / "killercoda"  # scripts with no equivalent, kept for the author

    def keep(name: str, where: str) -> None:
        kept.mkdir(exist_ok=True)
        destination = kept / f"{where.replace('.', '-').replace('[', '').replace(']', '')}.sh"
        destination.write_text(read(folder, name, where))
        report.unsupported.append(
            f"{where}: no equivalent (Berth runs one setup at start); kept as {destination.relative_to(target)}"
        )

    intro = details.get("intro", {})
    setup_parts = []
    for kind in ("background", "foreground"):
        if intro.get(kind):
            setup_parts.append(f"# from the intro's {kind} script\n" + read(folder, intro[kind], f"intro.{kind}"))
            if kind == "foreground":
                report.unsupported.append("intro.foreground: runs as part of the setup, not typed into the terminal")
    intro_text, _ = convert_markdown(read(folder, intro.get("text"), "intro.text"), "intro.text", report)
    finish_text, _ = convert_markdown(
        read(folder, details.get("finish", {}).get("text"), "finish.text"), "finish.text", report
    )

    steps = []
    raw_steps = details.get("steps") or []
    if not raw_steps:
        raise ScenarioError(f"{index_path}: details.steps is empty; a lab needs at least one step")
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i}]"
        for key in sorted(set(raw) - KNOWN_STEP):
            report.unsupported.append(f"{where}.{key}: not understood, ignored")
        text, commands = convert_markdown(read(folder, raw.get("text"), f"{where}.text"), f"{where}.text", report)
        if i == 0 and intro_text.strip():
            text = intro_text.rstrip() + "\n\n" + text
        if i == len(raw_steps) - 1 and finish_text.strip():
            text = text.rstrip() + "\n\n" + finish_text
        check = read(folder, raw.get("verify"), f"{where}.verify")
        if not check.strip():
            check = 'echo "This step has no check in the original scenario."\nexit 0\n'
            report.unsupported.append(f"{where}.verify: missing; the imported check always passes (write one)")
        if commands:
            solution = "\n".join(commands) + "\n"
            hint = (
                "Run the command"
                + ("s" if len(commands) > 1 else "")
                + " in the step's text (the ▶ Run button types them)."
            )
        else:
            solution = NO_SOLUTION
            hint = "Re-read the step's text; every command it needs is there."
            report.unsupported.append(
                f"{where}: no {{{{exec}}}} blocks, so no solution could be made (labtest will say so)"
            )
        for kind in ("background", "foreground"):
            if raw.get(kind):
                keep(raw[kind], f"{where}.{kind}")
        steps.append(
            {
                "title": raw.get("title") or f"Step {i + 1}",
                "text": text,
                "hint": hint,
                "check": check,
                "solution": solution,
            }
        )

    files = []
    for host, assets in (details.get("assets") or {}).items():
        if host != "host01":
            report.unsupported.append(f"details.assets.{host}: only one node (host01) is imported")
            continue
        for asset in assets:
            pattern, destination = asset.get("file", ""), asset.get("target", "/root")
            for source in sorted((folder / "assets").glob(pattern)):
                if not source.is_file():
                    continue
                relative = source.relative_to(folder / "assets")
                copy = target / "files" / relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy)
                mode = file_mode(str(asset.get("chmod", "0644")))
                if mode is None:
                    report.unsupported.append(f"details.assets.{host}: chmod {asset.get('chmod')!r} became 0644")
                    mode = 0o644
                files.append(
                    {
                        "path": f"{destination.rstrip('/')}/{relative}",
                        "source": f"files/{relative}",
                        "mode": f"{mode:04o}",
                    }
                )

    lab = {"title": index.get("title") or slug, "image": image, "profile": profile, "time_limit": 60}
    if files:
        lab["files"] = files
    if setup_parts:
        lab["setup"] = "\n".join(setup_parts)
    lab["steps"] = steps
    (target / "lab.yaml").write_text(dump_yaml(lab), encoding="utf-8")
    return report


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value if not style else value.rstrip() + "\n", style=style)


_BlockDumper.add_representer(str, _str)


def dump_yaml(data) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
