"""The self-test's live output, for instructors: ws/studio/selftests/<id>/."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import close_old_connections

from console import sockets
from studio.models import SelfTestRun
from studio.selftests import FINAL, group_name

FORBIDDEN = 4403
NOT_FOUND = 4404


@database_sync_to_async
def may_author_labs(user) -> bool:
    close_old_connections()
    return bool(user and user.is_authenticated and user.has_perm("labs.author_labs"))


@database_sync_to_async
def snapshot(run_id: int) -> dict | None:
    """The run as it stands: its state and every line saved so far (numbered by count)."""
    close_old_connections()
    run = SelfTestRun.objects.filter(pk=run_id).values("state", "output").first()
    if run is None:
        return None
    return {"kind": "snapshot", "state": run["state"], "output": run["output"], "lines": run["output"].count("\n")}


class SelfTestConsumer(AsyncJsonWebsocketConsumer):
    """Sends the output so far on connect, then each new line and the final state; closes when
    the run is over."""

    async def connect(self):
        self.group = None
        run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        if not await may_author_labs(self.scope["user"]):
            await self.close(code=FORBIDDEN)
            return
        if await snapshot(run_id) is None:
            await self.close(code=NOT_FOUND)
            return
        self.group = group_name(run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await sockets.opened(self, "selftest")
        # The snapshot after joining the group: no line can fall between the two.
        current = await snapshot(run_id)
        await self.send_json(current)
        if current["state"] in FINAL:
            await self.close()

    async def disconnect(self, code):
        await sockets.closed(self)
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        pass  # the page only listens

    async def selftest_event(self, message):
        event = message["event"]
        await self.send_json(event)
        if event["kind"] == "state" and event["state"] in FINAL:
            await self.close()
