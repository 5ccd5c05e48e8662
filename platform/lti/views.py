"""The LTI 1.3 endpoints a platform is given: OIDC login initiation, the launch (a day, or the
deep-linking picker where an instructor chooses the day to add), and the tool's public keys.
Each launch is verified by pylti1p3 (signature, nonce, state, deployment) before anything else."""

from django.contrib.auth import login as log_in
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoDbToolConf, DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException
from pylti1p3.lineitem import LineItem

from course.models import Course, DayProgress, Lesson
from lti.identity import account_for
from lti.models import GradeLink
from lti.tasks import queue_grades

CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"


class NewWindowLink(DeepLinkResource):
    """A link the platform is asked to open in a window of its own (deep linking's `window`):
    the terminal wants the whole window, and Berth's pages refuse to be framed by another site
    (X-Frame-Options: DENY), so that none can lay itself over a learner's terminal."""

    def to_dict(self):
        return {**super().to_dict(), "window": {"targetName": "berth"}}


def storage():
    return DjangoCacheDataStorage()  # the launch's state, shared by every web process


def refused(request, why: str):
    return render(request, "lti/refused.html", {"why": why}, status=400)


@csrf_exempt  # the platform posts here (or redirects) from another site
@require_http_methods(["GET", "POST"])
def oidc_login(request):
    target = request.POST.get("target_link_uri") or request.GET.get("target_link_uri")
    if not target:
        return HttpResponseBadRequest("target_link_uri is missing")
    try:
        return DjangoOIDCLogin(request, DjangoDbToolConf(), launch_data_storage=storage()).redirect(target)
    except LtiException as e:
        return refused(request, str(e))


@csrf_exempt  # a signed id_token, verified below, is the request's credential
@require_POST
def launch(request):
    message = DjangoMessageLaunch(request, DjangoDbToolConf(), launch_data_storage=storage())
    try:
        data = message.get_launch_data()
    except LtiException as e:
        return refused(request, str(e))
    user = account_for(data)
    log_in(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if message.is_deep_link_launch():
        courses = Course.objects.prefetch_related("lessons")
        return render(request, "lti/pick.html", {"launch_id": message.get_launch_id(), "courses": courses})
    custom = data.get(CUSTOM_CLAIM) or {}
    course = Course.objects.filter(slug=custom.get("berth_course") or "").first()
    lesson = course and course.lessons.filter(day=int(custom.get("berth_day") or 0)).first()
    if not lesson:  # a link to a course's map, or to Berth itself
        return redirect("course:map", course.slug) if course else redirect("home")
    if message.has_ags():
        GradeLink.objects.update_or_create(
            user=user,
            lesson=lesson,
            issuer=data["iss"],
            client_id=message.get_client_id(),
            defaults={"subject": data["sub"], "service": data[AGS_CLAIM]},
        )
        if DayProgress.objects.filter(user=user, lesson=lesson, completed_at__isnull=False).exists():
            queue_grades(user, lesson)  # done before this launch: the platform learns it now
    return redirect("workspace:day", lesson.course.slug, lesson.day)


@require_POST
@login_required
def deep_link(request):
    """The day an instructor picked, sent back to the platform as a link with a gradebook column."""
    try:
        message = DjangoMessageLaunch.from_cache(
            request.POST.get("launch_id", ""), request, DjangoDbToolConf(), launch_data_storage=storage()
        )
    except LtiException as e:
        return refused(request, str(e))
    if not message.is_deep_link_launch():
        return refused(request, "This launch does not ask for a link.")
    course_slug, _, day = request.POST.get("lesson", "").partition("/")
    course = Course.objects.filter(slug=course_slug).first()
    if course is None:
        return refused(request, "Pick a course or a day.")
    resource = NewWindowLink().set_url(request.build_absolute_uri(reverse("lti:launch")))
    if not day:  # the whole course: its map, no grade
        resource.set_title(course.title).set_custom_params({"berth_course": course.slug})
    else:
        lesson = get_object_or_404(Lesson, course=course, day=int(day) if day.isdigit() else 0)
        resource.set_title(f"{course.title}, Day {lesson.day}: {lesson.title}")
        resource.set_custom_params({"berth_course": course.slug, "berth_day": str(lesson.day)})
        resource.set_lineitem(LineItem().set_score_maximum(1).set_label(f"Day {lesson.day}: {lesson.title}"))
    return HttpResponse(message.get_deep_link().output_response_form([resource]))


@require_GET
def jwks(request):
    return JsonResponse(DjangoDbToolConf().get_jwks())
