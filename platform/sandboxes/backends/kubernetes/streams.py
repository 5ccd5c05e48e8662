"""Running things in a pod through the API server's exec stream (a websocket with a channel per
stream: 0 stdin, 1 stdout, 2 stderr, 3 the end's status, 4 the terminal's size)."""

import asyncio
import json
import secrets
import threading
import time

import yaml
from kubernetes import client
from kubernetes.stream import stream
from websocket import WebSocketException

from sandboxes.backends.base import SandboxError, Tty
from sandboxes.backends.kubernetes.manifests import CONTAINER

STDIN, STDOUT, STDERR, STATUS, RESIZE = 0, 1, 2, 3, 4


def open_exec(configuration, namespace: str, pod: str, command: list[str], tty: bool = False):
    """An exec's websocket (the client's WSClient, bytes in and out). A client of its own: the
    library swaps its API client's request method while it connects, which other threads share."""
    api = client.CoreV1Api(client.ApiClient(configuration))
    try:
        return stream(
            api.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=CONTAINER,
            command=command,
            stdin=tty,
            stdout=True,
            stderr=not tty,  # a terminal's errors come on its one stream
            tty=tty,
            binary=True,
            _preload_content=False,
        )
    except client.ApiException as e:  # the library reports a refused upgrade this way, status 0
        raise SandboxError(f"exec in {pod}: {e.reason or e}", "The sandbox did not answer.") from e


def exit_status(raw: bytes | str | None) -> int | None:
    """The exit code in an exec's status message; None when there is none (the stream broke)."""
    if not raw:
        return None
    status = yaml.safe_load(raw)
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise SandboxError(f"exec failed: {status.get('message')}", "The sandbox did not answer.")


def run(configuration, namespace: str, pod: str, command: list[str], timeout: float, on_chunk) -> int | None:
    """Run a command to its end or the deadline, handing each chunk of output (stdout and stderr
    as they come) to on_chunk(channel, bytes), which may end the run early by returning an exit
    code. Returns the exit code, None at the deadline."""
    ws = open_exec(configuration, namespace, pod, command)
    deadline = time.monotonic() + timeout
    try:
        while ws.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ws.update(timeout=min(remaining, 1.0))
            for channel in (STDOUT, STDERR):
                data = ws.read_channel(channel)
                if data and (ended := on_chunk(channel, data)) is not None:
                    return ended
        code = exit_status(ws.read_channel(STATUS))
    except (OSError, WebSocketException) as e:
        raise SandboxError(f"exec in {pod}: the stream broke: {e}", "The sandbox did not answer.") from e
    finally:
        ws.close()
    if code is None:  # closed without saying how the command ended: the pod or the node went away
        raise SandboxError(f"exec in {pod}: the stream ended without an exit status", "The sandbox did not answer.")
    return code


class ScriptEnd:
    """The end of a script, written into its own output. An exec on the API server ends only once
    every holder of its output has closed it (a Docker engine ends it with the process), so a
    server a script leaves in the background would hold it to the deadline. The script's wrapper
    prints a mark with a nonce and the exit code when the script ends; what follows is not waited
    for. Output goes on to `feed` as it comes, less a tail that may be the mark's beginning."""

    SEPARATOR = b"\x1e"  # ASCII's record separator: not in a script's text output

    def __init__(self, feed):
        self.feed = feed
        self.nonce = secrets.token_hex(8)  # a script cannot print the mark of its own end early
        self.mark = self.SEPARATOR + f"berth-end {self.nonce} ".encode()
        self.held = b""

    def command(self, script: str, timeout: float) -> list[str]:
        wrapper = 'timeout -k 2 "$0" bash -c "$1" 2>&1; printf "\\036berth-end %s %d\\036" "$2" "$?"'
        return [*IN_PID1_CGROUPNS, "bash", "-c", wrapper, str(int(timeout)), script, self.nonce]

    def add(self, data: bytes) -> int | None:
        """Pass the output on; the script's exit code once its mark has come."""
        self.held += data
        at = self.held.find(self.mark)
        if at >= 0:
            end = self.held.find(self.SEPARATOR, at + len(self.mark))
            if end < 0:
                return None  # the rest of the mark is on its way
            self.feed(self.held[:at])
            code, self.held = int(self.held[at + len(self.mark) : end]), b""
            return code
        start = self.held.rfind(self.SEPARATOR)
        keep = start if start >= 0 and self.mark.startswith(self.held[start:]) else len(self.held)
        if keep:
            self.feed(self.held[:keep])
            self.held = self.held[keep:]
        return None

    def rest(self) -> None:
        """The stream ended without the mark (the deadline, or the pod went away)."""
        self.feed(self.held)
        self.held = b""


class KubeTty(Tty):
    """A login shell over an exec stream with a terminal. The websocket is read by a thread of
    its own (its frames need parsing, which the event loop's socket calls cannot do), which
    hands each chunk to the loop that reads."""

    def __init__(self, ws):
        self.ws = ws
        self.status: bytes | None = None
        self.queue: asyncio.Queue | None = None
        self.reader: threading.Thread | None = None
        self.leftover = b""  # what the last read had no room for

    def _read_frames(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self.ws.is_open():
                self.ws.update(timeout=1.0)
                data = self.ws.read_channel(STDOUT)
                if data:
                    loop.call_soon_threadsafe(self.queue.put_nowait, data)
            self.status = self.ws.read_channel(STATUS) or None
        except Exception:  # noqa: BLE001 - a broken stream ends the shell as a closed one does
            pass
        loop.call_soon_threadsafe(self.queue.put_nowait, b"")

    async def read(self, size: int) -> bytes:
        if not self.leftover:
            if self.queue is None:  # started by the first read, on the loop that reads
                self.queue = asyncio.Queue()
                loop = asyncio.get_running_loop()
                self.reader = threading.Thread(target=self._read_frames, args=(loop,), daemon=True)
                self.reader.start()
            self.leftover = await self.queue.get()
            if not self.leftover:
                self.queue.put_nowait(b"")  # every later read sees the end too
                return b""
        data, self.leftover = self.leftover[:size], self.leftover[size:]
        return data

    async def write(self, data: bytes) -> None:
        if not self.ws.is_open():
            raise OSError("the shell has ended")
        await asyncio.to_thread(self.ws.write_channel, STDIN, data)

    def resize(self, rows: int, cols: int) -> None:
        try:
            self.ws.write_channel(RESIZE, json.dumps({"Width": cols, "Height": rows}).encode())
        except Exception:  # noqa: BLE001 - not up yet or gone: the next resize fixes it
            pass

    def exit_code(self) -> int | None:
        if self.reader:
            self.reader.join(timeout=2)
        try:
            return exit_status(self.status)
        except SandboxError:
            return None

    def close(self) -> None:
        self.ws.close()


# An exec starts in the pod's cgroup namespace. A Docker day's PID 1 made one of its own
# (berth-cgroupns, on a node that shares its own with pods), which the inner engine works in: a
# command or a terminal joins it, so that it sees the cgroups the engine and `docker` show.
IN_PID1_CGROUPNS = [
    "sh", "-c",
    'if [ "$(readlink /proc/1/ns/cgroup)" != "$(readlink /proc/self/ns/cgroup)" ]; then '
    'exec nsenter -t 1 -C -- "$@"; fi; exec "$@"',
    "in-pid1-cgroupns",
]  # fmt: skip


def tty_command(rows: int, cols: int) -> list[str]:
    """A login shell in /root with this size: an exec sets neither variables nor a directory."""
    return [
        *IN_PID1_CGROUPNS, "env", "TERM=xterm-256color", f"COLUMNS={cols}", f"LINES={rows}",
        "bash", "-c", "cd /root && exec bash -l",
    ]  # fmt: skip
