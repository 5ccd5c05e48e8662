"""Websocket consumers. The web process never talks to Docker: terminal bytes go to and from
the relay on the worker side over the channel layer; session events arrive from Celery."""

import asyncio
import json
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from console import sockets
from sandboxes.events import group_name
from terminals import access
from terminals.protocol import LAGGED, MAX_INPUT_BYTES, clamp_size, relay_channel

FORBIDDEN = 4403
ACK_EVERY = 8  # output chunks between acknowledgements to the relay (its window is 32)
ACTIVITY_EVERY = 30  # seconds between last-activity writes while typing


class NoHopPerMessage:
    """Channels (4.2 on) closes stale database connections before each message a consumer
    handles, a hop to the one thread Django gives each process for synchronous code: with a class
    typing, every keystroke and every chunk of output queued for that thread, and echo took 141 ms
    at the median with 200 typists (bench/limits.md). These consumers reach the database only
    through database_sync_to_async, which closes stale connections around each call itself."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class SessionEventsConsumer(NoHopPerMessage, AsyncJsonWebsocketConsumer):
    """Start progress and check output for one session, to its owner's page."""

    async def connect(self):
        self.group = None
        session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        session = await access.own_session(self.scope["user"], session_id)
        if session is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = group_name(session_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await sockets.opened(self, "events")
        # A snapshot after joining the group: no event can fall between the two.
        session = await access.own_session(self.scope["user"], session_id)
        await self.send_json(
            {"kind": "progress", "state": session.state, "progress": session.progress, "message": session.message}
        )

    async def disconnect(self, code):
        await sockets.closed(self)
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        pass  # the page only listens

    async def session_event(self, message):
        await self.send_json(message["event"])


class TerminalConsumer(NoHopPerMessage, AsyncWebsocketConsumer):
    """One browser terminal tab, attached to one node's shell through the relay. Variants override
    the primitives: which shell (`find_target`), whether it is read-only, and `attached`."""

    readonly = False
    socket_kind = "terminal"  # as /metrics counts it

    async def find_target(self) -> tuple[str, str] | None:
        """(host, container id) of the shell this socket may open, or None."""
        return await access.own_terminal(self.scope["user"], self.session_id, self.node)

    async def attached(self) -> None:
        pass

    async def connect(self):
        self.relay = None
        self.unacknowledged = 0
        self.bookkeeping: dict[str, asyncio.Task] = {}
        kwargs = self.scope["url_route"]["kwargs"]
        self.session_id, self.node = int(kwargs["session_id"]), kwargs["node"]
        target = await self.find_target()
        if target is None:
            await self.close(code=FORBIDDEN)
            return
        host, container_id = target
        self.relay = relay_channel(host)
        self.key = f"{self.session_id}:{self.node}"
        self.last_activity = 0.0
        query = parse_qs(self.scope.get("query_string", b"").decode())
        rows, cols = clamp_size(query.get("rows", [24])[0], query.get("cols", [80])[0])
        await self.accept()
        await sockets.opened(self, self.socket_kind)
        await self.channel_layer.send(
            self.relay,
            {
                "type": "tty.open",
                "key": self.key,
                "container": container_id,
                "reply": self.channel_name,
                "rows": rows,
                "cols": cols,
                "resize": not self.readonly,
            },
        )
        await self.attached()

    async def disconnect(self, code):
        await sockets.closed(self)
        if self.relay:
            await self.channel_layer.send(
                self.relay, {"type": "tty.detach", "key": self.key, "reply": self.channel_name}
            )

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data or bytes_data or b"")
            kind = message[0]
        except (ValueError, TypeError, IndexError, KeyError):
            await self.close(code=4400)
            return
        if kind == "stdin" and isinstance(message[1], str):
            data = message[1].encode()[:MAX_INPUT_BYTES]
            await self.channel_layer.send(self.relay, {"type": "tty.input", "key": self.key, "data": data})
            now = time.monotonic()
            if now - self.last_activity > ACTIVITY_EVERY:
                self.last_activity = now
                self.in_background("activity", lambda: access.touch_activity(self.session_id))
        elif kind == "set_size" and len(message) == 3:
            rows, cols = clamp_size(message[1], message[2])
            await self.channel_layer.send(
                self.relay, {"type": "tty.resize", "key": self.key, "rows": rows, "cols": cols}
            )
        else:
            await self.close(code=4400)

    async def tty_output(self, message):
        await self.send(bytes_data=message["data"])  # returns once the socket has taken it
        self.unacknowledged += 1
        if self.unacknowledged >= ACK_EVERY:
            await self.channel_layer.send(
                self.relay,
                {"type": "tty.ack", "key": self.key, "reply": self.channel_name, "chunks": self.unacknowledged},
            )
            self.unacknowledged = 0

    async def tty_lagged(self, message):
        await self.close(code=LAGGED)

    def in_background(self, kind: str, start) -> None:
        """Bookkeeping (the database, the cache) runs beside the terminal, at most one of each
        kind at a time: the consumers of a web process share one thread for it, and a database
        busy with other writers must delay the bookkeeping, never a keystroke or its echo."""
        if kind in self.bookkeeping:
            return
        task = asyncio.ensure_future(start())
        self.bookkeeping[kind] = task  # also the reference asyncio itself does not keep
        task.add_done_callback(lambda _: self.bookkeeping.pop(kind, None))

    async def tty_exit(self, message):
        await self.send(text_data=json.dumps(["exit", message.get("reason", "")]))


class WatchConsumer(TerminalConsumer):
    """An admin watching a learner's terminal: the same shell, read-only (a watcher never resizes
    it either). The learner's page is told while it lasts, and every watch is audited."""

    readonly = True
    socket_kind = "watch"

    async def find_target(self):
        target = await access.watch_target(self.scope["user"], self.session_id, self.node)
        if target is None:
            return None
        host, container_id, self.description = target
        return host, container_id

    async def attached(self):
        # audited before the learner is told: what the page shows is already on record
        await access.record_watch(self.scope["user"], self.description, True)
        await self.channel_layer.group_send(group_name(self.session_id), watch_event(True))

    async def disconnect(self, code):
        if self.relay:
            await super().disconnect(code)
            await access.record_watch(self.scope["user"], self.description, False)
            await self.channel_layer.group_send(group_name(self.session_id), watch_event(False))

    async def receive(self, text_data=None, bytes_data=None):
        pass  # read-only: nothing a watcher sends reaches the shell


def watch_event(watching: bool) -> dict:
    return {"type": "session.event", "event": {"kind": "watch", "watching": watching}}
