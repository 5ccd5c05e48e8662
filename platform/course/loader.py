"""Load lessons/ and labs/ into the database. Idempotent; an invalid file is reported with
file:line:field and skipped, the valid rest still loads.

lessons/ holds one folder per course: its course.yaml (title, summary, position, modules) and
its lessons (dayNN-slug.md). labs/ holds the labs every course may use, one folder each."""

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from course import markdown
from course.lessons import LessonDef, parse_lesson
from course.models import Course, Lesson, Module
from course.signals import content_loaded
from course.yamldoc import ContentError, Doc, Fields
from labs.files import save_lab
from labs.format import LabDef, parse_lab
from labs.models import Lab

COURSE_KEYS = {"title", "summary", "position", "modules"}
COURSE_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
RESERVED_SLUGS = {"day"}  # /course/day/N/ is a day of the default course
PARKED = 20000  # days out of the way while lessons change places (a small positive integer field)


@dataclass
class CourseDef:
    slug: str
    title: str
    summary: str
    position: int
    modules: dict[int, str]
    path: str


@dataclass
class LoadReport:
    errors: list[ContentError] = field(default_factory=list)
    labs: list[str] = field(default_factory=list)
    courses: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)  # "course/day"


def display(path: Path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def load_course(lessons_dir: Path | None = None, labs_dir: Path | None = None) -> LoadReport:
    """Every course under lessons_dir, and every lab under labs_dir."""
    lessons_dir = lessons_dir or settings.COURSE_LESSONS_DIR
    labs_dir = labs_dir or settings.COURSE_LABS_DIR
    report = LoadReport()
    labs = {}
    for lab_dir in sorted(p for p in labs_dir.iterdir() if (p / "lab.yaml").is_file()):
        lab, errors = parse_lab(lab_dir, display(lab_dir / "lab.yaml"))
        report.errors += errors
        if lab:
            labs[lab.slug] = lab
    for stray in sorted(lessons_dir.glob("*.md")):
        report.errors.append(
            ContentError(display(stray), 1, "(file)", "a lesson lives in its course's folder: lessons/<course>/")
        )
    courses, lessons = [], []
    seen_slugs: dict[str, str] = {}
    for folder in sorted(p for p in lessons_dir.iterdir() if p.is_dir()):
        course = parse_course(folder, report)
        if course is None:
            continue
        courses.append(course)
        lessons += course_lessons(folder, course, labs, seen_slugs, report)
    with transaction.atomic():
        for course in courses:
            save_course(course)
        # Only what the files changed since they were last loaded: when they say nothing new, the
        # database keeps what it has, which may be a version an instructor published in the studio.
        loaded_labs = dict(Lab.objects.values_list("slug", "source_hash"))
        for lab in labs.values():
            if loaded_labs.get(lab.slug) != (digest := fingerprint(lab)):
                save_lab(lab, source_hash=digest)
                content_loaded.send(load_course, kind="lab", key=lab.slug)
        moved = make_room(lessons)
        loaded_lessons = dict(Lesson.objects.values_list("slug", "source_hash"))
        for lesson in lessons:
            if loaded_lessons.get(lesson.slug) != (digest := fingerprint(lesson)) or lesson.slug in moved:
                save_lesson(lesson, source_hash=digest)
                content_loaded.send(load_course, kind="lesson", key=lesson.slug)
            report.lessons.append(f"{lesson.course}/{lesson.day}")
    report.labs = sorted(labs)
    report.courses = [course.slug for course in courses]
    return report


def parse_course(folder: Path, report: LoadReport) -> CourseDef | None:
    path = folder / "course.yaml"
    if folder.name in RESERVED_SLUGS or not COURSE_SLUG.fullmatch(folder.name):
        report.errors.append(ContentError(display(folder), 1, "(folder)", "name a course's folder in-lower-case-words"))
        return None
    try:
        doc = Doc(display(path), path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.errors.append(ContentError(display(path), 1, "(file)", "missing: each course folder has a course.yaml"))
        return None
    except ContentError as e:
        report.errors.append(e)
        return None
    errors: list[ContentError] = []
    f = Fields(doc, doc.data, "", errors)
    f.reject_unknown(COURSE_KEYS)
    title, summary = f.get("title", str), f.get("summary", str, required=False, default="")
    position = f.get("position", int, required=False, default=1)
    modules = {}
    for i, item in enumerate(f.get("modules", list) or []):
        if not isinstance(item, dict):
            errors.append(doc.error(f"modules[{i}]", "each module is a mapping (number, title)"))
            continue
        m = Fields(doc, item, f"modules[{i}]", errors)
        m.reject_unknown({"number", "title"})
        number, module_title = m.get("number", int), m.get("title", str)
        if number is not None and module_title:
            modules[number] = module_title
    report.errors += errors
    if errors or not title:
        return None
    return CourseDef(folder.name, title, summary or "", position, modules, display(path))


def course_lessons(folder: Path, course: CourseDef, labs: dict, seen_slugs: dict, report: LoadReport) -> list:
    """The valid lessons of one course; each problem is an error naming its file, line and field."""
    lessons, seen_days = [], {}
    for file in sorted(folder.glob("*.md")):
        lesson, errors = parse_lesson(file, display(file))
        report.errors += errors
        if not lesson:
            continue
        problem = None
        if lesson.day in seen_days:
            problem = ("day", f"day {lesson.day} is also {seen_days[lesson.day]}")
        elif lesson.module not in course.modules:
            problem = ("module", f"no module {lesson.module} in {course.path}")
        elif lesson.lab and lesson.lab not in labs:
            problem = ("lab", f"no valid lab {lesson.lab!r} under labs/")
        elif lesson.slug in seen_slugs:
            problem = ("(file name)", f"the lesson {lesson.slug!r} is also {seen_slugs[lesson.slug]}")
        if problem:
            report.errors.append(ContentError(lesson.path, lesson.lines.get(problem[0], 1), *problem))
            continue
        seen_days[lesson.day] = seen_slugs[lesson.slug] = lesson.path
        lessons.append(lesson)
    return lessons


def save_course(course: CourseDef) -> Course:
    row, _ = Course.objects.update_or_create(
        slug=course.slug,
        defaults={"title": course.title, "summary": course.summary, "position": course.position,
                  "source_path": course.path},
    )  # fmt: skip
    for number, title in course.modules.items():
        Module.objects.update_or_create(course=row, number=number, defaults={"title": title})
    return row


def make_room(lessons: list[LessonDef]) -> set[str]:
    """Lessons the files place on another day (or course) first step out of the way, so that two
    lessons may swap days; a lesson no file names any more, on a day the files give another, goes.
    Returns the slugs of the lessons that moved: they are saved whatever their digest says."""
    place = {lesson.slug: (lesson.course, lesson.day) for lesson in lessons}
    courses = dict(Course.objects.values_list("slug", "pk"))
    moved = set()
    for row in Lesson.objects.select_related("course"):
        if row.slug not in place:
            if (row.course.slug, row.day) in place.values():
                row.delete()  # its progress goes with it: no course has this lesson any more
        elif (row.course.slug, row.day) != place[row.slug]:
            row.course_id, row.day = courses[place[row.slug][0]], PARKED + len(moved)
            row.save(update_fields=["course", "day"])
            moved.add(row.slug)
    return moved


def fingerprint(definition: LessonDef | LabDef) -> str:
    """A digest of everything the course files say about one lesson or lab (a lab's files too)."""
    said = {k: v for k, v in dataclasses.asdict(definition).items() if k not in ("path", "lines")}
    return hashlib.sha256(repr(said).encode()).hexdigest()


def save_lesson(lesson: LessonDef, source_hash: str | None = None) -> Lesson:
    """Write a parsed lesson to the course tables (its course, module and lab exist; its day of
    that course is free or already its own). source_hash: when it comes from the course files (a
    studio publish leaves the files' digest alone)."""
    course = Course.objects.get(slug=lesson.course)
    row, _ = Lesson.objects.update_or_create(
        slug=lesson.slug,
        defaults={
            **({"source_hash": source_hash} if source_hash is not None else {}),
            "course": course,
            "day": lesson.day,
            "module": Module.objects.get(course=course, number=lesson.module),
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
