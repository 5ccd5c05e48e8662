"""A lesson's transcripts, run in the lab's sandbox and compared with what the lesson shows.

A transcript is a fenced block whose first line is a command: ``$ docker version`` and the
output it printed below it (``console`` as the block's language, or none). `labtest` runs a
lesson's transcripts and its runnable blocks (```` ```bash run ````, which must exit 0) in order
in a fresh sandbox of its lab (after the lab's files and setup, where a learner reading the
lesson stands) and compares each command's output with the lesson's:

- runs of spaces count as one (columns move with the width of their values);
- values that differ from run to run match any value of their kind: IDs and digests, swarm IDs,
  sizes, durations, clock times and dates, percentages;
- ``...`` inside a line matches any text; a line that is only ``...`` matches any lines, none
  included (how a lesson shortens long output).

A comment on the line before a block steers it: ``<!-- transcript: skip (why) -->`` for output
that cannot be had here (another machine, a typical host), ``<!-- transcript: on node2 -->`` to
run it on another node of the lab, ``<!-- transcript: after step 2 -->`` to run it once the
lab's steps 1 and 2 are solved (their solutions run first: a lesson showing the finished work);
both at once are separated by a comma. A command's lines ending in ``\\`` continue it; the working
directory carries over from block to block, shell variables only within a block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*transcript:\s*(.*?)\s*-->\s*$")
TRANSCRIPT_LANGUAGES = {"", "console"}
RUNNABLE_LANGUAGES = {"bash", "sh", "shell"}


@dataclass
class Command:
    line: int  # of the "$ " line in the lesson file
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    path: str
    line: int  # of the opening fence
    commands: list[Command]
    node: str | None = None
    skip: str | None = None  # why it is not run
    after_step: int = 0  # the lab's steps solved before it runs (a lesson showing the finished work)
    runnable: bool = False  # a ```bash run block: must exit 0, shows no output

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def parse(text: str, path: str) -> list[Transcript]:
    """Every transcript block of a lesson, with the line of each command."""
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":  # front matter
        start = next((i + 1 for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
    found, i = [], start
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        fence, language = opened.group(2), opened.group(3)
        body_start = i + 1
        end = body_start
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = lines[body_start:end]
        rest = lines[i][opened.end():].split()
        if language in TRANSCRIPT_LANGUAGES and body and body[0].startswith("$ "):
            found.append(_transcript(path, i + 1, body, body_start + 1, _directive(lines, i)))
        elif language in RUNNABLE_LANGUAGES and rest[:1] == ["run"] and body:
            # A runnable block: what the learner's ▶ Run types, so the lesson's state follows it;
            # nothing shown to compare, but it must succeed.
            block = _transcript(path, i + 1, ["$ " + "\n".join(body)], body_start + 1, _directive(lines, i))
            block.runnable = True
            found.append(block)
        i = end + 1
    return found


def _directive(lines: list[str], fence_index: int) -> str:
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    match = DIRECTIVE.match(lines[j]) if j >= 0 else None
    return match.group(1) if match else ""


def _transcript(path: str, line: int, body: list[str], first_line: int, directive: str) -> Transcript:
    commands: list[Command] = []
    continuing = False
    for offset, text in enumerate(body):
        if continuing:
            commands[-1].text += "\n" + text
            continuing = text.endswith("\\")
        elif text.startswith("$ "):
            commands.append(Command(first_line + offset, text[2:]))
            continuing = text.endswith("\\")
        else:
            commands[-1].expected.append(text)
    transcript = Transcript(path, line, commands)
    if directive.startswith("skip"):
        transcript.skip = directive[4:].strip(" ():") or "marked skip"
    else:
        for part in filter(None, (p.strip() for p in directive.split(","))):
            if part.startswith("on "):
                transcript.node = part[3:].strip()
            elif re.fullmatch(r"after step \d+", part):
                transcript.after_step = int(part.split()[-1])
    return transcript


# --- comparing -----------------------------------------------------------------------------------
# What changes from one run to the next, each matched by any value of its kind. Order matters:
# a clock time before the dates around it, a digest before the sizes its digits could look like.
MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
WEEKDAY = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
CLOCK = r"\d\d:\d\d:\d\d(\.\d+)?\b"
VOLATILE = [
    ("<token>", r"SWMTKN-1-[0-9a-z-]+"),
    ("<mac>", r"\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b"),
    ("<ns>", r"\b(cgroup|ipc|mnt|net|pid|time|user|uts)(_for_children)?:\[\d+\]"),  # namespace inodes
    ("<if>", r"(^\d+(?=: \S+: <)|(?<=@if)\d+|\bveth[0-9a-f]{7}\b)"),  # interface indexes, veth names
    ("<time>", r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|\s?[+-]\d\d:?\d\d)?( UTC)?"),
    ("<date>", rf"\b\d{{1,2}} {MONTH} \d{{4}}( {CLOCK})?"),  # Redis's log: 04 Dec 2026 21:10:05.509
    ("<date>", rf"\b({WEEKDAY} )?{MONTH} +\d+ +({CLOCK}|\d\d:\d\d\b|\d{{4}}\b)"),  # ls -l, syslog, date
    ("<clock>", rf"\b{CLOCK}"),
    ("<pid>", r"(?<=\bpid=)\d+"),
    ("<hex>", r"\b(sha256:)?[0-9a-f]{12,64}\b"),
    ("<id>", r"\b(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{25}\b"),
    ("<size>", r"\b\d+(\.\d+)?\s?([kKMGT]i?)?B\b"),
    ("<dur>", r"\b\d+(\.\d+)?\s?(ns|µs|us|ms|s|m|h)\b"),
    ("<dur>", r"\b(\d+|About an?|Less than a) (second|minute|hour|day|week|month|year)s?\b"),
    ("<pct>", r"\b\d+(\.\d+)?%"),
]
_VOLATILE = [(name, re.compile(pattern)) for name, pattern in VOLATILE]
ELLIPSIS = "..."


def normalise(line: str) -> str:
    line = " ".join(line.split())
    for name, pattern in _VOLATILE:
        line = pattern.sub(name, line)
    return line


def _line_pattern(expected: str) -> re.Pattern:
    parts = [re.escape(part) for part in normalise(expected).split(ELLIPSIS)]
    return re.compile(".*".join(parts))


def matches(expected: list[str], actual: list[str]) -> tuple[bool, int]:
    """Whether the output matches the lesson's; else the index of the first expected line that
    no alignment got past (for the report)."""
    got = [normalise(a) for a in actual if a.strip()]
    patterns = [None if e.strip() == ELLIPSIS else _line_pattern(e) for e in expected if e.strip()]
    best = 0
    memo: dict[tuple[int, int], bool] = {}

    def walk(i: int, j: int) -> bool:
        nonlocal best
        best = max(best, i)
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(patterns):
            ok = j == len(got)
        elif patterns[i] is None:  # "...": any number of lines
            ok = any(walk(i + 1, k) for k in range(j, len(got) + 1))
        else:
            ok = j < len(got) and patterns[i].fullmatch(got[j]) is not None and walk(i + 1, j + 1)
        memo[(i, j)] = ok
        return ok

    ok = walk(0, 0)
    return ok, best


# --- running -----------------------------------------------------------------------------------
MARK = "\x1eberth-transcript-command\x1e"
CWD_FILE = "/tmp/.berth-transcript-cwd"
# The block's output goes to a file, read back by a second exec: under load the engine can lose
# the whole output of an exec (moby/moby#27289); a read that lost it is simply read again.
OUTPUT_FILE = "/tmp/.berth-transcript-output"
READ_OUTPUT = f"cat {OUTPUT_FILE}"


def script(transcript: Transcript) -> str:
    """One bash script for a block: each command's output after a mark, into OUTPUT_FILE, stdin
    closed, the working directory taken from the block before and left for the next."""
    lines = [f"exec > {OUTPUT_FILE} 2>&1", f'cd "$(cat {CWD_FILE} 2>/dev/null || echo /root)"']
    for command in transcript.commands:
        lines.append(f"printf '{MARK}\\n'")
        lines.append("{\n" + command.text + "\n} < /dev/null 2>&1")
    lines += ["status=$?", f"pwd > {CWD_FILE}", 'exit "$status"']  # the last command's status
    return "\n".join(lines) + "\n"


def outputs(transcript: Transcript, printed: str) -> list[list[str]]:
    """What each command printed, from what a run of script(transcript) left in OUTPUT_FILE."""
    chunks = printed.split(MARK + "\n")[1:]
    chunks += [""] * (len(transcript.commands) - len(chunks))  # a block stopped by its timeout
    return [chunk.splitlines() for chunk in chunks[: len(transcript.commands)]]
