"""The terminal relay: the worker-side process that holds every interactive shell of one Docker
host and moves bytes between them and the web consumers over the channel layer.

A Celery task is a poor home for a stream that lasts hours, so this is its own long-lived asyncio
process (`manage.py run_relay --host NAME`, one per Docker host). Shells outlive websockets: a
reload or a dropped connection reattaches to the same shell and gets its scrollback replayed.
Output goes to each viewer's own channel (no group broadcast on the keystroke path). Each viewer
acknowledges what its websocket took (`tty.ack`), and a viewer OUTPUT_WINDOW chunks behind stops
the relay reading that shell, so a flood (`yes`) is throttled at its source instead of growing
memory anywhere or being dropped: every socket of one web process shares one channel-layer inbox,
and channels_redis, to bound its memory, throws away the oldest messages of a socket that has
more than its capacity waiting. A viewer that stays behind for SLOW_VIEWER_SECONDS is dropped and
told to reconnect (its page then gets the scrollback). Each shell's output is also paced (a few
MB/s, more than a browser can show), so a flood takes a bounded share of a web process that
other learners' echoes go through too; and a shell that printed a moment ago gathers what it
prints next for the rest of COALESCE_SECONDS into one message: a fork bomb's thousands of processes
each printing a line made one message per line, and took a fifth of the relay and more of the web
process, which every other learner's echo shares, while a quiet shell's echo still goes at once.
A sandbox held at a cap (sandboxes/pressure.py) has its terminals read at a crawl: what its
processes print waits in the terminal, and they with it.
"""

import asyncio
import logging

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from redis.exceptions import RedisError

from sandboxes import architecture, pressure
from sandboxes.backends import get_backend
from sandboxes.backends.base import SandboxError
from terminals.protocol import relay_channel
from terminals.recording import FLUSH_BYTES, FLUSH_SECONDS, Recorder, write_chunks

log = logging.getLogger("berth.relay")
READ_SIZE = 16 * 1024  # per message: small enough that a few queued ahead of an echo cost little
OUTPUT_BURST = 256 * 1024  # bytes a quiet shell may print at once before pacing starts
OUTPUT_WINDOW = 32  # output chunks (of READ_SIZE) a viewer may have unacknowledged: 512 KB
SLOW_VIEWER_SECONDS = 10  # a viewer that cannot take output for this long is dropped
FIRST_OUTPUT_WAIT = 10  # seconds input waits for a new shell's first output (its prompt)
TRAFFIC_EVERY = 1.0  # seconds between "the terminal is busy" marks of one session
TRAFFIC_BATCH_SECONDS = 0.2  # marks of all shells go out together, at most this often
# A held sandbox's terminals (sandboxes/pressure.py: a fork bomb, a miner) are read this slowly: a
# bomb's processes each print a retry line, and passing those on kept the relay and the web
# process busy, which every other learner's keystrokes go through too. Read slowly, the shell's
# output fills its terminal and the processes printing it wait: the flood stops at its source.
HELD_OUTPUT_BYTES_PER_SECOND = 4 * 1024
HELD_LIST_SECONDS = 1.0  # how often the relay reads which of its host's sandboxes are held
COALESCE_SECONDS = 0.02  # a shell printing without pause sends at most one message this often
GATHERED_READ_SECONDS = 0.001  # what a shell printed meanwhile is there at once: no longer is none


def held_sessions(host: str) -> set[int]:
    close_old_connections()  # a thread of the relay's pool: its connection may have gone meanwhile
    return pressure.held_sessions(host)


class Shell:
    """One interactive shell (one node of one session) and the websockets watching it."""

    def __init__(self, relay: "Relay", key: str, container: str):
        self.relay, self.key, self.container = relay, key, container
        session_id, self.node = key.split(":", 1)
        self.session_id = int(session_id)
        self.viewers: dict[str, int] = {}  # viewer channel -> output chunks not yet acknowledged
        self.acked = asyncio.Event()  # set on every acknowledgement: a full window may move
        self.scrollback = bytearray()
        # Keystrokes and resizes, in the order they came: a resize is (rows, cols).
        self.inputs: asyncio.Queue[bytes | tuple[int, int] | None] = asyncio.Queue()
        self.lock = asyncio.Lock()  # keeps replay and live output in order for a new viewer
        self.tty = None
        self.opening: asyncio.Task | None = None
        self.closed = False
        self.recorder: Recorder | None = None
        # Keys typed before the shell first speaks wait for it: bytes written into a starting
        # exec can be lost, and a page flushes the keys it held while (re)connecting at once.
        self.spoke = asyncio.Event()
        self.budget, self.paced_at = float(OUTPUT_BURST), 0.0  # output pacing (see pace)

    async def open(self, rows: int, cols: int) -> None:
        self.tty = await asyncio.to_thread(self.relay.backend.open_tty, self.container, rows, cols)
        try:
            self.recorder = await asyncio.to_thread(Recorder, self.session_id, self.node, rows, cols)
        except Exception:  # a recording is a bonus: the shell works without one
            log.exception("%s: cannot start a recording", self.key)
        self.relay.spawn(self.read_loop())
        self.relay.spawn(self.write_loop())

    async def read_loop(self) -> None:
        reason = ""
        loop = asyncio.get_running_loop()
        sent_at, ended = float("-inf"), False
        try:
            while not ended:
                data = await self.tty.read(READ_SIZE)
                if not data:
                    break
                data, ended = await self.gather(data, sent_at + COALESCE_SECONDS)
                self.spoke.set()
                self.relay.note_traffic(self.session_id)
                async with self.lock:
                    self.remember(data)
                    self.record(data)
                    for viewer in list(self.viewers):
                        await self.send_output(viewer, data)
                sent_at = loop.time()
                await self.pace(len(data))
        except OSError as e:
            reason = f"the connection to the sandbox was lost ({e.strerror or e})"
        if not reason:
            code = await asyncio.to_thread(self.tty.exit_code)
            # No exit code: the engine lost the shell (it restarted); the sandbox itself may be fine.
            reason = "the shell exited" if code is not None else "the sandbox's engine restarted"
        await self.close(reason)

    async def gather(self, data: bytes, until: float) -> tuple[bytes, bool]:
        """`data` and what the shell printed after it by `until` (loop time; nothing more if that
        has passed), up to READ_SIZE; and whether the shell ended meanwhile. It sleeps first and
        then takes what is there: reading each small write as it comes cost the relay as much as
        sending it did."""
        left = until - asyncio.get_running_loop().time()
        if left <= 0 or len(data) >= READ_SIZE:
            return data, False
        await asyncio.sleep(left)
        while len(data) < READ_SIZE:
            try:
                more = await asyncio.wait_for(self.tty.read(READ_SIZE - len(data)), GATHERED_READ_SECONDS)
            except TimeoutError:
                break  # nothing more is there
            if not more:
                return data, True
            data += more
        return data, False

    async def pace(self, sent: int) -> None:
        """A token bucket: output beyond the terminal rate waits (and the shell with it, as a
        slow reader makes it), so one flood takes a bounded share of the web process. A held
        sandbox's terminal gets a second's worth of its crawl at most."""
        now = asyncio.get_running_loop().time()
        if self.session_id in self.relay.held:
            rate = burst = HELD_OUTPUT_BYTES_PER_SECOND
        else:
            rate, burst = settings.TERMINAL_OUTPUT_BYTES_PER_SECOND, OUTPUT_BURST
        self.budget = min(burst, self.budget + (now - self.paced_at) * rate) - sent
        self.paced_at = now
        if self.budget < 0:
            await asyncio.sleep(-self.budget / rate)

    async def write_loop(self) -> None:
        try:
            await asyncio.wait_for(self.spoke.wait(), FIRST_OUTPUT_WAIT)
        except TimeoutError:
            pass  # a shell with no prompt at all still gets its input
        while (item := await self.inputs.get()) is not None:
            if isinstance(item, tuple):
                await asyncio.to_thread(self.tty.resize, *item)
                if self.recorder:
                    self.recorder.resize(*item)
                    self.relay.unwritten.add(self.recorder)
                continue
            try:
                await self.tty.write(item)
            except OSError:
                return

    def remember(self, data: bytes) -> None:
        self.scrollback += data
        limit = settings.TERMINAL_SCROLLBACK_BYTES
        if len(self.scrollback) > limit:
            cut = len(self.scrollback) - limit
            newline = self.scrollback.find(b"\n", cut)  # start the replay on a line boundary
            del self.scrollback[: newline + 1 if 0 <= newline < cut + 4096 else cut]

    def record(self, data: bytes) -> None:
        if self.recorder:
            self.recorder.output(data)
            self.relay.unwritten.add(self.recorder)
            if self.recorder.pending_bytes >= FLUSH_BYTES:
                self.relay.write_soon.set()

    async def send_output(self, viewer: str, data: bytes) -> None:
        """One chunk to one viewer, once its window has room (not reading the shell meanwhile)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SLOW_VIEWER_SECONDS
        while True:
            self.acked.clear()
            if viewer not in self.viewers:
                return  # detached, or dropped meanwhile
            if self.viewers[viewer] < OUTPUT_WINDOW:
                break
            if loop.time() >= deadline:
                await self.drop(viewer, "it acknowledged no output")
                return
            try:
                await asyncio.wait_for(self.acked.wait(), 0.5)
            except TimeoutError:
                pass
        self.viewers[viewer] += 1  # counted before it is sent: its acknowledgement may come first
        await self.deliver(viewer, {"type": "tty.output", "data": data})

    def acknowledge(self, viewer: str, chunks: int) -> None:
        if viewer in self.viewers:
            self.viewers[viewer] = max(0, self.viewers[viewer] - chunks)
            self.acked.set()

    async def deliver(self, viewer: str, message: dict) -> None:
        waited = 0.0
        while True:
            try:
                await self.relay.layer.send(viewer, message)
                return
            except ChannelFull:
                pause = 0.02  # not reading the shell meanwhile: backpressure
            except (OSError, ConnectionError, RedisError) as e:
                # Redis restarting, or a pooled connection from before its restart: try again
                # rather than lose this piece of the replay or of the output.
                log.info("%s: channel layer unavailable (%s); retrying", self.key, e)
                pause = 0.2
            if waited >= SLOW_VIEWER_SECONDS:
                await self.drop(viewer, "its channel stayed full")
                return
            await asyncio.sleep(pause)
            waited += pause

    async def drop(self, viewer: str, why: str) -> None:
        """Stop sending to a viewer that fell behind, and ask its socket to reconnect (best effort:
        its page then gets the scrollback, as after a reload)."""
        log.warning("%s: dropping a viewer that stopped reading (%s)", self.key, why)
        self.viewers.pop(viewer, None)
        try:
            await self.relay.layer.send(viewer, {"type": "tty.lagged"})
        except (ChannelFull, OSError, ConnectionError, RedisError):
            pass

    async def attach(self, viewer: str) -> None:
        async with self.lock:
            self.viewers[viewer] = 0
            for start in range(0, len(self.scrollback), READ_SIZE):
                await self.send_output(viewer, bytes(self.scrollback[start : start + READ_SIZE]))

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.relay.shells.pop(self.key, None)
        self.relay.traffic_marked.pop(self.session_id, None)
        self.inputs.put_nowait(None)
        if self.tty:
            self.tty.close()
        if self.recorder:  # its last seconds are written with the next batch, soon
            self.relay.unwritten.add(self.recorder)
            self.relay.write_soon.set()
        for viewer in list(self.viewers):
            await self.deliver(viewer, {"type": "tty.exit", "reason": reason})


class Relay:
    def __init__(self, host: str):
        self.host = host
        self.backend = get_backend(host)
        self.layer = get_channel_layer()
        self.shells: dict[str, Shell] = {}
        self.tasks: set[asyncio.Task] = set()
        # Recordings with events not yet in the database, written together (write_recordings).
        self.unwritten: set[Recorder] = set()
        self.write_soon = asyncio.Event()  # a recording has a full chunk, or a shell closed
        # Sessions whose terminals had traffic, for the live architecture view (write_traffic).
        self.traffic: set[int] = set()
        self.traffic_marked: dict[int, float] = {}  # session -> when its last mark was taken
        self.traffic_soon = asyncio.Event()
        self.held: set[int] = set()  # sessions with a sandbox held at a cap (read_holds)

    def spawn(self, coroutine) -> asyncio.Task:
        """Start a task and hold a reference to it until it ends (asyncio keeps only weak ones)."""
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self) -> None:
        channel = relay_channel(self.host)
        log.info("terminal relay for host %s listening on %s", self.host, channel)
        self.spawn(self.write_recordings())
        self.spawn(self.write_traffic())
        self.spawn(self.read_holds())
        while True:
            try:
                message = await self.layer.receive(channel)
            except (OSError, ConnectionError, RedisError) as e:  # Redis restarting: wait and listen again
                log.warning("channel layer unavailable (%s); retrying", e)
                await asyncio.sleep(1)
                continue
            handler = getattr(self, message.get("type", "").replace(".", "_"), None)
            if handler is None:
                continue
            try:
                await handler(message)
            except Exception:
                log.exception("relay failed to handle %s", message.get("type"))

    async def write_recordings(self) -> None:
        """Every few seconds (sooner when a recording has a full chunk or a shell closed), the new
        events of every shell's recording in one batch: one thread hop, one connection and one
        transaction for them all, not one of each per shell, which with a class typing took the
        thread and the database from everything else (bench/limits.md)."""
        while True:
            try:
                await asyncio.wait_for(self.write_soon.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass
            self.write_soon.clear()
            batch = [(recorder, chunk) for recorder in self.unwritten if (chunk := recorder.take())]
            self.unwritten.clear()
            if batch:
                try:
                    await asyncio.to_thread(write_chunks, batch)
                except Exception:
                    log.exception("%d recording chunks were not written", len(batch))

    def note_traffic(self, session_id: int) -> None:
        """A command may be changing the sandbox: its architecture view should look again soon."""
        now = asyncio.get_running_loop().time()
        if now - self.traffic_marked.get(session_id, -TRAFFIC_EVERY) >= TRAFFIC_EVERY:
            self.traffic_marked[session_id] = now
            self.traffic.add(session_id)
            self.traffic_soon.set()

    async def write_traffic(self) -> None:
        """The marks of every busy terminal in one round trip, a few times a second: here rather
        than in the web processes, where a mark per terminal per second took CPU from the
        keystrokes of a class typing (bench/limits.md)."""
        while True:
            await self.traffic_soon.wait()
            self.traffic_soon.clear()
            marks, self.traffic = self.traffic, set()
            try:
                await architecture.amark_traffic(marks)
            except (OSError, ConnectionError, RedisError) as e:  # the view only looks again later
                log.info("terminal traffic not marked (%s)", e)
            except Exception:  # as write_recordings: this task must outlive one bad batch
                log.exception("%d terminal traffic marks were not written", len(marks))
            await asyncio.sleep(TRAFFIC_BATCH_SECONDS)

    async def read_holds(self) -> None:
        """Which of the host's sessions have a sandbox held at a cap, every HELD_LIST_SECONDS."""
        while True:
            try:
                self.held = await asyncio.to_thread(held_sessions, self.host)
            except Exception:  # the database restarting: the last answer stands until the next
                log.exception("the held sandboxes of host %s were not read", self.host)
            await asyncio.sleep(HELD_LIST_SECONDS)

    # Handlers return at once (slow Docker calls run as tasks): the receive loop never waits,
    # so one learner's terminal opening cannot delay another learner's keystrokes.
    async def tty_open(self, message: dict) -> None:
        key, viewer = message["key"], message["reply"]
        shell = self.shells.get(key)
        if shell is None or shell.container != message["container"]:
            shell = Shell(self, key, message["container"])
            self.shells[key] = shell  # inputs that arrive while it opens wait in its queue
            shell.opening = self.spawn(shell.open(message["rows"], message["cols"]))
        size = (message["rows"], message["cols"]) if message.get("resize", True) else None
        self.spawn(self.attach_viewer(shell, viewer, size))

    async def attach_viewer(self, shell: Shell, viewer: str, size: tuple[int, int] | None) -> None:
        try:
            await shell.opening
        except SandboxError as e:
            self.shells.pop(shell.key, None)
            await shell.deliver(viewer, {"type": "tty.exit", "reason": e.learner_message})
            return
        await shell.attach(viewer)
        if size:  # a watcher (read-only) leaves the learner's terminal size alone
            shell.inputs.put_nowait(size)

    async def tty_input(self, message: dict) -> None:
        shell = self.shells.get(message["key"])
        if shell:
            shell.inputs.put_nowait(message["data"])
            self.note_traffic(shell.session_id)

    async def tty_resize(self, message: dict) -> None:
        shell = self.shells.get(message["key"])
        if shell:
            shell.inputs.put_nowait((message["rows"], message["cols"]))

    async def tty_ack(self, message: dict) -> None:
        shell = self.shells.get(message["key"])
        if shell:
            shell.acknowledge(message["reply"], int(message["chunks"]))

    async def tty_detach(self, message: dict) -> None:
        shell = self.shells.get(message["key"])
        if shell:
            shell.viewers.pop(message["reply"], None)
