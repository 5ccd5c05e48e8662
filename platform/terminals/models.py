from django.db import models


class Recording(models.Model):
    """One terminal shell, recorded as asciicast v2 (the relay writes it in chunks)."""

    session = models.ForeignKey("sandboxes.LabSession", on_delete=models.CASCADE, related_name="recordings")
    node = models.CharField(max_length=63)
    started_at = models.DateTimeField(auto_now_add=True)
    width = models.PositiveSmallIntegerField()
    height = models.PositiveSmallIntegerField()
    size = models.PositiveIntegerField(default=0)  # bytes of events kept
    duration = models.FloatField(default=0.0)  # seconds, up to the last event kept
    truncated = models.BooleanField(default=False)  # stopped at BERTH_RECORDING_MAX_BYTES

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"recording of session {self.session_id} on {self.node}"


class RecordingChunk(models.Model):
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    events = models.TextField()  # asciicast v2 event lines, newline-terminated

    class Meta:
        ordering = ["recording", "seq"]
        constraints = [models.UniqueConstraint(fields=["recording", "seq"], name="one_chunk_per_seq")]

    def __str__(self):
        return f"chunk {self.seq} of {self.recording}"
