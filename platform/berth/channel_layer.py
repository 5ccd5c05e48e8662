"""channels_redis's layer with fewer Redis round trips per message.

Every keystroke crosses the channel layer twice (web -> relay, relay -> web), and each process
receives its messages one after another. channels_redis 4 spends four round trips on a send
(expire old, count, add, set expiry) and three on a receive (restore the backup, pop, back up):
with a few hundred typists the receive loops spend their time waiting on Redis, and echoes queue
(bench/keystroke_echo.py). Here a send is one script, and a receive is one script whenever a
message is already waiting; the blocking pop is kept for an empty channel. Same keys, same
capacity and expiry rules, same backup queue: both classes can share one Redis.
"""

import time

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# Put back what an interrupted receive had taken (as channels_redis does), then pop one message
# and keep it in the backup queue until it is handled.
POP = """
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
    redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
local popped = redis.call('ZPOPMIN', KEYS[1])
if popped[1] then
    redis.call('ZADD', KEYS[2], popped[2], popped[1])
    return popped[1]
end
return false
"""


class FewerTripsRedisChannelLayer(RedisChannelLayer):
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
        added = await self.connection(index).eval(
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

    async def _brpop_with_clean(self, index, channel, timeout):
        connection = self.connection(index)
        backup = self._backup_channel_name(channel)
        member = await connection.eval(POP, 2, channel, backup)
        if member is not None:
            return member
        result = await connection.bzpopmin(channel, timeout=timeout)
        if result is None:
            return None
        _, member, score = result
        await connection.zadd(backup, {member: float(score)})
        return member
