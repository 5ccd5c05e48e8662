"""Terminal recordings in asciicast v2: the relay keeps what each shell printed (and its
resizes) with timestamps, and writes every shell's new events to the database together, every
few seconds or as soon as one has 64 KB, so a recording costs no write per keystroke and a class
typing costs one write every few seconds. A flood stops being recorded at the cap."""

import codecs
import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from terminals.models import Recording, RecordingChunk

FLUSH_SECONDS = 5.0
FLUSH_BYTES = 64 * 1024


class Recorder:
    def __init__(self, session_id: int, node: str, rows: int, cols: int):
        self.started = time.monotonic()
        self.recording = Recording.objects.create(session_id=session_id, node=node, width=cols, height=rows)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending: list[str] = []
        self.pending_bytes = 0
        self.size = 0
        self.seq = 0
        self.full = False
        self.duration = 0.0

    def event(self, kind: str, text: str) -> None:
        if self.full or not text:
            return
        self.duration = round(time.monotonic() - self.started, 3)
        line = json.dumps([self.duration, kind, text]) + "\n"
        if self.size + len(line) > settings.TERMINAL_RECORDING_MAX_BYTES:
            self.full = True
            return
        self.pending.append(line)
        self.pending_bytes += len(line)
        self.size += len(line)

    def output(self, data: bytes) -> None:
        self.event("o", self.decoder.decode(data))

    def resize(self, rows: int, cols: int) -> None:
        self.event("r", f"{cols}x{rows}")

    def take(self) -> tuple[int, str] | None:
        """The pending events and their chunk number (taken in order, written in a thread)."""
        if not self.pending and not self.full:
            return None
        chunk = (self.seq, "".join(self.pending))
        self.seq += 1
        self.pending, self.pending_bytes = [], 0
        return chunk


def write_chunks(batch: list[tuple[Recorder, tuple[int, str]]]) -> None:
    """Write chunks taken from several recordings (each recording's in the order taken), on one
    connection in one transaction."""
    close_old_connections()
    with transaction.atomic():
        RecordingChunk.objects.bulk_create(
            RecordingChunk(recording=recorder.recording, seq=seq, events=events)
            for recorder, (seq, events) in batch
            if events
        )
        for recorder, _ in batch:
            Recording.objects.filter(pk=recorder.recording.pk).update(
                size=recorder.size, duration=recorder.duration, truncated=recorder.full
            )


def asciicast(recording) -> str:
    """The whole recording as an asciicast v2 file."""
    header = {
        "version": 2,
        "width": recording.width,
        "height": recording.height,
        "timestamp": int(recording.started_at.timestamp()),
        "title": f"Berth, session {recording.session_id}, {recording.node}",
        "env": {"TERM": "xterm-256color"},
    }
    return json.dumps(header) + "\n" + "".join(recording.chunks.values_list("events", flat=True))


def drop_old_recordings() -> int:
    cutoff = timezone.now() - timedelta(days=settings.TERMINAL_RECORDING_DAYS)
    return Recording.objects.filter(started_at__lt=cutoff).delete()[0]
