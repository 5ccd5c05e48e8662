"""The database's courses written back as files, in exactly the format load_course reads:
lessons/<course>/course.yaml, lessons/<course>/dayNN-slug.md and labs/<slug>/lab.yaml (placed
files under files/). Loading what this writes and exporting again gives the same files."""

from pathlib import Path

from course.models import Course, Lesson
from course.yamldoc import dump, write
from labs.files import export_lab
from labs.models import Lab


def export_course(lessons_dir: Path, labs_dir: Path) -> list[Path]:
    labs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for course in Course.objects.prefetch_related("modules"):
        folder = lessons_dir / course.slug
        folder.mkdir(parents=True, exist_ok=True)
        written.append(write(folder / "course.yaml", course_text(course)))
    for lesson in Lesson.objects.select_related("course", "module", "lab"):
        written.append(write(lessons_dir / lesson.course.slug / lesson_filename(lesson), lesson_text(lesson)))
    for lab in Lab.objects.prefetch_related("steps"):
        written += export_lab(lab, labs_dir / lab.slug)
    return written


def course_text(course: Course) -> str:
    modules = [{"number": m.number, "title": m.title} for m in course.modules.all()]
    return dump({"title": course.title, "summary": course.summary, "position": course.position, "modules": modules})


def lesson_filename(lesson: Lesson) -> str:
    return f"day{lesson.day:02d}-{lesson.slug}.md"


def lesson_text(lesson: Lesson) -> str:
    front = {"day": lesson.day, "module": lesson.module.number, "title": lesson.title, "summary": lesson.summary}
    if lesson.lab:
        front["lab"] = lesson.lab.slug
    if lesson.quiz:
        front["quiz"] = lesson.quiz
    return f"---\n{dump(front)}---\n{lesson.body_markdown}"
