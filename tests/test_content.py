"""Course loading: the real course loads; bad files get file:line:field and the rest still loads."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from course.loader import load_course
from course.models import Course, Lesson, Module
from labs.models import Lab, Step

pytestmark = pytest.mark.django_db


def test_the_course_loads_without_errors_and_is_idempotent():
    first = load_course()
    assert not first.errors, "\n".join(map(str, first.errors))
    counts = (Module.objects.count(), Lesson.objects.count(), Lab.objects.count(), Step.objects.count())
    second = load_course()
    assert not second.errors
    assert (Module.objects.count(), Lesson.objects.count(), Lab.objects.count(), Step.objects.count()) == counts
    assert first.courses == second.courses == ["containers-to-kubernetes", "docker-in-depth"]


def days_of(slug: str) -> list[int]:
    return sorted(Lesson.objects.filter(course__slug=slug).values_list("day", flat=True))


def test_both_courses_are_there_the_kubernetes_one_first():
    load_course()
    assert [c.slug for c in Course.objects.all()] == ["containers-to-kubernetes", "docker-in-depth"]
    assert Course.default().slug == "containers-to-kubernetes"
    kubernetes = Course.objects.get(slug="containers-to-kubernetes")
    assert kubernetes.modules.count() == 8
    assert set(range(1, 11)) <= set(days_of(kubernetes.slug)) <= set(range(1, 41))
    docker = Course.objects.get(slug="docker-in-depth")
    assert days_of(docker.slug) == list(range(1, len(days_of(docker.slug)) + 1)) and len(days_of(docker.slug)) >= 30
    assert docker.modules.count() == 6 and all(m.lessons.exists() for m in docker.modules.all())
    assert Lab.objects.count() >= 40


def test_the_kubernetes_course_has_forty_days_in_eight_modules(client, learner):
    load_course()
    course = Course.objects.get(slug="containers-to-kubernetes")
    assert days_of(course.slug) == list(range(1, 41))
    assert course.modules.count() == 8 and all(m.lessons.exists() for m in course.modules.all())
    client.force_login(learner)  # and the learner's map shows them all
    page = client.get("/course/containers-to-kubernetes/").content.decode()
    assert page.count('<section class="module">') == 8 and page.count("data-day=") == 40


def test_internal_links_in_lessons_and_steps_resolve():
    import re

    from django.urls import Resolver404, resolve

    load_course()
    days = set(Lesson.objects.values_list("course__slug", "day"))
    default = Course.default().slug
    texts = [(f"{lesson.course.slug} day {lesson.day}", lesson.body_html) for lesson in Lesson.objects.all()]
    texts += [(f"{step.lab.slug} step {step.position}", step.text_html) for step in Step.objects.select_related("lab")]
    for where, html in texts:
        for href in re.findall(r'href="(/[^"#?]*)', html):
            try:
                match = resolve(href)
            except Resolver404:
                raise AssertionError(f"{where}: the link {href} leads nowhere") from None
            if match.url_name == "day":
                named = (match.kwargs.get("course", default), match.kwargs["day"])
                assert named in days, f"{where}: the link {href} names a day that does not exist"


def test_every_day_is_a_real_lesson_with_a_lab_quiz_and_diagram():
    import re

    load_course()
    for course in Course.objects.all():
        days = days_of(course.slug)
        assert days[:3] == [1, 2, 3] and len(days) == len(set(days))
    for lesson in Lesson.objects.select_related("course", "lab"):
        day = f"{lesson.course.slug} day {lesson.day}"
        # The 900-word floor is for explanation, so code and diagrams do not count towards it;
        # the 1800-word ceiling keeps the whole page, code included, readable in one sitting.
        words = len(lesson.body_markdown.split())
        prose = len(re.sub(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", " ", lesson.body_markdown, flags=re.M | re.S).split())
        assert 900 <= prose and words <= 1800, f"{day} has {prose} words of prose, {words} in all"
        assert "```mermaid" in lesson.body_markdown, day
        assert 3 <= len(lesson.quiz) <= 5, day
        assert all(q["explanation"].strip() for q in lesson.quiz), f"{day}: a quiz answer is unexplained"
        for q in lesson.quiz:  # one right answer, among at least two distinct choices
            assert 1 <= q["answer"] <= len(q["choices"]) and len(set(q["choices"])) == len(q["choices"]) >= 2, day
        assert lesson.lab is not None and lesson.lab.steps.count() >= 2, f"{day}: a lab of one step"
        for step in lesson.lab.steps.all():
            assert step.check_script.strip() and step.solution_script.strip() and step.hint.strip()


@pytest.fixture
def content(tmp_path):
    """A copy of the real course in a temporary folder, for breaking things."""
    lessons, labs = tmp_path / "lessons", tmp_path / "labs"
    shutil.copytree(settings.COURSE_LESSONS_DIR, lessons)
    shutil.copytree(settings.COURSE_LABS_DIR, labs, ignore=shutil.ignore_patterns("images"))
    return lessons, labs


def lab_yaml(labs: Path, slug="day01-docker-architecture") -> Path:
    return labs / slug / "lab.yaml"


def test_an_unknown_lab_key_is_an_error_with_file_line_and_field(content):
    lessons, labs = content
    path = lab_yaml(labs)
    text = path.read_text()
    path.write_text(text.replace("\nsteps:", "\ncolour: blue\nsteps:", 1))
    line = path.read_text().splitlines().index("colour: blue") + 1
    report = load_course(lessons, labs)
    messages = [str(e) for e in report.errors]
    assert any(m.startswith(f"{path}:{line}: colour: unknown key") for m in messages), messages


def test_a_step_without_a_check_names_the_step(content):
    lessons, labs = content
    path = lab_yaml(labs)
    lines = path.read_text().splitlines()
    first_check = next(i for i, line in enumerate(lines) if line.strip().startswith("check:"))
    indent = len(lines[first_check]) - len(lines[first_check].lstrip())
    end = first_check + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    path.write_text("\n".join(lines[:first_check] + lines[end:]) + "\n")
    report = load_course(lessons, labs)
    assert any(e.field == "steps[0].check" and e.message == "required" for e in report.errors), report.errors


def test_broken_yaml_names_the_line_and_the_valid_rest_still_loads(content):
    lessons, labs = content
    path = lab_yaml(labs, "day02-containers-and-vms")
    path.write_text("title: [unclosed\nimage: x\n")
    report = load_course(lessons, labs)
    lab_errors = [e for e in report.errors if e.path == str(path)]
    assert len(lab_errors) == 1 and lab_errors[0].line in (1, 2)
    lesson_errors = [e for e in report.errors if e.path != str(path)]
    assert [(e.field, "day02" in e.path) for e in lesson_errors] == [("lab", True)]
    assert "day01-docker-architecture" in report.labs
    # Day 2's lesson names the broken lab, so it is reported too, and days 1 and 3 still load.
    assert Lesson.objects.filter(course__slug="containers-to-kubernetes", day__in=[1, 3]).count() == 2


def test_a_lesson_with_a_bad_quiz_answer_names_the_question(content):
    lessons, labs = content
    path = next(lessons.glob("containers-to-kubernetes/day01-*.md"))
    text = path.read_text()
    path.write_text(text.replace("answer:", "answer: 99 #", 1))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if "answer: 99" in text)
    report = load_course(lessons, labs)
    error = next(e for e in report.errors if e.field == "quiz[0].answer")
    assert (error.path, error.line) == (str(path), line)


def test_load_course_command_fails_loudly_but_loads_the_rest(content, settings):
    lessons, labs = content
    settings.COURSE_LESSONS_DIR, settings.COURSE_LABS_DIR = lessons, labs
    (lessons / "docker-in-depth" / "day09-broken.md").write_text("no front matter here\n")
    with pytest.raises(CommandError, match="1 content error"):
        call_command("load_course")
    assert Lesson.objects.filter(day=1).exists()


def test_lesson_markdown_cannot_inject_script(content):
    lessons, labs = content
    path = next(lessons.glob("containers-to-kubernetes/day01-*.md"))
    path.write_text(path.read_text() + '\n<script>alert(1)</script>\n<a href="javascript:alert(2)">x</a>\n')
    load_course(lessons, labs)
    html = Lesson.objects.get(slug="docker-architecture").body_html
    assert "<script" not in html and "javascript:" not in html


def test_a_target_architecture_is_validated_with_line_and_field(content):
    lessons, labs = content
    path = lab_yaml(labs)
    text = path.read_text()
    path.write_text(
        text.replace(
            "\nsteps:",
            "\narchitecture:\n  containers: [web]\n  networks: [appnet]\n"
            "  links: [[web, nosuchnet]]\n  ports: [80]\nsteps:",
            1,
        )
    )
    report = load_course(lessons, labs)
    messages = [str(e) for e in report.errors]
    assert any("architecture.links[0]" in m and "nosuchnet" in m for m in messages), messages
    assert any("architecture" in m and "ports" in m for m in messages), messages
    line = path.read_text().splitlines().index("  links: [[web, nosuchnet]]") + 1
    assert any(f":{line}:" in m for m in messages), messages


def test_a_cluster_target_names_kubernetes_objects_and_links_a_service_to_a_deployment(content):
    lessons, labs = content
    path = lab_yaml(labs, "k8s-services")
    text = path.read_text()
    target = text[text.index("architecture:\n") : text.index("steps:")]
    path.write_text(
        text.replace(
            target,
            "architecture:\n  deployments: [web, Web_2]\n  services: [web]\n  containers: [x]\n  links: [[web, api]]\n",
            1,
        )
    )
    messages = [str(e) for e in load_course(lessons, labs).errors]
    assert any("architecture.deployments[1]" in m and "Kubernetes object name" in m for m in messages), messages
    assert any("architecture" in m and "containers" in m for m in messages), messages  # a Docker kind
    assert any("architecture.links[0]" in m and "'api' is not one of architecture.deployments" in m for m in messages)


def test_export_course_round_trips_files_and_records(tmp_path):
    from course.export import export_course

    def records():
        lessons = list(
            Lesson.objects.values(
                "course__slug", "day", "module__number", "slug", "title", "summary", "body_markdown", "quiz",
                "lab__slug",
            ).order_by("course__slug", "day")
        )
        labs = list(
            Lab.objects.values(
                "slug",
                "title",
                "image",
                "profile",
                "time_limit_minutes",
                "nodes",
                "files",
                "resources",
                "setup",
                "architecture",
            ).order_by("slug")
        )
        steps = list(
            Step.objects.values(
                "lab__slug",
                "position",
                "title",
                "text_markdown",
                "hint_markdown",
                "check_script",
                "solution_script",
                "sabotage_script",
                "node",
                "timeout_seconds",
                "check_architecture",
            ).order_by("lab__slug", "position")
        )
        return lessons, labs, steps

    assert not load_course().errors
    original = records()
    first, second = tmp_path / "first", tmp_path / "second"
    export_course(first / "lessons", first / "labs")
    report = load_course(first / "lessons", first / "labs")
    assert not report.errors, "\n".join(map(str, report.errors))
    assert records() == original
    export_course(second / "lessons", second / "labs")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert len([f for f in files if f.parts[0] == "lessons" and f.suffix == ".md"]) == Lesson.objects.count()
    assert {f.parts[1] for f in files if f.name == "course.yaml"} == {"containers-to-kubernetes", "docker-in-depth"}
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_lesson_that_moves_day_or_course_keeps_its_learners_progress(content, learner):
    """The re-cut of the course moved days between courses: progress goes with the lesson (its
    slug), and two lessons may swap days in one load."""
    from course.models import DayProgress

    lessons, labs = content
    assert not load_course(lessons, labs).errors
    moved, swapped = lesson_of_slug("namespaces"), lesson_of_slug("control-groups")
    DayProgress.objects.create(user=learner, lesson=moved, completed_at=timezone.now())
    DayProgress.objects.create(user=learner, lesson=swapped)
    kubernetes, docker = lessons / "containers-to-kubernetes", lessons / "docker-in-depth"
    # namespaces (day 7) goes to the other course as its day 32; control-groups (8) swaps with union-filesystems (9)
    move_lesson(kubernetes / "day07-namespaces.md", docker / "day32-namespaces.md", 32, module=2)
    move_lesson(kubernetes / "day08-control-groups.md", kubernetes / "day09-control-groups.md.new", 9)
    move_lesson(kubernetes / "day09-union-filesystems.md", kubernetes / "day08-union-filesystems.md", 8)
    (kubernetes / "day09-control-groups.md.new").rename(kubernetes / "day09-control-groups.md")
    report = load_course(lessons, labs)
    assert not report.errors, "\n".join(map(str, report.errors))
    assert (lesson_of_slug("namespaces").course.slug, lesson_of_slug("namespaces").day) == ("docker-in-depth", 32)
    assert lesson_of_slug("control-groups").day == 9 and lesson_of_slug("union-filesystems").day == 8
    assert DayProgress.objects.get(user=learner, lesson__slug="namespaces").completed_at is not None
    assert DayProgress.objects.filter(user=learner, lesson__slug="control-groups").exists()
    assert not Lesson.objects.filter(course__slug="containers-to-kubernetes", day=7).exists()


def lesson_of_slug(slug: str) -> Lesson:
    return Lesson.objects.select_related("course").get(slug=slug)


def move_lesson(source: Path, target: Path, day: int, module: int | None = None) -> None:
    import re

    text = re.sub(r"^day: \d+$", f"day: {day}", source.read_text(), count=1, flags=re.M)
    if module is not None:
        text = re.sub(r"^module: \d+$", f"module: {module}", text, count=1, flags=re.M)
    source.unlink()
    target.write_text(text)


def test_course_folders_are_checked_with_file_line_and_field(content):
    lessons, labs = content
    kubernetes, docker = lessons / "containers-to-kubernetes", lessons / "docker-in-depth"
    (lessons / "day01-stray.md").write_text((kubernetes / "day01-docker-architecture.md").read_text())
    (lessons / "no-course-file").mkdir()
    (lessons / "third").mkdir()
    (lessons / "third" / "course.yaml").write_text("title: A third course\ncolour: blue\nmodules: []\n")
    twin = kubernetes / "day99-writing-a-dockerfile.md"
    twin.write_text((docker / "day01-writing-a-dockerfile.md").read_text().replace("day: 1\n", "day: 99\n", 1))
    report = load_course(lessons, labs)
    errors = [(e.path, e.line, e.field, e.message) for e in report.errors]
    assert any(p.endswith("lessons/day01-stray.md") and "lessons/<course>/" in m for p, _, _, m in errors), errors
    assert any(p.endswith("no-course-file/course.yaml") and f == "(file)" for p, _, f, _ in errors), errors
    assert any(p.endswith("third/course.yaml") and (n, f) == (2, "colour") for p, n, f, _ in errors), errors
    assert any(
        p.endswith("docker-in-depth/day01-writing-a-dockerfile.md") and str(twin) in m for p, _, _, m in errors
    ), errors
    assert len(errors) == 4, errors
    # A course with a bad course.yaml is skipped whole; the others still load.
    assert report.courses == ["containers-to-kubernetes", "docker-in-depth"]
