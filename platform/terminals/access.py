"""Who may open which socket: the one place that decides, for every websocket route."""

import logging

from channels.db import database_sync_to_async
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from classes.standing import may_watch
from console.models import audit
from sandboxes.models import LabSession, Sandbox

log = logging.getLogger(__name__)


@database_sync_to_async
def own_session(user, session_id: int) -> LabSession | None:
    close_old_connections()
    if not user or not user.is_authenticated:
        return None
    return LabSession.objects.filter(pk=session_id, user=user).first()


@database_sync_to_async
def own_terminal(user, session_id: int, node: str) -> tuple[str, str] | None:
    """(host, container id) of the learner's own ready sandbox for this node, else None."""
    close_old_connections()
    if not user or not user.is_authenticated:
        return None
    sandbox = (
        Sandbox.objects.filter(
            session_id=session_id,
            session__user=user,
            session__state=LabSession.READY,
            node=node,
            removed_at__isnull=True,
        )
        .select_related("session")
        .first()
    )
    if sandbox is None or not sandbox.container_id:
        return None
    return sandbox.session.host, sandbox.container_id


@database_sync_to_async
def touch_activity(session_id: int) -> None:
    """A hint for the idle reaper: when the database is away, typing goes on without it."""
    close_old_connections()
    try:
        LabSession.objects.filter(pk=session_id).update(last_activity_at=timezone.now())
    except DatabaseError as e:
        log.warning("session %s: last activity not recorded: %s", session_id, e)


@database_sync_to_async
def watch_target(user, session_id: int, node: str) -> tuple[str, str, str] | None:
    """(host, container id, "session N (learner, lab)") for an admin, or the learner's teacher,
    watching a ready sandbox."""
    close_old_connections()
    if not user or not user.is_authenticated:
        return None
    sandbox = (
        Sandbox.objects.filter(
            session_id=session_id, session__state=LabSession.READY, node=node, removed_at__isnull=True
        )
        .select_related("session__user", "session__lab")
        .first()
    )
    if sandbox is None or not sandbox.container_id or not may_watch(user, sandbox.session):
        return None
    session = sandbox.session
    return session.host, sandbox.container_id, f"session {session.pk} ({session.user.username}, {session.lab.slug})"


@database_sync_to_async
def record_watch(user, target: str, started: bool) -> None:
    audit(user, "session.watch" if started else "session.unwatch", target)
