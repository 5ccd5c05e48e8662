"""Two small charts as inline SVG, drawn on the server: live sandboxes over the last day, and
lab starts per hour."""

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from console.models import LiveCount
from sandboxes.models import LabSession


def starts_per_hour(hours: int = 24) -> list[tuple[str, int]]:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    since = now - timedelta(hours=hours - 1)
    counts = {
        row["hour"]: row["n"]
        for row in LabSession.objects.filter(created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(n=Count("pk"))
    }
    return [
        ((since + timedelta(hours=i)).strftime("%H:00"), counts.get(since + timedelta(hours=i), 0))
        for i in range(hours)
    ]


def live_over_time(hours: int = 24) -> list[tuple[str, int]]:
    samples = LiveCount.objects.filter(at__gte=timezone.now() - timedelta(hours=hours))
    return [(s.at.strftime("%H:%M"), s.sessions) for s in samples]


def bars(points: list[tuple[str, int]], width: int = 600, height: int = 120) -> dict:
    """Coordinates for a bar chart template: [{x, y, w, h, label, value}], plus the maximum."""
    top = max([value for _, value in points] + [1])
    step = width / max(len(points), 1)
    return {
        "width": width,
        "height": height,
        "top": top,
        "bars": [
            {
                "x": round(i * step + 1, 1),
                "w": round(max(step - 2, 1), 1),
                "h": round(height * value / top, 1),
                "y": round(height - height * value / top, 1),
                "label": label,
                "value": value,
            }
            for i, (label, value) in enumerate(points)
        ],
    }
