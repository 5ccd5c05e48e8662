"""A lab's files: labs/<slug>/ (lab.yaml, with placed files under files/) into the database and
back, in exactly the format load_course reads (labs/format.py parses it)."""

from pathlib import Path

from course import markdown
from course.yamldoc import dump, write
from labs.format import LabDef, StepDef
from labs.models import Lab, Step


def save_lab(lab: LabDef, source_hash: str | None = None) -> Lab:
    row, _ = Lab.objects.update_or_create(
        slug=lab.slug,
        defaults={
            **({"source_hash": source_hash} if source_hash is not None else {}),
            "title": lab.title,
            "image": lab.image,
            "profile": lab.profile,
            "time_limit_minutes": lab.time_limit_minutes,
            "nodes": lab.nodes,
            "files": lab.files,
            "setup": lab.setup,
            "resources": lab.resources,
            "architecture": lab.architecture,
            "source_path": lab.path,
        },
    )
    for position, step in enumerate(lab.steps, start=1):
        Step.objects.update_or_create(
            lab=row,
            position=position,
            defaults={
                "title": step.title,
                "text_markdown": step.text,
                "text_html": markdown.render(step.text),
                "hint": markdown.render(step.hint),
                "hint_markdown": step.hint,
                "check_script": step.check_script,
                "solution_script": step.solution_script,
                "sabotage_script": step.sabotage_script,
                "node": lab.node_of(step),
                "timeout_seconds": step.timeout_seconds,
                "check_architecture": step.check_architecture,
            },
        )
    row.steps.filter(position__gt=len(lab.steps)).delete()
    return row


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


