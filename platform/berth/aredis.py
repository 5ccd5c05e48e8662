"""Long-lived asyncio Redis clients for the web process's own bookkeeping (socket counts,
traffic marks): one per event loop and URL, since an asyncio connection belongs to the loop that
made it. Making a client per call costs a new connection each time."""

import asyncio
import weakref

import redis.asyncio

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]]" = (
    weakref.WeakKeyDictionary()
)


def client(url: str) -> redis.asyncio.Redis:
    per_url = _clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_url:
        per_url[url] = redis.asyncio.Redis.from_url(url, socket_timeout=2)
    return per_url[url]
