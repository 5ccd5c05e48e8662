"""The instructor studio: every lesson and lab with its state, an editor with a live preview
rendered as learners will see it, versions with diffs, publish and restore. Instructors and
admins only (course.author_course); every change is POST and CSRF-checked."""

import dataclasses

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from course import markdown
from course.models import Lesson
from studio import selftests, versions
from studio.models import ContentVersion, SelfTestRun

author_only = permission_required("course.author_course", raise_exception=True)


def item_or_404(kind: str, key: str) -> versions.Item:
    found = versions.item(kind, key)
    if found is None:
        raise Http404("No such lesson or lab.")
    return found


def last_self_tests() -> dict[str, SelfTestRun]:
    latest = {}
    for run in SelfTestRun.objects.exclude(state__in=[SelfTestRun.QUEUED, SelfTestRun.RUNNING]).order_by("created_at"):
        latest[run.lab_slug] = run
    return latest


def newest_versions(kind: str) -> dict[str, ContentVersion]:
    newest = {}
    for v in ContentVersion.objects.filter(kind=kind).select_related("author").order_by("number"):
        newest[v.key] = v
    return newest


@require_GET
@author_only
def index(request):
    lessons, labs = newest_versions(versions.LESSON), newest_versions(versions.LAB)
    tests = last_self_tests()
    rows = [
        {
            "lesson": lesson,
            "lesson_version": lessons.get(lesson.slug),
            "lab": lesson.lab,
            "lab_version": labs.get(lesson.lab.slug) if lesson.lab else None,
            "self_test": tests.get(lesson.lab.slug) if lesson.lab else None,
        }
        for lesson in Lesson.objects.select_related("course", "module", "lab")
    ]
    return render(request, "studio/index.html", {"rows": rows})


@require_GET
@author_only
def edit(request, kind: str, key: str):
    it = item_or_404(kind, key)
    current = versions.head(it)
    context = {"item": it, "version": current, "text": current.text, "state": versions.state(it)}
    context.update(preview_context(it, current.text))
    return render(request, "studio/edit.html", context)


def preview_context(it: versions.Item, text: str) -> dict:
    """What learners would see for this text, or the errors that stop it, by line and field."""
    try:
        definition = versions.parse(it, text)
    except versions.Invalid as e:
        return {"errors": e.errors}
    if it.kind == versions.LAB:
        steps = [
            {"position": n, "title": s.title, "text_html": markdown.render(s.text), "hint": markdown.render(s.hint)}
            for n, s in enumerate(definition.steps, start=1)
        ]
        return {"errors": [], "lab": definition, "steps": steps}
    questions = [{"number": n, **q, "given": None} for n, q in enumerate(definition.quiz, start=1)]
    lesson = dataclasses.replace(definition, course=it.record.course)  # its links are its course's
    return {"errors": [], "lesson": lesson, "body_html": markdown.render(definition.body), "questions": questions}


@require_POST
@author_only
def preview(request, kind: str, key: str):
    it = item_or_404(kind, key)
    return render(request, "studio/preview.html", {"item": it, **preview_context(it, request.POST.get("text", ""))})


@require_POST
@author_only
def save(request, kind: str, key: str):
    it = item_or_404(kind, key)
    text = request.POST.get("text", "")
    try:
        base = int(request.POST.get("base", ""))
    except ValueError:
        return HttpResponse("Which version did this edit start from? Reload the editor.", status=400)
    try:
        saved = versions.save(it, text, request.user, base, note=request.POST.get("note", "")[:200])
    except versions.Conflict as e:
        context = {
            "item": it,
            "text": text,
            "head": e.head,
            "diff": versions.unified_diff(e.head.text, text, "saved", "yours"),
        }
        return render(request, "studio/conflict.html", context, status=409)
    context = {"item": it, "version": saved, "state": versions.state(it), **preview_context(it, saved.text)}
    return render(request, "studio/saved.html", context)


@require_GET
@author_only
def history(request, kind: str, key: str):
    it = item_or_404(kind, key)
    context = {"item": it, "versions": versions.listed(it), "published": versions.published(it)}
    return render(request, "studio/history.html", context)


def version_or_404(it: versions.Item, number: int) -> ContentVersion:
    found = next((v for v in versions.listed(it) if v.number == number), None)
    if found is None:
        raise Http404("No such version.")
    return found


@require_GET
@author_only
def version(request, kind: str, key: str, number: int):
    it = item_or_404(kind, key)
    v = version_or_404(it, number)
    context = {"item": it, "version": v, "diff": versions.diff(v), "head": versions.head(it)}
    return render(request, "studio/version.html", context)


@require_POST
@author_only
def publish(request, kind: str, key: str, number: int):
    it = item_or_404(kind, key)
    versions.record_files(it)
    v = version_or_404(it, number)
    try:
        versions.publish(it, v, request.user)
    except versions.Invalid as e:
        return render(request, "studio/errors.html", {"errors": e.errors}, status=422)
    if request.htmx:
        return render(request, "studio/state.html", {"item": it, "version": v, "state": versions.state(it)})
    return redirect(reverse("studio:edit", args=[kind, key]))


@require_POST
@author_only
def restore(request, kind: str, key: str, number: int):
    it = item_or_404(kind, key)
    versions.record_files(it)
    v = version_or_404(it, number)
    try:
        versions.restore(it, v, request.user, base=versions.head(it).number)
    except versions.Conflict:
        pass  # someone saved in between: the history page shows it, and restoring again works
    return redirect(reverse("studio:edit", args=[kind, key]))


# --- Test this lab --------------------------------------------------------------------------------
author_labs = permission_required("labs.author_labs", raise_exception=True)


@require_POST
@author_labs
def test_lab(request, slug: str):
    """The "Test this lab" button: the chosen saved version (the editor's, else the newest)."""
    it = versions.item(versions.LAB, slug)
    if it is None:
        raise Http404("No such lab.")
    try:
        version = chosen_version(it, request.POST.get("version") or request.POST.get("base"))
    except ValueError:
        return HttpResponse("Which version should be tested? Reload the editor.", status=400)
    try:
        run = selftests.start_self_test(slug, version, request.user, SelfTestRun.STUDIO)
    except selftests.Refused as e:
        context = {"run": e.active, "refused": str(e)}
        return render(request, "studio/selftest_run.html", context, status=409)
    if not request.htmx:
        return redirect(reverse("studio:selftest", args=[run.pk]))
    return render(request, "studio/selftest_run.html", {"run": run})


def chosen_version(it: versions.Item, number: str | None) -> ContentVersion:
    versions.record_files(it)  # a run names the version it proved: it must be saved
    if not number:
        return versions.head(it)
    found = versions.versions(it).filter(number=int(number)).first()
    if found is None:
        raise Http404("No such version.")
    return found


@require_GET
@author_labs
def run_page(request, run_id: int):
    """One run's whole output: where the studio's flag on a failing lab leads."""
    run = get_object_or_404(SelfTestRun.objects.select_related("version", "requested_by"), pk=run_id)
    return render(request, "studio/selftest.html", {"run": run})
