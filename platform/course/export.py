"""The database's course written back as files, in exactly the format load_course reads:
lessons/modules.yaml, lessons/dayNN-slug.md and labs/<slug>/lab.yaml (placed files under
files/). Loading what this writes and exporting again gives the same files."""

from pathlib import Path

from course.models import Lesson, Module
from course.yamldoc import dump, write
from labs.files import export_lab
from labs.models import Lab


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


