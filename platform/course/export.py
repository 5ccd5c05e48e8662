"""The database's course written back as files, in exactly the format load_course reads:
lessons/modules.yaml, lessons/dayNN-slug.md and labs/<slug>/lab.yaml (placed files under
files/). Loading what this writes and exporting again gives the same files."""

from pathlib import Path

import yaml

from course.models import Lesson, Module
from labs.format import LabDef, StepDef
from labs.models import Lab


class BlockDumper(yaml.SafeDumper):
    """Multi-line strings (scripts, Markdown) as literal blocks, the way people write them."""


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockDumper.add_representer(str, _str)


def dump(data) -> str:
    return yaml.dump(data, Dumper=BlockDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def export_course(lessons_dir: Path, labs_dir: Path) -> list[Path]:
    lessons_dir.mkdir(parents=True, exist_ok=True)
    labs_dir.mkdir(parents=True, exist_ok=True)
    written = [
        write(
            lessons_dir / "modules.yaml", dump([{"number": m.number, "title": m.title} for m in Module.objects.all()])
        )
    ]
    for lesson in Lesson.objects.select_related("module", "lab"):
        written.append(write(lessons_dir / f"day{lesson.day:02d}-{lesson.slug}.md", lesson_text(lesson)))
    for lab in Lab.objects.prefetch_related("steps"):
        written += export_lab(lab, labs_dir / lab.slug)
    return written


def lesson_text(lesson: Lesson) -> str:
    front = {"day": lesson.day, "module": lesson.module.number, "title": lesson.title, "summary": lesson.summary}
    if lesson.lab:
        front["lab"] = lesson.lab.slug
    if lesson.quiz:
        front["quiz"] = lesson.quiz
    return f"---\n{dump(front)}---\n{lesson.body_markdown}"


def export_lab(lab: Lab, folder: Path) -> list[Path]:
    """lab.yaml with each file beside it under files/ (as authors keep them in the repository)."""
    written, used = [], set()

    def file_entry(item: dict) -> dict:
        name = Path(item["path"]).name or "file"
        while name in used:
            name = f"_{name}"
        used.add(name)
        written.append(write(folder / "files" / name, item["content"]))
        return {"path": item["path"], "source": f"files/{name}", "mode": item["mode"]}

    written.append(write(folder / "lab.yaml", dump(lab_data(lab, file_entry))))
    return written


def lab_text(lab: Lab) -> str:
    """The lab as one lab.yaml with its files inline: the text the studio edits."""
    return dump(lab_data(lab, lambda item: {"path": item["path"], "content": item["content"], "mode": item["mode"]}))


def lab_data(row: Lab, file_entry) -> dict:
    lab = row.definition()
    data: dict = {"title": lab.title, "image": lab.image, "profile": lab.profile, "time_limit": lab.time_limit_minutes}
    data["nodes"] = lab.nodes
    if lab.resources:
        data["resources"] = lab.resources
    if lab.architecture:
        data["architecture"] = lab.architecture
    if lab.files:
        data["files"] = []
        for item in lab.files:
            entry = file_entry(item)
            if item.get("node"):
                entry["node"] = item["node"]
            data["files"].append(entry)
    if lab.setup:
        data["setup"] = lab.setup
    data["steps"] = [step_data(step, lab) for step in lab.steps]
    return data


def step_data(step: StepDef, lab: LabDef) -> dict:
    data = {"title": step.title, "text": step.text, "hint": step.hint}
    data.update(check=step.check_script, solution=step.solution_script)
    if step.sabotage_script:
        data["sabotage"] = step.sabotage_script
    if lab.node_of(step) != lab.nodes[0]:
        data["node"] = step.node
    if step.timeout_seconds != 30:
        data["timeout"] = step.timeout_seconds
    if step.check_architecture:
        data["architecture"] = True
    return data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
