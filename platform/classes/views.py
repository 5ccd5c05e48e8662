"""Classes: an instructor creates one for a course, shares its invite link, sets due dates and
follows each learner's progress (and exports it as CSV); a learner joins by the link."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classes.forms import ClassroomForm, DueDateForm
from classes.models import Classroom, DueDate, Membership, new_invite_code
from classes.standing import STUCK_AFTER, class_standing, may_teach
from console.models import audit

teachers_only = permission_required("classes.teach_classes", raise_exception=True)


def taught_or_404(request, class_id: int) -> Classroom:
    classroom = get_object_or_404(Classroom.objects.select_related("course", "teacher"), pk=class_id)
    if not may_teach(request.user, classroom):
        raise Http404("No such class.")  # a class someone else teaches does not exist for you
    return classroom


@require_GET
@login_required
def index(request):
    form = ClassroomForm() if request.user.has_perm("classes.teach_classes") else None
    return index_page(request, form)


def index_page(request, form: ClassroomForm | None, status: int = 200):
    """The classes the user teaches (every class, for an admin) and those they are in; the new
    class form for a teacher, blank or with its errors."""
    taught = Classroom.objects.none()
    if request.user.has_perm("sandboxes.manage_sandboxes"):
        taught = Classroom.objects.all()
    elif form is not None:
        taught = Classroom.objects.filter(teacher=request.user)
    joined = Classroom.objects.filter(memberships__user=request.user).select_related("course", "teacher")
    context = {"taught": taught.select_related("course", "teacher"), "joined": joined, "form": form}
    return render(request, "classes/index.html", context, status=status)


@require_POST
@login_required
@teachers_only
def create(request):
    form = ClassroomForm(request.POST)
    if not form.is_valid():
        return index_page(request, form, status=400)
    classroom = form.save(commit=False)
    classroom.teacher = request.user
    classroom.save()
    audit(request.user, "class.create", f"class {classroom.pk} ({classroom.name}, {classroom.course.slug})")
    return redirect("classes:detail", classroom.pk)


@require_GET
@login_required
def detail(request, class_id: int):
    classroom = taught_or_404(request, class_id)
    lessons, rows = class_standing(classroom)
    invite = request.build_absolute_uri(reverse("classes:join", args=[classroom.invite_code]))
    return render(
        request,
        "classes/detail.html",
        {
            "classroom": classroom,
            "lessons": lessons,
            "rows": rows,
            "invite": invite,
            "due_form": DueDateForm(),
            "due_dates": classroom.due_dates.select_related("lesson").order_by("lesson__day"),
            "stuck_after": STUCK_AFTER,
        },
    )


@require_POST
@login_required
def set_due_date(request, class_id: int):
    classroom = taught_or_404(request, class_id)
    form = DueDateForm(request.POST)
    lesson = None
    if form.is_valid():
        lesson = classroom.course.lessons.filter(day=form.cleaned_data["day"]).first()
        if lesson is None:
            form.add_error("day", f"{classroom.course.title} has no day {form.cleaned_data['day']}.")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    elif form.cleaned_data["due_on"]:
        DueDate.objects.update_or_create(
            classroom=classroom, lesson=lesson, defaults={"due_on": form.cleaned_data["due_on"]}
        )
        messages.success(request, f"Day {lesson.day} is due on {form.cleaned_data['due_on']:%Y-%m-%d}.")
    else:
        DueDate.objects.filter(classroom=classroom, lesson=lesson).delete()
        messages.success(request, f"Day {lesson.day} has no due date now.")
    return redirect("classes:detail", classroom.pk)


@require_POST
@login_required
def new_invite(request, class_id: int):
    """A new invite link; the old one stops working (learners already in stay in)."""
    classroom = taught_or_404(request, class_id)
    classroom.invite_code = new_invite_code()
    classroom.save(update_fields=["invite_code"])
    audit(request.user, "class.invite", f"class {classroom.pk} ({classroom.name}): new invite link")
    messages.success(request, "A new invite link: the old one no longer works.")
    return redirect("classes:detail", classroom.pk)


@require_GET
@login_required
def export_csv(request, class_id: int):
    """One row per learner: each day's state (done, in progress, overdue, or empty), the days
    done, the last activity and where they are stuck."""
    classroom = taught_or_404(request, class_id)
    lessons, rows = class_standing(classroom)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="class-{classroom.pk}-progress.csv"'
    out = csv.writer(response)
    out.writerow(["learner", "days done", "last activity", "stuck on"] + [f"day {lesson.day}" for lesson in lessons])
    for row in rows:
        stuck = ""
        if row.stuck:
            stuck = f"day {row.stuck.lesson.day} step {row.stuck.step} ({row.stuck.failures} failed checks)"
        states = [csv_state(cell) for cell in row.cells]
        last = row.last_activity.isoformat(timespec="seconds") if row.last_activity else ""
        out.writerow([row.user.username, row.done, last, stuck] + states)
    return response


def csv_state(cell) -> str:
    if not cell.overdue:
        return cell.state
    return f"{cell.state}, overdue" if cell.state else "overdue"


@require_http_methods(["GET", "POST"])
@login_required
def join(request, code: str):
    classroom = Classroom.objects.filter(invite_code=code).select_related("course", "teacher").first()
    if classroom is None:
        return render(request, "classes/join.html", {"classroom": None}, status=404)
    member = Membership.objects.filter(classroom=classroom, user=request.user).exists()
    if request.method == "POST":
        if not member:
            Membership.objects.create(classroom=classroom, user=request.user)
            messages.success(request, f"You joined {classroom.name}.")
        return redirect("course:map", classroom.course.slug)
    return render(request, "classes/join.html", {"classroom": classroom, "member": member})
