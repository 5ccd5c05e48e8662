"""The lab engine through the real stack: a 3-node lab (a terminal per node, nodes reach each
other by name) and a hanging check that is stopped and explained."""

import json

import pytest

from labs.models import CheckRun
from sandboxes.models import LabSession
from tests.helpers import Browser, events_until, save_test_lab, save_test_lesson, terminal_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.stack]


@pytest.fixture
def cluster_day(db):
    lab = save_test_lab(
        "three-nodes",
        nodes=["node1", "node2", "node3"],
        steps=[
            {
                "title": "Reach node3 from node1",
                "node": "node1",
                "check": "getent hosts node3 && test -f /tmp/reached",
                "solution": "touch /tmp/reached",
            },
            {"title": "Wait forever", "check": "echo waiting; sleep 600", "solution": "true", "timeout": 2},
        ],
    )
    save_test_lesson(99, lab, "Three nodes")
    return lab


def start(browser, day):
    assert browser.post(f"/sessions/start/{day}/").status_code == 200
    session = LabSession.objects.get(user_id=browser.user_id)
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e.get("state") in ("ready", "failed"))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    return session


def test_every_node_has_its_own_terminal_and_they_reach_each_other_by_name(
    stack, learner, cluster_day, sandboxes_removed_after
):
    browser = Browser(stack, learner)
    session = start(browser, 99)
    assert session.sandboxes.count() == 3
    page = browser.get("/course/day/99/lab/").text
    for node in ("node1", "node2", "node3"):
        assert f'data-node="{node}"' in page
    for node in ("node1", "node2", "node3"):
        with browser.websocket(f"/ws/sessions/{session.pk}/terminal/{node}/") as ws:
            ws.send(json.dumps(["stdin", "echo I-am-$(hostname)-seeing-$(getent hosts node1 node2 node3 | wc -l)\r"]))
            terminal_until(ws, f"I-am-{node}-seeing-3".encode())
    # No way out of the session network.
    with browser.websocket(f"/ws/sessions/{session.pk}/terminal/node2/") as ws:
        ws.send(json.dumps(["stdin", "curl -s -m 3 http://1.1.1.1 >/dev/null && echo OUT || echo no-way-out\r"]))
        assert b"OUT\r" not in terminal_until(ws, b"no-way-out", timeout=15)


def test_a_hanging_check_is_stopped_and_the_learner_told(stack, learner, cluster_day, sandboxes_removed_after):
    browser = Browser(stack, learner)
    session = start(browser, 99)
    with browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e["kind"] == "progress")
        browser.post(f"/labs/sessions/{session.pk}/steps/2/check/")
        seen = events_until(ws, lambda e: e["kind"] == "check.result", timeout=30)
    assert seen[-1]["state"] == "timeout"
    lines = [e["line"] for e in seen if e["kind"] == "check.output"]
    assert "waiting" in lines and any("did not finish within 2 s" in line for line in lines)
    run = CheckRun.objects.get(step__position=2)
    assert run.state == "timeout" and "did not finish" in run.output
