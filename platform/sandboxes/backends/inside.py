"""What every backend does the same way inside a sandbox: wait for berth-init's readiness marker,
and keep what an exec prints within a cap, passed on line by line as it comes."""

from collections.abc import Callable

MAX_EXEC_OUTPUT = 64 * 1024  # what a check may print; the rest is cut (and not streamed)
TRUNCATED_NOTE = f"[output cut after {MAX_EXEC_OUTPUT // 1024} KiB]"
KEEP_OUTPUT = MAX_EXEC_OUTPUT - len(TRUNCATED_NOTE) - 1  # room for the note: the total stays within the cap

# Inside a sandbox: wait for berth-init's marker, printing each phase once ("phase ..."), or its
# failure ("failed ...", exit 2). A sandbox without berth-init (the standard profile) is ready.
READY_WATCH = """
last=
while :; do
  if [ -e /run/berth/failed ]; then echo "failed $(cat /run/berth/failed)"; exit 2; fi
  if [ ! -x /usr/local/sbin/berth-init ] || [ -e /run/berth/ready ]; then exit 0; fi
  phase=; read -r phase < /run/berth/phase 2> /dev/null
  if [ -n "$phase" ] && [ "$phase" != "$last" ]; then echo "phase $phase"; last=$phase; fi
  sleep 0.1
done
"""


def phase_of(progress: Callable[[str], None]) -> Callable[[str], None]:
    """An on_output for READY_WATCH: each phase line to `progress`, without its prefix."""
    return lambda line: progress(line.removeprefix("phase ")) if line.startswith("phase ") else None


def failure_of(output: str) -> str:
    """What READY_WATCH printed of berth-init's failure."""
    return " ".join(line.removeprefix("failed ") for line in output.splitlines() if line.startswith("failed ")).strip()


class ExecOutput:
    """What an exec printed, kept up to KEEP_OUTPUT bytes (then TRUNCATED_NOTE) and passed on to
    on_output line by line; past the cap it is still read (the script must not block) but dropped."""

    def __init__(self, on_output: Callable[[str], None] | None = None):
        self.on_output = on_output
        self.kept = bytearray()
        self.pending = b""  # the unfinished last line, for on_output
        self.truncated = False

    def add(self, payload: bytes) -> None:
        if len(self.kept) >= KEEP_OUTPUT:
            if not self.truncated:
                self.truncated = True
                if self.on_output:
                    self.on_output(TRUNCATED_NOTE)
            return
        payload = payload[: KEEP_OUTPUT - len(self.kept)]
        self.kept += payload
        if self.on_output:
            self.pending += payload
            *lines, self.pending = self.pending.split(b"\n")
            for line in lines:
                self.on_output(line.decode("utf-8", "replace"))

    def finish(self) -> str:
        """The whole output (with the note when cut); the unfinished last line passed on."""
        if self.on_output and self.pending and not self.truncated:
            self.on_output(self.pending.decode("utf-8", "replace"))
            self.pending = b""
        if self.truncated:
            return (bytes(self.kept) + ("\n" + TRUNCATED_NOTE).encode()).decode("utf-8", "replace")
        return self.kept.decode("utf-8", "replace")
