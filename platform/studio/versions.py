"""Drafts, versions and publishing. Every save is a numbered version of an item's whole source
text; learners see only what was published into the course tables. A save names the version it
started from, so two instructors editing at once cannot overwrite each other: the second save
is refused as a conflict, with both texts kept."""

import difflib
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from course import export
from course.lessons import LessonDef, parse_lesson_text
from course.loader import save_lesson
from course.models import Lesson, Module
from course.signals import content_loaded
from course.yamldoc import ContentError
from labs import files
from labs.format import LabDef, parse_lab_text
from labs.models import Lab
from studio.models import ContentVersion

LESSON, LAB = ContentVersion.LESSON, ContentVersion.LAB


class Conflict(Exception):
    """Someone saved a newer version since this editor loaded `base`."""

    def __init__(self, head: ContentVersion):
        super().__init__(f"{head.author_name} saved version {head.number} meanwhile")
        self.head = head


class Invalid(Exception):
    def __init__(self, errors: list[ContentError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class Item:
    """One lesson or lab (key: its slug) as the studio handles it."""

    kind: str
    key: str

    @property
    def record(self) -> Lesson | Lab | None:
        if self.kind == LESSON:
            return Lesson.objects.filter(slug=self.key).select_related("course", "module", "lab").first()
        return Lab.objects.filter(slug=self.key).first()

    @property
    def display_path(self) -> str:
        if self.kind == LAB:
            return f"labs/{self.key}/lab.yaml"
        lesson = self.record
        return f"lessons/{lesson.course.slug}/{self.filename}"

    @property
    def filename(self) -> str:
        return export.lesson_filename(self.record)


def item(kind: str, key: str) -> Item | None:
    """The item, or None when there is no such lesson or lab."""
    if kind in (LESSON, LAB):
        found = Item(kind, key)
        return found if found.record else None
    return None


def published_text(it: Item) -> str:
    record = it.record
    return export.lesson_text(record) if it.kind == LESSON else files.lab_text(record)


def versions(it: Item):
    return ContentVersion.objects.filter(kind=it.kind, key=it.key).select_related("author")


def head(it: Item) -> ContentVersion:
    """The newest version (reading it writes nothing). A lesson or lab with no version yet (made
    outside load_course) shows what learners see, as version 1, until something is saved."""
    newest = versions(it).first()
    if newest is not None:
        return newest
    return ContentVersion(
        kind=it.kind, key=it.key, number=1, text=published_text(it), published_at=timezone.now(),
        note=f"as loaded from {it.record.source_path}", source_hash=it.record.source_hash,
    )  # fmt: skip


def listed(it: Item) -> list[ContentVersion]:
    """Every version, newest first (the one head() shows when none is saved yet)."""
    return list(versions(it)) or [head(it)]


def record_files(it: Item) -> ContentVersion:
    """The course files count as an author: the first time, and whenever load_course took a
    changed file since, what it loaded becomes a new (published) version. Called by load_course
    (through course.signals.content_loaded) and before any change made in the studio."""
    newest = versions(it).first()
    record = it.record
    from_files = versions(it).filter(author__isnull=True).first()
    if from_files and from_files.source_hash == record.source_hash:
        return newest
    version, _ = ContentVersion.objects.get_or_create(
        kind=it.kind,
        key=it.key,
        number=newest.number + 1 if newest else 1,
        defaults={
            "text": published_text(it),
            "note": f"{'changed in' if newest else 'as loaded from'} {record.source_path}",
            "source_hash": record.source_hash,
            "published_at": timezone.now(),
        },
    )
    return version


def published(it: Item) -> ContentVersion | None:
    return versions(it).filter(published_at__isnull=False).order_by("-published_at", "-number").first()


def state(it: Item) -> str:
    """'published' when learners see the newest version, else 'draft'."""
    newest = head(it)
    return "published" if newest.published_at else "draft"


def parse(it: Item, text: str) -> LessonDef | LabDef:
    """The text as the loader would take it, checked against the rest of the course; raises Invalid."""
    if it.kind == LAB:
        lab, errors = parse_lab_text(text, it.key, it.display_path, settings.COURSE_LABS_DIR / it.key)
        if errors:
            raise Invalid(errors)
        return lab
    course = it.record.course
    lesson, errors = parse_lesson_text(text, it.filename, it.display_path, course=course.slug)
    if errors:
        raise Invalid(errors)
    if not Module.objects.filter(course=course, number=lesson.module).exists():
        raise Invalid([ContentError(lesson.path, lesson.lines["module"], "module", f"no module {lesson.module}")])
    if lesson.lab and not Lab.objects.filter(slug=lesson.lab).exists():
        raise Invalid([ContentError(lesson.path, lesson.lines["lab"], "lab", f"no lab {lesson.lab!r} in the course")])
    return lesson


def save(it: Item, text: str, author, base: int, note: str = "") -> ContentVersion:
    """A new draft version on top of version `base`; Conflict if someone saved after `base`.
    Invalid text is saved too (work is never lost); only publishing needs it valid."""
    text = text.replace("\r\n", "\n")
    record_files(it)
    with transaction.atomic():
        # Lock the item's versions (no join: PostgreSQL cannot lock the nullable side of one).
        newest = ContentVersion.objects.filter(kind=it.kind, key=it.key).select_for_update().order_by("-number").first()
        if newest.number != base:
            raise Conflict(newest)
        if newest.text == text and not note:
            return newest
        return ContentVersion.objects.create(
            kind=it.kind, key=it.key, number=newest.number + 1, text=text, author=author, note=note
        )


def publish(it: Item, version: ContentVersion, user) -> None:
    """Make this version what learners see; raises Invalid (and changes nothing) if it is not valid."""
    definition = parse(it, version.text)
    with transaction.atomic():
        if it.kind == LAB:
            files.save_lab(definition)
        else:
            save_lesson(definition)
        version.published_at = timezone.now()
        version.save(update_fields=["published_at"])


def restore(it: Item, version: ContentVersion, author, base: int) -> ContentVersion:
    """An old text becomes the newest draft (history is never rewritten)."""
    return save(it, version.text, author, base, note=f"restored version {version.number}")


def diff(version: ContentVersion) -> str:
    """A unified diff against the version before it."""
    before = versions(Item(version.kind, version.key)).filter(number__lt=version.number).first()
    return unified_diff(
        before.text if before else "",
        version.text,
        f"version {before.number}" if before else "(nothing)",
        f"version {version.number}",
    )


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name)
    )


@receiver(content_loaded)
def record_loaded(sender, kind: str, key: str, **kwargs) -> None:
    record_files(Item(kind, key))
