"""The instructor studio: the list with states, editing with a live preview and inline errors,
versions with diffs, conflicts detected (never overwritten), publishing (learners see only what is
published), restoring, and who may get in."""

import pytest
from django.test import Client

from course.models import Lesson
from labs.models import Lab
from studio import versions
from studio.models import ContentVersion
from tests.helpers import lesson_of, save_test_lab

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def edit_page_text(client, kind, key) -> tuple[str, int]:
    """The editor's text and base version, as the page gives them."""
    page = client.get(f"/studio/{kind}/{key}/")
    assert page.status_code == 200
    context = page.context
    return context["text"], context["version"].number


def test_learners_get_403_everywhere_and_instructors_cannot_reach_the_console(course, learner, instructor):
    learner_client, instructor_client = client_for(learner), client_for(instructor)
    slug = lesson_of(1).lab.slug
    urls = [
        ("get", "/studio/"),
        ("get", "/studio/lesson/docker-architecture/"),
        ("get", f"/studio/lab/{slug}/"),
        ("post", "/studio/lesson/docker-architecture/preview/"),
        ("post", "/studio/lesson/docker-architecture/save/"),
        ("get", "/studio/lesson/docker-architecture/versions/"),
        ("get", "/studio/lesson/docker-architecture/versions/1/"),
        ("post", "/studio/lesson/docker-architecture/versions/1/publish/"),
        ("post", "/studio/lesson/docker-architecture/versions/1/restore/"),
    ]
    for method, url in urls:
        assert getattr(learner_client, method)(url).status_code == 403, url
    assert instructor_client.get("/studio/").status_code == 200
    assert instructor_client.get("/console/").status_code == 403
    assert "Studio" in instructor_client.get("/course/").content.decode()
    assert "Studio" not in learner_client.get("/course/").content.decode()


def test_the_studio_lists_every_day_with_its_lesson_lab_and_states(course, instructor):
    page = client_for(instructor).get("/studio/").content.decode()
    assert page.count('<tr data-course="') == Lesson.objects.count() >= 40  # both courses
    assert "published" in page and "not run yet" in page


def test_the_preview_renders_as_learners_see_it_and_errors_name_line_and_field(course, instructor):
    client = client_for(instructor)
    text, _ = edit_page_text(client, "lesson", "docker-architecture")
    changed = text.replace("\n---\n", "\n---\n\nA **new** paragraph for the preview.\n", 1)
    preview = client.post("/studio/lesson/docker-architecture/preview/", {"text": changed}).content.decode()
    assert "A <strong>new</strong> paragraph for the preview." in preview
    assert 'class="quiz"' in preview  # the quiz, as on the learner's page (inert here)

    broken = text.replace("module: 1", "module: lots", 1)
    preview = client.post("/studio/lesson/docker-architecture/preview/", {"text": broken}).content.decode()
    assert 'data-line="3"' in preview and "<code>module</code>" in preview

    slug = lesson_of(1).lab.slug
    lab_text, _ = edit_page_text(client, "lab", slug)
    lab_preview = client.post(f"/studio/lab/{slug}/preview/", {"text": lab_text}).content.decode()
    assert 'id="step-1"' in lab_preview and "Hint" in lab_preview
    no_check = lab_text.replace("  check: ", "  chekc: ", 1)
    lab_preview = client.post(f"/studio/lab/{slug}/preview/", {"text": no_check}).content.decode()
    assert "steps[0].chekc" in lab_preview and "steps[0].check" in lab_preview


def test_saving_makes_versions_with_author_and_diff_and_learners_see_only_published(course, instructor, learner):
    client = client_for(instructor)
    slug = save_test_lab("studio-edit").slug
    text, base = edit_page_text(client, "lab", slug)
    step = Lab.objects.get(slug=slug).steps.get(position=1)
    new_check = "test -f /root/the-new-check"
    changed = text.replace("check: test -f /root/done", f"check: {new_check}", 1)
    assert changed != text

    saved = client.post(f"/studio/lab/{slug}/save/", {"text": changed, "base": base, "note": "a new check"})
    assert saved.status_code == 200 and "draft" in saved.content.decode()
    draft = ContentVersion.objects.get(kind="lab", key=slug, number=base + 1)
    assert draft.author == instructor and draft.published_at is None and draft.note == "a new check"
    assert new_check in client.get(f"/studio/lab/{slug}/versions/{draft.number}/").content.decode()  # the diff
    step.refresh_from_db()
    assert step.check_script != new_check  # a draft: learners still get the published check
    assert "draft" in client.get("/studio/").content.decode()

    published = client.post(f"/studio/lab/{slug}/versions/{draft.number}/publish/", HTTP_HX_REQUEST="true")
    assert published.status_code == 200 and "published" in published.content.decode()
    step.refresh_from_db()
    assert step.check_script.strip() == new_check  # learners now get it
    history = client.get(f"/studio/lab/{slug}/versions/").content.decode()
    assert "a new check" in history and instructor.username in history and "live" in history


def test_two_instructors_editing_at_once_conflict_and_nothing_is_lost(course, roles, instructor):
    from tests.conftest import make_user

    other = make_user(roles, "instructor2", "instructor")
    first, second = client_for(instructor), client_for(other)
    text, base = edit_page_text(first, "lesson", "containers-and-vms")
    _, base_too = edit_page_text(second, "lesson", "containers-and-vms")
    assert base == base_too

    save = "/studio/lesson/containers-and-vms/save/"
    assert first.post(save, {"text": text + "\nFirst.\n", "base": base}).status_code == 200
    refused = second.post(save, {"text": text + "\nSecond.\n", "base": base})
    assert refused.status_code == 409
    body = refused.content.decode()
    assert instructor.username in body and f"version {base + 1}" in body and "+Second." in body
    head = versions.head(versions.item("lesson", "containers-and-vms"))
    assert head.text.endswith("First.\n")  # the first save stands

    # Saving again on top of the version now seen (the page updated its base) keeps both in history.
    assert second.post(save, {"text": text + "\nSecond.\n", "base": base + 1}).status_code == 200
    texts = list(ContentVersion.objects.filter(kind="lesson", key="containers-and-vms").values_list("text", flat=True))
    assert any(t.endswith("First.\n") for t in texts) and any(t.endswith("Second.\n") for t in texts)


def test_invalid_text_is_saved_as_a_draft_but_cannot_be_published(course, instructor):
    client = client_for(instructor)
    text, base = edit_page_text(client, "lesson", "build-push-pull-run")
    broken = text.replace("title: ", "titel: ", 1)
    saved = client.post("/studio/lesson/build-push-pull-run/save/", {"text": broken, "base": base})
    assert saved.status_code == 200 and "cannot be published" in saved.content.decode()
    refused = client.post(f"/studio/lesson/build-push-pull-run/versions/{base + 1}/publish/")
    assert refused.status_code == 422 and "titel" in refused.content.decode()
    assert lesson_of(3).title in text  # unchanged for learners


def test_any_version_can_be_restored_as_a_new_draft(course, instructor):
    client = client_for(instructor)
    text, base = edit_page_text(client, "lesson", "images-and-layers")
    client.post("/studio/lesson/images-and-layers/save/", {"text": text + "\nChanged.\n", "base": base})
    client.post(f"/studio/lesson/images-and-layers/versions/{base + 1}/publish/")
    assert "Changed." in lesson_of(4).body_markdown

    assert client.post(f"/studio/lesson/images-and-layers/versions/{base}/restore/").status_code == 302
    restored = versions.head(versions.item("lesson", "images-and-layers"))
    assert restored.number == base + 2 and restored.text == text and restored.note == f"restored version {base}"
    client.post(f"/studio/lesson/images-and-layers/versions/{restored.number}/publish/")
    assert "Changed." not in lesson_of(4).body_markdown
    # history is never rewritten
    assert ContentVersion.objects.filter(kind="lesson", key="images-and-layers").count() == 3


def test_unknown_items_and_versions_are_404(course, instructor):
    client = client_for(instructor)
    assert client.get("/studio/lesson/99/").status_code == 404
    assert client.get("/studio/lab/no-such-lab/").status_code == 404
    assert client.get("/studio/page/1/").status_code == 404
    assert client.get("/studio/lesson/docker-architecture/versions/7/").status_code == 404


def test_a_published_edit_survives_a_reload_of_unchanged_files_and_a_changed_file_wins(
    course, instructor, settings, tmp_path
):
    import shutil

    from course.loader import load_course

    lessons = tmp_path / "lessons"
    shutil.copytree(settings.COURSE_LESSONS_DIR, lessons)
    client = client_for(instructor)
    slug = "image-hygiene-and-security"
    text, base = edit_page_text(client, "lesson", slug)
    client.post(f"/studio/lesson/{slug}/save/", {"text": text + "\nFrom the studio.\n", "base": base})
    client.post(f"/studio/lesson/{slug}/versions/{base + 1}/publish/")

    load_course(lessons_dir=lessons)  # as scripts/up does at every start
    assert "From the studio." in Lesson.objects.get(slug=slug).body_markdown  # the files did not change

    file = next(lessons.glob("containers-to-kubernetes/day05-*.md"))
    file.write_text(file.read_text() + "\nFrom the repository.\n")
    load_course(lessons_dir=lessons)
    body = Lesson.objects.get(slug=slug).body_markdown
    assert "From the repository." in body and "From the studio." not in body  # content as code wins
    newest = versions.head(versions.item("lesson", slug))
    assert newest.number == base + 2 and newest.author is None and newest.published_at
    assert "changed in " in newest.note and "day05-" in newest.note and "From the repository." in newest.text
