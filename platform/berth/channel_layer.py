"""channels_redis's layer with fewer Redis round trips per message.

Every keystroke crosses the channel layer twice (web -> relay, relay -> web), and each process
receives its messages one after another: channels_redis 4 spends four round trips on a send
(expire old, count, add, set expiry) and three on each message received (restore the backup, pop,
back up). With a few hundred typists the receive loops spent their time waiting on Redis and
echoes queued (bench/keystroke_echo.py). Here a send is one script, and a receive takes every
message waiting (up to RECEIVE_BATCH) in one script, then hands them out from memory; the
blocking pop is kept for an empty channel. Same keys, capacity and expiry rules: a process on
channels_redis's own class can share the Redis. What a batch holds is lost only with its process,
whose sockets (or, for the relay, shells) are gone with it anyway.
"""

import collections
import functools
import hashlib
import time

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from redis.exceptions import NoScriptError

RECEIVE_BATCH = 100

SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# First put back what an interrupted channels_redis receive had taken (its backup queue), then
# take the oldest messages, in order.
RECEIVE = """
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
    redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local messages = {}
for i = 1, #popped, 2 do
    messages[#messages + 1] = popped[i]
end
return messages
"""


@functools.cache
def sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


async def run_script(connection, script: str, *args):
    """EVALSHA, and EVAL (which caches the script) the first time a Redis has not seen it: the
    script's text is not sent, nor hashed by Redis, with every message."""
    try:
        return await connection.evalsha(sha1(script), *args)
    except NoScriptError:
        return await connection.eval(script, *args)


class FewerTripsRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: dict[str, collections.deque] = collections.defaultdict(collections.deque)

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        name = channel
        if "!" in channel:  # a process-local channel: its process's inbox, with the full name inside
            message = {**message, "__asgi_channel__": channel}
            name = self.non_local_name(channel)
            index = self.consistent_hash(channel)
        else:
            index = next(self._send_index_generator)
        now = time.time()
        added = await run_script(
            self.connection(index),
            SEND,
            1,
            self.prefix + name,
            self.serialize(message),
            now,
            int(now) - int(self.expiry),
            self.get_capacity(channel),
            int(self.expiry),
        )
        if not added:
            raise ChannelFull()

    async def receive_single(self, channel):
        """The next message of a (process inbox or general) channel: (its channel, the message)."""
        assert self.require_valid_channel_name(channel, receive=True), "Channel name invalid"
        index = self.consistent_hash(channel) if "!" in channel else next(self._receive_index_generator)
        key = self.prefix + channel
        waiting = self.received[key]
        connection = self.connection(index)
        while not waiting:
            batch = await run_script(connection, RECEIVE, 2, key, self._backup_channel_name(key), RECEIVE_BATCH)
            if batch:
                waiting.extend(batch)
                break
            popped = await connection.bzpopmin(key, timeout=self.brpop_timeout)
            if popped:
                waiting.append(popped[1])
        message = self.deserialize(waiting.popleft())
        if "__asgi_channel__" in message:
            channel = message.pop("__asgi_channel__")
        return channel, message
