"""The relay's pacing of a terminal's output (terminals/relay.py): a flood at the terminal rate,
a held sandbox's terminal at a crawl. The relay sleeps where a reader would be slow, so the
sleeps it asks for are what is checked here; the whole path, held and not, runs in
test_learner_path.py."""

import asyncio
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.utils import timezone

from sandboxes import pressure
from sandboxes.models import LabSession, Sandbox
from terminals import relay
from tests.helpers import lesson_of


def sleeps_asked(monkeypatch, held: set[int], writes: list[int]) -> list[float]:
    asked = []

    async def sleep(seconds):
        asked.append(seconds)

    async def run():
        shell = relay.Shell(SimpleNamespace(held=held), "7:node1", "container")
        shell.paced_at = asyncio.get_running_loop().time()
        monkeypatch.setattr(relay.asyncio, "sleep", sleep)
        for size in writes:
            await shell.pace(size)

    asyncio.run(run())
    return asked


def test_a_terminal_prints_its_burst_at_once_then_at_the_terminal_rate(monkeypatch):
    chunk = relay.READ_SIZE
    asked = sleeps_asked(monkeypatch, set(), [chunk] * (relay.OUTPUT_BURST // chunk + 1))
    assert len(asked) == 1 and asked[0] == pytest.approx(chunk / settings.TERMINAL_OUTPUT_BYTES_PER_SECOND, rel=0.01)


def test_a_held_sandboxs_terminal_is_read_at_a_crawl(monkeypatch):
    chunk = relay.READ_SIZE
    asked = sleeps_asked(monkeypatch, {7}, [chunk])
    assert asked == [
        pytest.approx((chunk - relay.HELD_OUTPUT_BYTES_PER_SECOND) / relay.HELD_OUTPUT_BYTES_PER_SECOND, rel=0.01)
    ]
    assert sleeps_asked(monkeypatch, {8}, [chunk]) == [], "another session's hold is not this one's"


@pytest.mark.django_db
def test_the_relay_learns_which_sessions_are_held(learner, course):
    lab = lesson_of(1).lab

    def session(host="local", state=LabSession.READY, **sandbox) -> LabSession:
        made = LabSession.objects.create(
            user=learner, lab=lab, host=host, state=state, expires_at=timezone.now() + timezone.timedelta(hours=1)
        )
        Sandbox.objects.create(session=made, node="node1", name=f"s{made.pk}", container_id=f"c{made.pk}", **sandbox)
        return made

    now = timezone.now()
    held = session(pinned_since=now, pinned_what="process")
    session()  # not held
    session(host="other", pinned_since=now)
    session(state=LabSession.ENDED, pinned_since=now)
    session(pinned_since=now, removed_at=now)
    assert pressure.held_sessions("local") == {held.pk}
