"""Progress and check events travel from workers to the learner's page through the channel layer.

Every event lands in the session's group ("session.<id>"); the page's events websocket is its
only member. (Terminal bytes never use a group: see terminals/relay.py.)
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(session_id: int) -> str:
    return f"session.{session_id}"


def publish(session_id: int, kind: str, **data) -> None:
    async_to_sync(get_channel_layer().group_send)(
        group_name(session_id), {"type": "session.event", "event": {"kind": kind, **data}}
    )
