"""Berth's channel layer (berth/channel_layer.py) against a real Redis: it must behave exactly as
channels_redis's (order, capacity, process-local inboxes, the backup of a message being handled)
and share its keys, since only its round trips differ."""

import asyncio
import os
import secrets

import pytest
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

from berth.channel_layer import FewerTripsRedisChannelLayer


def make(kind=FewerTripsRedisChannelLayer, prefix=None, capacity=100):
    layer = kind(
        hosts=[os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
        prefix=prefix or f"berthtest-layer-{secrets.token_hex(4)}",
        capacity=capacity,
        expiry=30,
    )
    return layer


def run(coroutine):
    return asyncio.run(coroutine)


def test_messages_arrive_whole_and_in_order_on_general_and_process_local_channels():
    async def scenario():
        layer = make()
        local = await layer.new_channel()
        for channel in ("relay.test", local):
            for i in range(50):
                await layer.send(channel, {"type": "tty.output", "data": b"x" * i, "n": i})
            got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(50)]
            assert [m["n"] for m in got] == list(range(50))
            assert got[7]["data"] == b"x" * 7 and got[7]["type"] == "tty.output"
        await layer.flush()

    run(scenario())


def test_a_full_channel_refuses_and_takes_again_once_read():
    async def scenario():
        layer = make(capacity=3)
        for i in range(3):
            await layer.send("relay.full", {"type": "t", "n": i})
        with pytest.raises(ChannelFull):
            await layer.send("relay.full", {"type": "t", "n": 3})
        assert (await layer.receive("relay.full"))["n"] == 0
        await layer.send("relay.full", {"type": "t", "n": 3})
        assert [(await layer.receive("relay.full"))["n"] for _ in range(3)] == [1, 2, 3]
        await layer.flush()

    run(scenario())


def test_it_shares_keys_with_channels_redis_both_ways():
    """A web process on one class and a relay on the other still talk (a rolling upgrade)."""

    async def scenario():
        prefix = f"berthtest-layer-{secrets.token_hex(4)}"
        ours, stock = make(prefix=prefix), make(RedisChannelLayer, prefix=prefix)
        await stock.send("relay.mixed", {"type": "t", "from": "stock"})
        assert (await asyncio.wait_for(ours.receive("relay.mixed"), 5))["from"] == "stock"
        await ours.send("relay.mixed", {"type": "t", "from": "ours"})
        assert (await asyncio.wait_for(stock.receive("relay.mixed"), 5))["from"] == "ours"
        await ours.flush()

    run(scenario())


def test_a_batch_outlives_a_cancelled_receive_and_stock_backups_are_put_back():
    """One round trip takes every waiting message; what a cancelled receiver leaves is handed to
    the next one, in order. A message that channels_redis's own class had taken into its backup
    queue when it was interrupted comes first, as it would there."""

    async def scenario():
        prefix = f"berthtest-layer-{secrets.token_hex(4)}"
        ours, stock = make(prefix=prefix), make(RedisChannelLayer, prefix=prefix)
        for i in range(10):
            await ours.send("relay.batch", {"type": "t", "n": i})
        assert (await ours.receive("relay.batch"))["n"] == 0  # took all ten
        assert await ours.connection(0).zcard(prefix + "relay.batch") == 0
        waiting = asyncio.ensure_future(ours.receive("relay.other"))
        await asyncio.sleep(0.1)
        waiting.cancel()
        assert [(await ours.receive("relay.batch"))["n"] for _ in range(9)] == list(range(1, 10))

        await stock.send("relay.backup", {"type": "t", "n": 1})
        await stock.send("relay.backup", {"type": "t", "n": 2})
        key = prefix + "relay.backup"
        await stock._brpop_with_clean(0, key, timeout=1)  # n=1 now in the backup, never handled
        assert [(await ours.receive("relay.backup"))["n"] for _ in range(2)] == [1, 2]
        await ours.flush()

    run(scenario())


def test_a_receive_waiting_on_an_empty_channel_gets_a_later_message():
    async def scenario():
        layer = make()
        waiting = asyncio.ensure_future(layer.receive("relay.empty"))
        await asyncio.sleep(0.2)  # it is blocked in Redis now
        await layer.send("relay.empty", {"type": "t", "n": 9})
        assert (await asyncio.wait_for(waiting, 5))["n"] == 9
        await layer.flush()

    run(scenario())


def test_a_terminal_message_is_handled_without_a_hop_to_the_sync_thread(monkeypatch):
    """Channels' own dispatch hops to Django's one synchronous thread before every message (to
    close stale database connections); the terminal and events sockets skip it, so a class's
    keystrokes and output never queue for that thread (terminals/consumers.py)."""
    import channels.consumer

    from terminals.consumers import SessionEventsConsumer, TerminalConsumer

    hops = []

    async def hop():
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", hop)
    sent = []

    async def send(**kwargs):
        sent.append(kwargs)

    terminal = TerminalConsumer()
    terminal.send = send
    run(terminal.dispatch({"type": "tty.exit", "reason": "the shell exited"}))
    assert sent == [{"text_data": '["exit", "the shell exited"]'}] and hops == []
    with pytest.raises(ValueError, match="No handler"):
        run(SessionEventsConsumer().dispatch({"type": "no.such.thing"}))
