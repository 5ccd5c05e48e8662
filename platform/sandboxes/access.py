"""One helper per resource that fetches it for this user or 404s: authorization lives here."""

from django.shortcuts import get_object_or_404

from sandboxes.models import LabSession


def get_own_session(request, session_id: int) -> LabSession:
    return get_object_or_404(LabSession.objects.select_related("lab"), pk=session_id, user=request.user)
