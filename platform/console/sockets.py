"""Live websockets, counted across every web process (for /metrics): each accepted socket is a
member of a Redis sorted set per kind, scored with the time it expires. The consumer refreshes
its entry while the socket is open and removes it when it closes; the entries of a web process
that died expire on their own. Never in the way of a socket: Redis trouble is logged, not raised."""

import asyncio
import logging
import time

import redis
import redis.asyncio
from django.conf import settings

from berth import aredis

log = logging.getLogger(__name__)

KINDS = ("events", "terminal", "watch", "selftest")
TTL = 120  # seconds an entry counts without a refresh
REFRESH = 45  # seconds between refreshes of an open socket's entry
CLOSE_TRIES = 3


def key(kind: str) -> str:
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:metrics:websockets:{kind}"


def _client() -> redis.asyncio.Redis:
    return aredis.client(settings.REDIS_URL)


async def opened(consumer, kind: str) -> None:
    """An accepted socket: counted from now on (in the background: the socket never waits)."""
    consumer.counted_socket = (kind, asyncio.ensure_future(_keep(kind, consumer.channel_name)))


async def closed(consumer) -> None:
    """The socket closed: no longer counted (a no-op for one that was never counted)."""
    entry = getattr(consumer, "counted_socket", None)
    if entry is None:
        return
    consumer.counted_socket = None
    kind, keeper = entry
    keeper.cancel()
    # Retried: an entry left behind counts a closed socket for up to TTL seconds.
    for attempt in range(1, CLOSE_TRIES + 1):
        try:
            await _client().zrem(key(kind), consumer.channel_name)
            return
        except (redis.RedisError, OSError) as e:
            if attempt == CLOSE_TRIES:
                log.warning("websocket count: %s (the entry expires in %s s)", e, TTL)
            else:
                await asyncio.sleep(0.2 * attempt)


async def _keep(kind: str, member: str) -> None:
    while True:
        try:
            await _client().zadd(key(kind), {member: time.time() + TTL})
        except (redis.RedisError, OSError) as e:
            log.warning("websocket count: %s", e)
        await asyncio.sleep(REFRESH)


def counts(client: redis.Redis) -> dict[str, int]:
    """Open websockets per kind, over every web process (expired entries dropped first)."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for kind in KINDS:
        pipe.zremrangebyscore(key(kind), "-inf", now)
        pipe.zcard(key(kind))
    results = pipe.execute()
    return {kind: results[2 * i + 1] for i, kind in enumerate(KINDS)}
