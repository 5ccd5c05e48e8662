"""Load lessons/ and labs/ into the database. Idempotent; an invalid file is reported with
file:line:field and skipped, the valid rest still loads."""

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from course import markdown
from course.lessons import LessonDef, parse_lesson
from course.models import Lesson, Module
from course.signals import content_loaded
from course.yamldoc import ContentError, Doc, Fields
from labs.files import save_lab
from labs.format import LabDef, parse_lab
from labs.models import Lab


@dataclass
class LoadReport:
    errors: list[ContentError] = field(default_factory=list)
    labs: list[str] = field(default_factory=list)
    lessons: list[int] = field(default_factory=list)


def display(path: Path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def load_course(lessons_dir: Path | None = None, labs_dir: Path | None = None) -> LoadReport:
    lessons_dir = lessons_dir or settings.COURSE_LESSONS_DIR
    labs_dir = labs_dir or settings.COURSE_LABS_DIR
    report = LoadReport()
    labs = {}
    for lab_dir in sorted(p for p in labs_dir.iterdir() if (p / "lab.yaml").is_file()):
        lab, errors = parse_lab(lab_dir, display(lab_dir / "lab.yaml"))
        report.errors += errors
        if lab:
            labs[lab.slug] = lab
    modules = load_modules(lessons_dir / "modules.yaml", report)
    lessons = []
    seen_days: dict[int, str] = {}
    for file in sorted(lessons_dir.glob("*.md")):
        lesson, errors = parse_lesson(file, display(file))
        report.errors += errors
        if not lesson:
            continue
        if lesson.day in seen_days:
            report.errors.append(
                ContentError(
                    lesson.path, lesson.lines["day"], "day", f"day {lesson.day} is also {seen_days[lesson.day]}"
                )
            )
            continue
        if lesson.module not in modules:
            report.errors.append(
                ContentError(
                    lesson.path, lesson.lines["module"], "module", f"no module {lesson.module} in modules.yaml"
                )
            )
            continue
        if lesson.lab and lesson.lab not in labs:
            report.errors.append(
                ContentError(lesson.path, lesson.lines["lab"], "lab", f"no valid lab {lesson.lab!r} under labs/")
            )
            continue
        seen_days[lesson.day] = lesson.path
        lessons.append(lesson)
    with transaction.atomic():
        for number, title in modules.items():
            Module.objects.update_or_create(number=number, defaults={"title": title})
        # Only what the files changed since they were last loaded: when they say nothing new, the
        # database keeps what it has, which may be a version an instructor published in the studio.
        loaded_labs = dict(Lab.objects.values_list("slug", "source_hash"))
        for lab in labs.values():
            if loaded_labs.get(lab.slug) != (digest := fingerprint(lab)):
                save_lab(lab, source_hash=digest)
                content_loaded.send(load_course, kind="lab", key=lab.slug)
        loaded_lessons = dict(Lesson.objects.values_list("day", "source_hash"))
        for lesson in lessons:
            if loaded_lessons.get(lesson.day) != (digest := fingerprint(lesson)):
                save_lesson(lesson, source_hash=digest)
                content_loaded.send(load_course, kind="lesson", key=str(lesson.day))
            report.lessons.append(lesson.day)
    report.labs = sorted(labs)
    return report


def fingerprint(definition: LessonDef | LabDef) -> str:
    """A digest of everything the course files say about one lesson or lab (a lab's files too)."""
    said = {k: v for k, v in dataclasses.asdict(definition).items() if k not in ("path", "lines")}
    return hashlib.sha256(repr(said).encode()).hexdigest()


def load_modules(path: Path, report: LoadReport) -> dict[int, str]:
    try:
        doc = Doc(display(path), "modules:\n" + path.read_text(encoding="utf-8"), line_offset=-1)
    except FileNotFoundError:
        report.errors.append(ContentError(display(path), 1, "(file)", "missing: list the modules here"))
        return {}
    except ContentError as e:
        report.errors.append(e)
        return {}
    modules = {}
    for i, item in enumerate(doc.data.get("modules") or []):
        if not isinstance(item, dict):
            report.errors.append(doc.error(f"modules[{i}]", "each module is a mapping (number, title)"))
            continue
        f = Fields(doc, item, f"modules[{i}]", report.errors)
        f.reject_unknown({"number", "title"})
        number, title = f.get("number", int), f.get("title", str)
        if number is not None and title:
            modules[number] = title
    return modules


def save_lesson(lesson: LessonDef, source_hash: str | None = None) -> Lesson:
    """Write a parsed lesson to the course tables (its module and lab exist). source_hash: when
    it comes from the course files (a studio publish leaves the files' digest alone)."""
    Lesson.objects.filter(slug=lesson.slug).exclude(day=lesson.day).delete()  # a lesson moved days
    row, _ = Lesson.objects.update_or_create(
        day=lesson.day,
        defaults={
            **({"source_hash": source_hash} if source_hash is not None else {}),
            "module": Module.objects.get(number=lesson.module),
            "slug": lesson.slug,
            "title": lesson.title,
            "summary": lesson.summary,
            "body_markdown": lesson.body,
            "body_html": markdown.render(lesson.body),
            "quiz": lesson.quiz,
            "lab": Lab.objects.filter(slug=lesson.lab).first() if lesson.lab else None,
            "source_path": lesson.path,
        },
    )
    return row


