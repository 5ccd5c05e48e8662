"""A learner's terminal recordings: replayed in the page, downloaded as asciicast v2."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from terminals.models import Recording
from terminals.recording import asciicast


def own_recording(request, recording_id: int) -> Recording:
    recording = get_object_or_404(Recording.objects.select_related("session__lab"), pk=recording_id)
    if recording.session.user_id != request.user.pk and not request.user.has_perm("sandboxes.manage_sandboxes"):
        raise Http404("no such recording")
    return recording


@require_GET
@login_required
def player(request, recording_id: int):
    recording = own_recording(request, recording_id)
    lesson = recording.session.lab.lessons.first()
    return render(request, "terminals/player.html", {"recording": recording, "lesson": lesson})


@require_GET
@login_required
def cast(request, recording_id: int):
    recording = own_recording(request, recording_id)
    response = HttpResponse(asciicast(recording), content_type="application/x-asciicast")
    if request.GET.get("download"):
        name = f"berth-session{recording.session_id}-{recording.node}-{recording.pk}.cast"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
