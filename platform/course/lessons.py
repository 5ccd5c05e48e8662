"""The lesson format: lessons/<course>/dayNN-slug.md, YAML front matter then Markdown (docs/authoring.md)."""

import re
from dataclasses import dataclass
from pathlib import Path

from course.yamldoc import ContentError, Doc, Fields

FILENAME = re.compile(r"^day(\d{2})-([a-z0-9-]+)\.md$")
LESSON_KEYS = {"day", "module", "title", "summary", "lab", "quiz"}
QUESTION_KEYS = {"question", "choices", "answer", "explanation"}


@dataclass
class LessonDef:
    day: int
    module: int
    slug: str
    title: str
    summary: str
    lab: str
    quiz: list[dict]
    body: str
    path: str
    lines: dict[str, int]
    course: str = ""  # the slug of its course: the folder it lives in


def split_front_matter(text: str, path: str) -> tuple[str, str, int]:
    """Return (front matter, body, the line where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ContentError(path, 1, "(front matter)", "a lesson starts with a line '---' and YAML front matter")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    raise ContentError(path, 1, "(front matter)", "the front matter is not closed by a line '---'")


def parse_lesson(file: Path, display_path: str) -> tuple[LessonDef | None, list[ContentError]]:
    return parse_lesson_text(file.read_text(encoding="utf-8"), file.name, display_path, course=file.parent.name)


def parse_lesson_text(
    text: str, filename: str, display_path: str, course: str = ""
) -> tuple[LessonDef | None, list[ContentError]]:
    """Parse a lesson's whole source (a file's, or a draft's in the studio) of that course."""
    errors: list[ContentError] = []
    try:
        front, body, _ = split_front_matter(text, display_path)
        doc = Doc(display_path, front, line_offset=1)
    except ContentError as e:
        return None, [e]
    match = FILENAME.match(filename)
    if not match:
        errors.append(ContentError(display_path, 1, "(file name)", "name lessons dayNN-some-slug.md"))
    f = Fields(doc, doc.data, "", errors)
    f.reject_unknown(LESSON_KEYS)
    day = f.get("day", int)
    if match and day is not None and int(match.group(1)) != day:
        errors.append(doc.error("day", f"is {day} but the file name says day {int(match.group(1))}"))
    module = f.get("module", int)
    title = f.get("title", str)
    summary = f.get("summary", str)
    lab = f.get("lab", str, required=False, default="")
    quiz = []
    for i, raw in enumerate(f.get("quiz", list, required=False, default=[]) or []):
        if not isinstance(raw, dict):
            errors.append(
                doc.error(f"quiz[{i}]", "each question is a mapping (question, choices, answer, explanation)")
            )
            continue
        q = Fields(doc, raw, f"quiz[{i}]", errors)
        q.reject_unknown(QUESTION_KEYS)
        question = q.get("question", str)
        choices = q.get("choices", list)
        answer = q.get("answer", int)
        explanation = q.get("explanation", str)
        if choices is not None and (len(choices) < 2 or not all(isinstance(c, str | int) for c in choices)):
            errors.append(doc.error(f"quiz[{i}].choices", "a list of at least two answers"))
        elif choices is not None and answer is not None and not 1 <= answer <= len(choices):
            errors.append(doc.error(f"quiz[{i}].answer", f"the number of the right choice, 1 to {len(choices)}"))
        quiz.append(
            {
                "question": question,
                "choices": [str(c) for c in choices or []],
                "answer": answer,
                "explanation": explanation,
            }
        )
    if not body.strip():
        errors.append(ContentError(display_path, doc.line("") + len(front.splitlines()) + 1, "(body)", "empty"))
    if errors:
        return None, errors
    return LessonDef(day, module, match.group(2), title, summary, lab, quiz, body, display_path, doc.lines, course), []
