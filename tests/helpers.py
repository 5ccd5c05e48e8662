"""Helpers for talking to the real stack as a browser would: a session cookie, CSRF, websockets."""

import json
import time

import requests
from websockets.sync.client import connect


class Browser:
    """An HTTP client logged in as `user` against the live stack, with the Origin a browser sends."""

    def __init__(self, stack, user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        self.stack = stack
        self.user_id = user.pk
        self.cookie = client.cookies["sessionid"].value
        self.http = requests.Session()
        self.http.cookies.set("sessionid", self.cookie)
        self.origin = stack.http

    def get(self, path, **kw):
        return self.http.get(self.stack.http + path, timeout=10, **kw)

    def post(self, path, data=None, htmx=True):
        if "csrftoken" not in self.http.cookies:
            self.get("/course/")
        headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "Origin": self.origin}
        if htmx:
            headers["HX-Request"] = "true"
        return self.http.post(self.stack.http + path, data=data or {}, headers=headers, timeout=10)

    def websocket(self, path, origin=None, **options):
        cookies = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        return connect(
            self.stack.ws + path,
            additional_headers={"Cookie": cookies, "Origin": origin or self.origin},
            open_timeout=10,
            **options,
        )


def events_until(ws, predicate, timeout=90):
    """Read JSON events until predicate(event) is true; return every event read."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        event = json.loads(message)
        seen.append(event)
        if predicate(event):
            return seen
    raise AssertionError(f"no matching event in {timeout} s; saw {seen}")


def terminal_until(ws, needle: bytes, timeout=20) -> bytes:
    """Read terminal output until `needle` appears; return everything read."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while needle not in data[-len(needle) - 65536 :]:  # only the new part (floods are megabytes)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{needle!r} not seen in {timeout} s; got {bytes(data[-2000:])!r}")
        try:
            message = ws.recv(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"{needle!r} not seen in {timeout} s; got {bytes(data[-2000:])!r}") from None
        if isinstance(message, bytes):
            data += message
    return bytes(data)


YAML_STEP_KEYS = {"check": "check_script", "solution": "solution_script", "sabotage": "sabotage_script"}
YAML_STEP_KEYS |= {"timeout": "timeout_seconds", "architecture": "check_architecture"}


def yaml_step(step: dict) -> dict:
    """A step written with lab.yaml's keys, as StepDef's fields."""
    return {YAML_STEP_KEYS.get(key, key): value for key, value in step.items()}


def save_test_lab(slug, *, profile="standard", nodes=("node1",), setup="", steps=None):
    """A lab written straight to the database (as load_course would), with quiet defaults."""
    from labs.files import save_lab
    from labs.format import LabDef, StepDef

    image = "berth/docker:latest" if profile == "docker" else "berth/base:latest"
    steps = steps or [{"check": "test -f /root/done", "solution": "touch /root/done"}]
    return save_lab(
        LabDef(
            slug=slug,
            path="(test)",
            title=slug,
            image=image,
            profile=profile,
            time_limit_minutes=30,
            nodes=list(nodes),
            setup=setup,
            steps=[
                StepDef(**{"title": f"step {i}", "text": "x", "hint": "x", **yaml_step(step)})
                for i, step in enumerate(steps, start=1)
            ],
        )
    )


def lesson_of(day: int, course: str = "containers-to-kubernetes"):
    """Day N of a loaded course (the default one unless named)."""
    from course.models import Lesson

    return Lesson.objects.select_related("lab").get(course__slug=course, day=day)


def save_test_lesson(day, lab, title="Test day", quiz=()):
    """A lesson for a test lab, on a day the default course does not use, in one of its modules
    (a course of its own when none is loaded)."""
    from course.models import Course, Lesson, Module

    course = Course.default() or Course.objects.create(slug="test-course", title="Test course")
    module = course.modules.order_by("number").first() or Module.objects.create(course=course, number=1, title="Tests")
    return Lesson.objects.create(
        course=course,
        day=day,
        module=module,
        slug=lab.slug,
        title=title,
        summary="x",
        body_markdown="x",
        body_html="<p>x</p>",
        quiz=list(quiz),
        lab=lab,
        source_path="(test)",
    )
