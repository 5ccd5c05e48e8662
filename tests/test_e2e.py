"""End to end in Debian's Chromium: a new learner signs up, opens Day 1, starts the lab, uses the
terminal, passes a check, reloads and finds everything still there."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.stack, pytest.mark.e2e]

CHROMIUM = os.environ.get("BERTH_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the test
    # makes between page actions are still plain synchronous calls (Django's documented switch).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def terminal_text(page) -> str:
    return page.locator(".xterm-rows").inner_text()


def type_in_terminal(page, text):
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.type(text)


def test_new_learner_walks_the_whole_path(page, stack, roles, course, sandboxes_removed_after):
    from labs.models import Step

    page.goto(f"{stack.http}/accounts/signup/")
    page.fill("#id_username", "newlearner")
    page.fill("#id_password1", "a-long-pass-987!")
    page.fill("#id_password2", "a-long-pass-987!")
    page.click("button[type=submit]")

    expect(page.locator("h2", has_text="Module 1")).to_be_visible()
    page.click("a[href='/course/day/1/']")
    expect(page.locator("h1")).to_contain_text("Day 1")
    expect(page.locator(".lesson .mermaid svg").first).to_be_visible(timeout=10000)

    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    expect(page.locator(".timer")).to_contain_text("left")

    # The step's runnable block types `docker version` into the terminal.
    page.locator("#step-1 pre.run button", has_text="Run").click()
    expect(page.locator(".xterm-rows")).to_contain_text("Server:", timeout=15000)

    # Check before doing the work: it fails and says why.
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    assert page.locator("#step-1 .check-output").inner_text().strip()

    # The hint can be read any time; the solution is revealed on request, and recorded.
    page.locator("#step-1 .hint summary").click()
    expect(page.locator("#step-1 .hint .prose")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#step-1 .solution-form button").click()
    expect(page.locator("#step-1 .solution pre")).to_contain_text("answers")
    from labs.models import SolutionReveal

    assert SolutionReveal.objects.filter(user__username="newlearner", step__position=1, reason="asked").exists()

    # Do step 1's work in the terminal, line by line, then check again.
    solution = Step.objects.get(lab__slug="day01-docker-architecture", position=1).solution_script
    for line in solution.strip().splitlines():
        type_in_terminal(page, line + "\n")
    type_in_terminal(page, "echo step-one-$((40+2))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("step-one-42", timeout=30000)
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1")).to_have_class(re.compile(r"\bpassed\b"), timeout=30000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "workspace.png"))

    # Reload: the same shell with its scrollback, the step still passed.
    page.reload()
    expect(page.locator(".xterm-rows")).to_contain_text("step-one-42", timeout=20000)
    expect(page.locator("#step-1")).to_have_class(re.compile(r"\bpassed\b"))
    type_in_terminal(page, "echo after-reload-$((2*3))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("after-reload-6", timeout=15000)

    page.goto(f"{stack.http}/course/")
    expect(page.locator("li.day[data-day='1'] .day-state")).to_have_text("in progress")
    page.screenshot(path=str(SHOTS / "course-map.png"))
