"""{% last_self_test slug as run %}: the lab's latest self-test, for the editor's panel."""

from django import template

from studio.models import SelfTestRun

register = template.Library()


@register.simple_tag
def last_self_test(lab_slug: str) -> SelfTestRun | None:
    """The newest run of any state: one still running is shown streaming on page load."""
    return (
        SelfTestRun.objects.filter(lab_slug=lab_slug)
        .select_related("version", "requested_by")
        .order_by("-created_at", "-pk")
        .first()
    )
