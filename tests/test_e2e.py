"""End to end in Debian's Chromium: a new learner signs up, opens Day 1, starts the lab, uses the
terminal, passes a check, reloads and finds everything still there."""

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.helpers import lesson_of

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


def log_in(page, stack, user):
    page.goto(f"{stack.http}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", f"{user.username}-pass-123")
    page.click("button[type=submit]")


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

    # The home page: every course, the default first; its first day is one click away.
    expect(page.locator("li.course-card").first).to_contain_text("From containers to Kubernetes")
    page.locator("li.course-card").first.locator("a", has_text="Start with Day 1").click()
    expect(page.locator("h1")).to_contain_text("Day 1")
    expect(page.locator(".lesson .mermaid svg").first).to_be_visible(timeout=10000)

    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    expect(page.locator(".timer")).to_contain_text("left")

    # The step's runnable block types `docker version` into the terminal.
    page.locator("#step-1 pre.run button", has_text="Run").click()
    expect(page.locator(".xterm-rows")).to_contain_text("docker-init:", timeout=15000)  # a server component

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

    # The live architecture view draws the learner's own engine and follows what they do.
    expect(page.locator(".architecture .arch-diagram svg")).to_contain_text("dockerd on node1", timeout=20000)
    type_in_terminal(
        page, "docker network create e2enet && docker run -d --name e2eweb --network e2enet busybox sleep 600\n"
    )
    expect(page.locator(".architecture .arch-diagram svg")).to_contain_text("e2eweb", timeout=20000)
    expect(page.locator(".architecture .arch-diagram svg")).to_contain_text("e2enet")
    expect(page.locator(".architecture .arch-meta")).to_contain_text("1 container,")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "workspace.png"))

    # Reload: the same shell with its scrollback, the step still passed.
    page.reload()
    expect(page.locator(".xterm-rows")).to_contain_text("step-one-42", timeout=20000)
    expect(page.locator("#step-1")).to_have_class(re.compile(r"\bpassed\b"))
    type_in_terminal(page, "echo after-reload-$((2*3))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("after-reload-6", timeout=15000)

    # The quiz is graded in place and explained; a wrong answer can be tried again.

    first = lesson_of(1).quiz[0]
    wrong = 1 if first["answer"] != 1 else 2
    page.locator(f"#question-1 input[value='{wrong}']").check()
    page.locator("#question-1 button").click()
    expect(page.locator("#question-1 .verdict")).to_contain_text("Not this one")
    expect(page.locator("#question-1 .explanation")).to_be_visible()
    page.locator(f"#question-1 input[value='{first['answer']}']").check()
    page.locator("#question-1 button").click()
    expect(page.locator("#question-1 .verdict")).to_contain_text("Right")

    page.goto(f"{stack.http}/course/")
    expect(page.locator("h2", has_text="Module 1")).to_be_visible()
    expect(page.locator("li.day[data-day='1'] .day-state")).to_have_text("in progress")
    expect(page.locator(".streak")).to_contain_text("1-day streak")
    expect(page.locator(".streak svg.streak-icon")).to_be_visible()  # drawn: no emoji font needed
    page.screenshot(path=str(SHOTS / "course-map.png"))


def test_an_admin_watches_extends_and_ends_a_learners_lab(
    page, stack, learner, admin_user, course, sandboxes_removed_after
):
    import json

    from sandboxes.models import LabSession
    from tests.helpers import Browser, events_until

    learner_browser = Browser(stack, learner)
    assert learner_browser.post("/sessions/start/1/").status_code == 200
    session = LabSession.objects.get(user=learner)
    with learner_browser.websocket(f"/ws/sessions/{session.pk}/events/") as ws:
        events_until(ws, lambda e: e.get("state") == "ready")
    with learner_browser.websocket(f"/ws/sessions/{session.pk}/terminal/node1/") as tty:
        tty.send(json.dumps(["stdin", "echo learner-was-here-$((6*7))\r"]))

    log_in(page, stack, admin_user)
    page.click("a[href='/console/']")
    row = page.locator(f"tr[data-session='{session.pk}']")
    expect(row).to_contain_text("alice")
    expect(row).to_contain_text("ready")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "console.png"))

    row.locator("a", has_text="Watch").click()
    expect(page.locator(".xterm-rows")).to_contain_text("learner-was-here-42", timeout=15000)
    page.click("a[href='/console/']")

    before = LabSession.objects.get(pk=session.pk).expires_at
    page.locator(f"tr[data-session='{session.pk}'] button", has_text="Extend").click()
    expect(page.locator(f"tr[data-session='{session.pk}']")).to_be_visible()
    assert LabSession.objects.get(pk=session.pk).expires_at > before

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-session='{session.pk}'] button.danger").click()
    expect(page.locator(f"tr[data-session='{session.pk}']")).to_have_count(0)
    assert LabSession.objects.get(pk=session.pk).state == "ended"
    page.goto(f"{stack.http}/console/audit/")
    for action in ("session.watch", "session.extend", "session.end"):
        expect(page.locator("#audit")).to_contain_text(action)


def test_five_minutes_before_the_end_the_learner_is_warned_and_can_extend_or_take_their_files(
    page, stack, learner, course, sandboxes_removed_after
):
    from datetime import timedelta

    from django.utils import timezone

    from sandboxes.models import LabSession

    log_in(page, stack, learner)
    page.goto(f"{stack.http}/course/day/1/")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    type_in_terminal(page, "echo my-notes > /root/notes.txt && echo saved-$((3*3))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("saved-9", timeout=15000)

    session = LabSession.objects.get(user=learner, state="ready")
    LabSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() + timedelta(minutes=4))
    page.reload()
    banner = page.locator(".ending-soon")
    expect(banner).to_contain_text("less than 5 minutes", timeout=10000)

    banner.locator("button", has_text="Download my work").click()
    link = page.locator("#download a", has_text="berth-day01-work.tar.gz")
    expect(link).to_be_visible(timeout=30000)
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "berth-day01-work.tar.gz"

    banner.locator("button", has_text="Extend now").click()
    expect(page.locator(".ending-soon")).to_have_count(0, timeout=10000)
    assert LabSession.objects.get(pk=session.pk).expires_at > timezone.now() + timedelta(minutes=10)

    # The terminal was recorded: replay it in the page.
    import time

    from terminals.models import Recording

    deadline = time.monotonic() + 20

    def recorded():
        events = Recording.objects.filter(session=session).values_list("chunks__events", flat=True)
        return "saved-9" in "".join(e or "" for e in events)

    while not recorded() and time.monotonic() < deadline:
        time.sleep(0.5)
    page.reload()
    page.locator(".recordings summary").click()
    page.locator(".recordings li a").first.click()
    page.locator(".player .ap-playback-button").click()  # asciinema-player's own controls
    page.locator(".player-speed").select_option("16")  # a new player, playing on from where it was
    expect(page.locator(".player .ap-term")).to_contain_text("saved-9", timeout=20000)


AXE = Path(__file__).resolve().parent.parent / "build" / "vendor" / "axe.min.js"


def serious_accessibility_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_course_map_lesson_and_workspace_pass_axe_in_both_themes(
    browser, stack, learner, course, sandboxes_removed_after
):
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme=scheme)
        page = context.new_page()
        page.goto(f"{stack.http}/accounts/login/")
        assert not serious_accessibility_problems(page), scheme
        page.fill("#id_username", learner.username)
        page.fill("#id_password", f"{learner.username}-pass-123")
        page.click("button[type=submit]")
        page.goto(f"{stack.http}/course/")
        assert not (problems := serious_accessibility_problems(page)), (scheme, "course map", problems)
        page.goto(f"{stack.http}/course/day/2/")
        expect(page.locator(".lesson .mermaid svg").first).to_be_visible(timeout=10000)
        assert not (problems := serious_accessibility_problems(page)), (scheme, "lesson", problems)
        if scheme == "light":
            page.click("#start-lab")
        expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
        expect(page.locator(".architecture .arch-diagram svg")).to_be_visible(timeout=20000)
        assert not (problems := serious_accessibility_problems(page)), (scheme, "workspace", problems)
        context.close()


def test_workspace_comforts_theme_shortcuts_font_size_divider_and_phone_reading(
    browser, stack, learner, course, sandboxes_removed_after
):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme="light")
    page = context.new_page()
    log_in(page, stack, learner)
    page.goto(f"{stack.http}/course/day/1/")

    # The help overlay opens with "?" and closes with Esc.
    page.locator("h1").click()
    page.keyboard.press("?")
    expect(page.locator(".help-overlay")).to_be_visible()
    expect(page.locator(".help-overlay")).to_contain_text("Alt")
    page.keyboard.press("Escape")
    expect(page.locator(".help-overlay")).to_be_hidden()

    # The theme switch flips the palette and is remembered.
    page.keyboard.press("Alt+d")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.click(".theme-switch")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")

    # The divider moves with the keyboard; the terminal follows.
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    lesson = page.locator(".lesson")
    before = lesson.bounding_box()["width"]
    columns = page.evaluate("() => berth.terminal.term.cols")
    page.locator(".divider").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert lesson.bounding_box()["width"] > before + 100
    page.wait_for_function(f"() => berth.terminal.term.cols < {columns}")  # the terminal follows

    # Larger terminal text, from the button and from the shortcut.
    size = page.evaluate("() => berth.terminal.term.options.fontSize")
    page.click("[data-font-step='1']")
    page.keyboard.press("Alt+Equal")
    assert page.evaluate("() => berth.terminal.term.options.fontSize") == size + 2

    # Alt+K checks the first step not yet passed, from inside the terminal too.
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.press("Alt+k")
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    context.close()

    # The lesson reads on a phone: one column, no sideways scrolling.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    log_in(page, stack, learner)
    page.goto(f"{stack.http}/course/day/1/")
    expect(page.locator("h1")).to_be_visible()
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
                 .filter(e => { for (let x = e.parentElement; x; x = x.parentElement)
                   if (getComputedStyle(x).overflowX !== 'visible') return false; return true; })
                 .slice(0, 3).map(e => { const path = []; for (let x = e; x; x = x.parentElement)
                   path.push(x.tagName + '.' + x.className + ':' + Math.round(x.getBoundingClientRect().width));
                   return path.join(' < '); })"""
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1, wide
    phone.close()


def test_multi_node_tabs_reconnect_reset_end_and_resume_in_the_browser(
    page, stack, learner, course, sandboxes_removed_after
):
    from tests.helpers import save_test_lab, save_test_lesson

    lab = save_test_lab("e2e-two-nodes", nodes=("node1", "node2"))
    save_test_lesson(41, lab, "Two nodes")
    log_in(page, stack, learner)

    # One tab per node; each is its own shell on its own host name.
    page.goto(f"{stack.http}/course/day/41/")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    expect(page.locator(".terminal-tabs .tab")).to_have_count(2)
    type_in_terminal(page, "echo on-$(hostname)\n")
    expect(page.locator(".xterm-rows")).to_contain_text("on-node1", timeout=15000)
    page.locator(".terminal-tabs .tab", has_text="node2").click()
    type_in_terminal(page, "echo on-$(hostname)\n")
    expect(page.locator(".xterm-rows")).to_contain_text("on-node2", timeout=15000)

    # A dropped connection comes back to the same shell, saying so while it reconnects.
    page.evaluate("() => berth.terminal.sock.close()")
    type_in_terminal(page, "echo back-$((1+1))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("back-2", timeout=15000)
    expect(page.locator(".xterm-rows")).to_contain_text("on-node2")

    # Day 1 (one node): end, then resume the same sandbox; or reset it.
    page.goto(f"{stack.http}/course/day/1/")
    page.click("#start-lab")  # replaces the two-node lab: one live lab per learner
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    type_in_terminal(page, "echo kept > /root/kept.txt && echo wrote-$((5*5))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("wrote-25", timeout=15000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".lab-head button.danger", has_text="End lab").click()
    expect(page.locator("#lab-panel")).to_contain_text("Your sandbox is kept for", timeout=30000)
    from sandboxes.models import Sandbox

    deadline = time.monotonic() + 30
    while not Sandbox.objects.filter(
        session__user=learner, session__lab__slug="day01-docker-architecture", kept_until__isnull=False
    ).exists():
        assert time.monotonic() < deadline, "the ended sandbox was not kept"
        time.sleep(0.3)
    page.reload()
    expect(page.locator(".notice.kept")).to_contain_text("is kept until")
    expect(page.locator("#start-lab")).to_have_text("Resume lab")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    type_in_terminal(page, "cat /root/kept.txt && echo read-$((6*6))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("read-36", timeout=15000)
    assert "kept" in page.locator(".xterm-rows").inner_text()

    before = page.locator("#lab-panel").get_attribute("data-session-id")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".lab-head button", has_text="Reset lab").click()
    expect(page.locator("#lab-panel")).not_to_have_attribute("data-session-id", before, timeout=15000)
    expect(page.locator("#lab-panel")).to_have_attribute("data-state", "ready", timeout=90000)
    expect(page.locator(".xterm-rows")).to_contain_text("root@node1", timeout=15000)
    type_in_terminal(page, "ls /root/kept.txt || echo fresh-$((7*7))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("fresh-49", timeout=15000)


def test_every_diagram_of_the_course_parses_in_the_browser(browser, course):
    """Mermaid is drawn in the page; a diagram that does not parse would show as an error box."""
    import re

    from course.models import Lesson

    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(path=str(Path(__file__).resolve().parent.parent / "build" / "vendor" / "mermaid.min.js"))
    failures = []
    for lesson in Lesson.objects.all():
        for diagram in re.findall(r"```mermaid\n(.*?)```", lesson.body_markdown, re.S):
            error = page.evaluate(
                "async (text) => { try { await mermaid.parse(text); return null } catch (e) { return String(e) } }",
                diagram,
            )
            if error:
                failures.append(f"day {lesson.day}: {error.splitlines()[0][:200]}")
    page.close()
    assert not failures, "\n".join(failures)


def test_continue_target_architecture_copy_paste_day_completion_and_day_keys(
    browser, stack, learner, course, sandboxes_removed_after
):
    from labs.files import save_lab
    from labs.format import LabDef, StepDef

    lab = save_lab(
        LabDef(
            slug="e2e-target",
            path="(test)",
            title="A target",
            image="berth/docker:latest",
            profile="docker",
            time_limit_minutes=30,
            nodes=["node1"],
            setup="",
            architecture={"containers": ["web"], "networks": ["appnet"], "volumes": [], "links": [["web", "appnet"]]},
            steps=[
                StepDef(
                    title="Build the target",
                    text="x",
                    hint="x",
                    check_script="true",
                    solution_script="true",
                    check_architecture=True,
                )
            ],
        )
    )
    quiz = [
        {"question": f"Q{n}?", "choices": ["right", "wrong"], "answer": 1, "explanation": "Because."} for n in (1, 2, 3)
    ]
    from tests.helpers import save_test_lesson

    save_test_lesson(43, lab, "Target day", quiz)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.http)
    page = context.new_page()
    log_in(page, stack, learner)

    # "Continue where you left off" on the course map.
    page.goto(f"{stack.http}/course/day/43/")
    page.goto(f"{stack.http}/course/")
    page.locator("a.button", has_text="Continue: Day 43").click()
    expect(page.locator("h1")).to_contain_text("Day 43")

    # The live view compares the learner's engine with the lab's target, in words too.
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    target = page.locator(".architecture .arch-target")
    expect(target).to_contain_text("container web does not exist", timeout=20000)
    expect(page.locator(".architecture svg")).to_contain_text("missing")

    # Paste a command into the terminal (Ctrl+Shift+V), copy its output back (Ctrl+Shift+C).
    page.evaluate(
        "() => navigator.clipboard.writeText('docker network create appnet && "
        "docker run -d --name web --network appnet busybox sleep 600 && echo pasted-$((3+4))\\n')"
    )
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.press("Control+Shift+V")
    page.keyboard.press("Enter")  # a bracketed paste waits for Enter, as in any modern terminal
    expect(page.locator(".xterm-rows")).to_contain_text("pasted-7", timeout=30000)
    page.evaluate("() => berth.terminal.term.selectAll()")
    page.keyboard.press("Control+Shift+C")
    assert "pasted-7" in page.evaluate("() => navigator.clipboard.readText()")
    expect(target).to_contain_text("matches the lab's target architecture", timeout=20000)

    # The check requires the same target; with the quiz answered, the day is done.
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1")).to_have_class(re.compile(r"\bpassed\b"), timeout=30000)
    for n in (1, 2, 3):
        page.locator(f"#question-{n} input[value='1']").check()
        page.locator(f"#question-{n} button").click()
        expect(page.locator(f"#question-{n} .verdict")).to_contain_text("Right")
    expect(page.locator(".day-done")).to_contain_text("Day 43 is done")
    page.goto(f"{stack.http}/course/")
    expect(page.locator("li.day[data-day='43'] .day-state")).to_have_text("done")

    # Previous and next day from the keyboard.
    page.goto(f"{stack.http}/course/day/43/")
    page.keyboard.press("Alt+p")
    expect(page.locator("h1")).to_contain_text("Day 40")
    page.keyboard.press("Alt+n")
    expect(page.locator("h1")).to_contain_text("Day 43")
    context.close()


def test_an_instructor_changes_a_check_previews_publishes_and_a_learner_gets_it(
    browser, stack, roles, course, instructor, learner, sandboxes_removed_after
):
    from tests.helpers import save_test_lab, save_test_lesson

    lab = save_test_lab(
        "studio-e2e", steps=[{"title": "Leave an answer", "check": "test -f /root/old", "solution": "touch /root/old"}]
    )
    save_test_lesson(45, lab, "Studio day")

    # The instructor finds the lab in the studio and opens its editor.
    studio = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    log_in(studio, stack, instructor)
    studio.goto(f"{stack.http}/studio/")
    studio.locator("a", has_text="studio-e2e").click()
    source = studio.locator("#source")
    expect(source).to_contain_text("check: test -f /root/old")
    expect(studio.locator("#preview #step-1")).to_contain_text("Leave an answer")

    # A typo is shown inline with its line and field; the line button puts the cursor there.
    text = source.input_value()
    source.fill(text.replace("  check: test -f /root/old", "  chek: test -f /root/old"))
    error = studio.locator("#preview .content-errors")
    expect(error).to_contain_text("steps[0].chek", timeout=10000)
    error.locator(".goto-line").first.click()
    assert "chek" in studio.evaluate(
        "() => { const s = document.getElementById('source'); return s.value.slice(s.selectionStart, s.selectionEnd) }"
    )

    # The new check, previewed as learners will see the step, saved as a draft, then published.
    source.fill(
        text.replace("check: test -f /root/old", "check: test -f /root/new").replace(
            "title: Leave an answer", "title: Leave the new answer"
        )
    )
    expect(studio.locator("#preview #step-1")).to_contain_text("Leave the new answer", timeout=10000)
    studio.fill("input[name=note]", "a stricter check")
    studio.locator("button", has_text="Save draft").click()
    expect(studio.locator("#save-result .studio-state")).to_have_attribute("data-state", "draft")

    # Test this lab: the phases stream in; the old solution no longer satisfies the new check.
    run = studio.locator("#selftest-result .selftest-run")
    studio.locator("button", has_text="Test this lab").click()
    expect(run).to_have_attribute("data-state", "failed", timeout=120000)
    expect(run.locator(".selftest-output")).to_contain_text("check fails before")
    expect(run.locator(".selftest-output")).to_contain_text("check passes after")
    source.fill(source.input_value().replace("solution: touch /root/old", "solution: touch /root/new"))
    studio.fill("input[name=note]", "the solution follows")
    studio.locator("button", has_text="Save draft").click()
    expect(studio.locator("#save-result .studio-state")).to_contain_text("Version 3")
    studio.locator("button", has_text="Test this lab").click()
    expect(run).to_have_attribute("data-state", "passed", timeout=120000)
    studio.once("dialog", lambda dialog: dialog.accept())
    studio.locator("#save-result button", has_text="Publish").click()
    expect(studio.locator("#save-result .studio-state")).to_have_attribute("data-state", "published")
    studio.goto(f"{stack.http}/studio/lab/studio-e2e/versions/")
    expect(studio.locator("#versions")).to_contain_text("a stricter check")

    # A learner gets the new check: the old answer no longer passes, the new one does.
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(page, stack, learner)
    page.goto(f"{stack.http}/course/day/45/")
    expect(page.locator("#step-1")).to_contain_text("Leave the new answer")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    type_in_terminal(page, "touch /root/old && echo old-$((40+2))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("old-42", timeout=30000)
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    type_in_terminal(page, "touch /root/new && echo new-$((40+2))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("new-42", timeout=30000)
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1")).to_have_class(re.compile(r"\bpassed\b"), timeout=30000)


def test_a_learner_works_on_a_kubernetes_cluster_of_their_own(page, stack, learner, course, sandboxes_removed_after):
    """Start a two-node Kubernetes lab in Chromium, see both nodes Ready, create a Deployment,
    scale it, expose it, reach it by name from a pod (on the worker node), and pass the checks;
    the live view draws the cluster and compares it with the lab's target."""
    from labs.models import Lab
    from tests.helpers import save_test_lesson

    save_test_lesson(42, Lab.objects.get(slug="k8s-services"), "A cluster of your own")
    log_in(page, stack, learner)
    page.goto(f"{stack.http}/course/day/42/")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=180000)
    expect(page.locator(".terminal-tabs .tab")).to_have_count(2)

    type_in_terminal(page, "kubectl get nodes --no-headers | awk '{print $1\"=\"$2}' | sort | paste -sd' '\n")
    expect(page.locator(".xterm-rows")).to_contain_text("node1=Ready node2=Ready", timeout=30000)
    # The live view draws the cluster beside the lesson, and names what the lab's target lacks.
    cluster = page.locator("details.architecture")
    expect(cluster).to_be_visible(timeout=30000)
    expect(cluster.locator(".arch-diagram")).to_contain_text("node2", timeout=30000)
    expect(cluster.locator(".arch-target")).to_contain_text("Deployment web does not exist")

    page.click("#step-1 .check-button")  # before the work: it says what is missing
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    expect(page.locator("#step-1 .check-output")).to_contain_text("no Service named web")

    type_in_terminal(page, "kubectl create deployment web --image=nginx --replicas=1\n")
    type_in_terminal(page, "kubectl scale deployment web --replicas=2\n")
    type_in_terminal(page, "kubectl expose deployment web --port=80\n")
    type_in_terminal(page, "kubectl rollout status deployment/web --timeout=120s && echo rolled-$((3*4))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("rolled-12", timeout=150000)
    page.click("#step-1 .check-button")
    expect(page.locator("#step-1 .check-result")).to_have_attribute("data-state", "passed", timeout=30000)
    expect(page.locator("#step-1 .check-output")).to_contain_text("2 ready endpoints")

    # kubectl works in the worker's tab too; the client pod lands on the worker (node1 keeps its taint).
    page.locator(".terminal-tabs .tab", has_text="node2").click()
    type_in_terminal(page, "kubectl run client --image=busybox -- sleep 3600\n")
    type_in_terminal(page, "kubectl wait --for=condition=Ready pod/client --timeout=120s && echo up-$((5*5))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("up-25", timeout=150000)
    type_in_terminal(page, "kubectl get pod client -o jsonpath='on-{.spec.nodeName}'; echo\n")
    expect(page.locator(".xterm-rows")).to_contain_text("on-node2", timeout=15000)
    type_in_terminal(page, "kubectl exec client -- wget -qO- http://web | grep -o 'Welcome to nginx'\n")
    expect(page.locator(".xterm-rows")).to_contain_text("Welcome to nginx", timeout=30000)
    page.click("#step-2 .check-button")
    expect(page.locator("#step-2 .check-result")).to_have_attribute("data-state", "passed", timeout=30000)
    expect(page.locator("#step-2 .check-output")).to_contain_text("reached web by name")
    expect(page.locator("#step-2 .check-output")).to_contain_text("matches the target architecture")
    expect(cluster.locator(".arch-diagram")).to_contain_text("Deployment web", timeout=30000)
    expect(cluster.locator(".arch-diagram")).to_contain_text("Service web")
    expect(cluster.locator(".arch-target")).to_contain_text("matches the lab's target", timeout=30000)


def test_a_learner_finishes_a_kubernetes_day_from_the_course_map(
    page, stack, learner, course, sandboxes_removed_after
):
    """From the home page to a finished day of the Kubernetes course: Day 16 (ReplicaSets and
    Deployments) on a cluster of the learner's own, every step's check passed by work typed in
    the terminal, the quiz answered, and the day shown done on the course map and the home page."""
    from course.models import DayProgress

    lesson = lesson_of(16)
    log_in(page, stack, learner)
    page.goto(f"{stack.http}/")
    cards = page.locator("li.course-card")
    expect(cards).to_have_count(2)
    expect(cards.first).to_have_attribute("data-course", "containers-to-kubernetes")  # the default first
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "courses.png"))
    cards.first.locator("h2 a").click()
    expect(page.locator("h1")).to_have_text("From containers to Kubernetes in 40 days")
    page.locator("li.day[data-day='16'] a").click()
    expect(page.locator("article.lesson h1")).to_contain_text("Day 16")
    page.click("#start-lab")
    expect(page.locator(".xterm-screen")).to_be_visible(timeout=240000)
    type_in_terminal(page, "kubectl wait --for=condition=Ready node --all --timeout=180s && echo nodes-$((4*4))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("nodes-16", timeout=200000)

    def check(step: int, text: str):
        page.click(f"#step-{step} .check-button")
        expect(page.locator(f"#step-{step}")).to_have_class(re.compile(r"\bpassed\b"), timeout=60000)
        expect(page.locator(f"#step-{step} .check-output")).to_contain_text(text)

    # Step 1: a Deployment of two, then four.
    page.click("#step-1 .check-button")  # before the work, the check says what is missing
    expect(page.locator("#step-1 .check-output")).to_contain_text("There is no Deployment named web", timeout=60000)
    type_in_terminal(page, "kubectl create deployment web --image=nginx:1.22 --replicas=2\n")
    type_in_terminal(page, "kubectl scale deployment web --replicas=4\n")
    type_in_terminal(page, "kubectl rollout status deployment/web --timeout=180s && echo scaled-$((2*2))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("scaled-4", timeout=200000)
    check(1, "ready pods")

    # Step 2: a pod deleted, replaced by the ReplicaSet.
    type_in_terminal(page, "victim=$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')\n")
    type_in_terminal(page, 'kubectl delete pod "$victim" && echo "$victim" > /root/deleted.txt\n')
    type_in_terminal(page, "sleep 3; kubectl wait --for=condition=Ready pod -l app=web --timeout=180s\n")
    type_in_terminal(page, "echo replaced-$((3*3))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("replaced-9", timeout=200000)
    check(2, "is gone")

    # Step 3: one pod taken out of the ReplicaSet by its label, still running.
    type_in_terminal(page, "kubectl label $(kubectl get pods -l app=web -o name | head -1) app=debug --overwrite\n")
    type_in_terminal(page, "sleep 3; kubectl wait --for=condition=Ready pod -l app=web --timeout=180s\n")
    type_in_terminal(page, "echo relabelled-$((5*5))\n")
    expect(page.locator(".xterm-rows")).to_contain_text("relabelled-25", timeout=200000)
    check(3, "left web")

    for number, question in enumerate(lesson.quiz, start=1):
        page.locator(f"#question-{number} input[value='{question['answer']}']").check()
        page.locator(f"#question-{number} button").click()
        expect(page.locator(f"#question-{number} .verdict")).to_contain_text("Right")
    expect(page.locator(".day-done")).to_contain_text("Day 16 is done")
    assert DayProgress.objects.get(user=learner, lesson=lesson).completed_at is not None

    page.goto(f"{stack.http}/course/containers-to-kubernetes/")
    expect(page.locator("li.day[data-day='16'] .day-state")).to_have_text("done")
    page.goto(f"{stack.http}/")
    expect(page.locator("li.course-card[data-course='containers-to-kubernetes'] .course-done")).to_contain_text("1 of")


def test_an_instructor_teaches_a_class_a_learner_joins_by_link_and_works(
    browser, page, stack, instructor, learner, course, sandboxes_removed_after
):
    import csv
    import io

    from labs.models import CheckRun, Step

    # The instructor creates a class of the default course and copies its invite link.
    log_in(page, stack, instructor)
    page.click("nav a[href='/classes/']")
    page.fill("#id_name", "Platform team, winter")
    page.click("#new-class button[type=submit]")
    expect(page.locator("h1")).to_have_text("Platform team, winter")
    invite = page.locator("#invite-link").input_value()
    assert "/classes/join/" in invite

    # The learner follows the link, joins, and works on Day 1: three failed checks, then the work.
    learner_page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(learner_page, stack, learner)
    learner_page.goto(invite)
    expect(learner_page.locator("h1")).to_contain_text("Join Platform team, winter")
    learner_page.click("button:has-text('Join the class')")
    expect(learner_page.locator(".messages")).to_contain_text("You joined Platform team, winter")
    learner_page.goto(f"{stack.http}/course/day/1/")
    learner_page.click("#start-lab")
    expect(learner_page.locator(".xterm-screen")).to_be_visible(timeout=90000)
    for attempt in range(1, 4):
        learner_page.click("#step-1 .check-button")
        for _ in range(300):  # each check recorded as failed before the next is asked for
            if CheckRun.objects.filter(user=learner, state=CheckRun.FAILED).count() == attempt:
                break
            time.sleep(0.1)
        expect(learner_page.locator("#step-1 .check-result")).to_have_attribute("data-state", "failed", timeout=30000)
    learner_page.locator(".xterm-helper-textarea").focus()
    learner_page.keyboard.type("echo working-in-class-$((6*7))\n")
    expect(learner_page.locator(".xterm-rows")).to_contain_text("working-in-class-42", timeout=15000)

    # The teacher sees the learner stuck on step 1, and watches the terminal.
    page.reload()
    row = page.locator("tr[data-learner='alice']")
    expect(row.locator(".stuck")).to_contain_text("Day 1, step 1")
    expect(row.locator(".stuck")).to_contain_text("3 failed checks")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "class-progress.png"))
    class_url = page.url
    row.locator("a", has_text="Watch").click()
    expect(page.locator(".xterm-rows")).to_contain_text("working-in-class-42", timeout=15000)

    # The learner does the work and passes; the teacher's page and CSV follow.
    solution = Step.objects.get(lab__slug="day01-docker-architecture", position=1).solution_script
    for line in solution.strip().splitlines():
        learner_page.locator(".xterm-helper-textarea").focus()
        learner_page.keyboard.type(line + "\n")
    learner_page.click("#step-1 .check-button")
    expect(learner_page.locator("#step-1")).to_have_class(re.compile(r"\bpassed\b"), timeout=30000)
    learner_page.context.close()

    page.goto(class_url)
    expect(page.locator("tr[data-learner='alice'] .stuck")).to_have_text("")
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["learner"] for r in rows] == ["alice"]
    assert rows[0]["day 1"] == "in progress" and rows[0]["stuck on"] == "" and rows[0]["last activity"]
