"""The lab self-test: prove a lab solvable, its checks honest and its lesson's transcripts true.

For each lab: fresh sandbox(es) -> files and setup -> every check must FAIL -> each step's
solution then its check must PASS -> where a step has a sabotage script, it must make the check
FAIL again -> teardown. Then, in fresh sandboxes set up the same way, every transcript of the
lesson that uses the lab is run (with each step's solution where the lesson reaches it) and must
print what the lesson shows (labs/transcripts.py).

A Kubernetes day does both in one cluster, as a learner lives the day: starting a cluster is the
costly part of its self-test (about a minute of two cores), so the transcripts run between the
checks before the work and the rest, each step's solution and check where the lesson reaches it.
Other days' lessons often run the very commands their steps ask for (the same names), so their
transcripts get sandboxes of their own.
Worker-side code: the sandboxes are brought up and checked by labs/runner.py, exactly as a
learner's session is.
"""

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings

from labs import runner, transcripts
from labs.format import LabDef
from sandboxes.backends import get_backend
from sandboxes.backends.base import ExecResult, SandboxError


@dataclass
class Result:
    lab: str
    step: str
    phase: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class LabRun:
    lab: str
    results: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


ONE_SANDBOX_PROFILES = {"kubernetes"}  # days whose steps and lesson share one set of sandboxes


def run_lab(
    lab: LabDef, host: str, say=lambda line: None, verbose: bool = False, keep: bool = False, parts: str = "all"
) -> LabRun:
    """Self-test one lab on `host`, through the same bring-up and checks as a learner's session:
    its steps, and the transcripts of the lesson that uses it (see the module's docstring)."""
    backend = get_backend(host)
    run = LabRun(lab.slug)

    def record(step, phase, ok, started, detail=""):
        result = Result(lab.slug, step, phase, ok, time.monotonic() - started, detail)
        run.results.append(result)
        say(f"{lab.slug:<32} {step:<8} {phase:<22} {'ok' if ok else 'FAIL'} {result.seconds:6.1f}s {detail}")

    blocks = lesson_transcripts(lab) if parts != "steps" else []
    if parts == "lesson" and all(block.skip for block in blocks):  # nothing to run: not a failure
        record("-", "lesson transcripts", True, time.monotonic(), f"none to run ({len(blocks)} skipped)")
        return run
    shared = parts == "all" and lab.profile in ONE_SANDBOX_PROFILES  # the lesson runs with the steps
    if parts != "lesson":
        with _sandboxes(lab, backend, record, say, keep) as ids:
            if ids:
                _run_day(lab, backend, ids, blocks if shared else [], record, say, verbose, checks=True)
    if not shared and any(not block.skip for block in blocks):
        with _sandboxes(lab, backend, record, say, keep, what="lesson") as ids:
            if ids:
                _run_day(lab, backend, ids, blocks, record, say, verbose, checks=False)
    return run


# The self-test proves content, not start speed (bench/ measures that against its promise): with
# five labs at once on two cores, a three-node cluster may take longer than a learner's limit.
SELFTEST_READY_TIMEOUT = 420


@contextmanager
def _sandboxes(lab: LabDef, backend, record, say, keep: bool, what: str = "labtest"):
    """The lab's sandboxes, brought up and set up as for a learner ({} when that failed, recorded),
    removed afterwards unless kept for an author to explore."""
    prefix = f"{settings.SANDBOX_PREFIX}-{what}-{uuid.uuid4().hex[:8]}"
    labels = {"berth.prefix": settings.SANDBOX_PREFIX, "berth.labtest": lab.slug}
    network = f"{prefix}-net" if len(lab.nodes) > 1 else None
    ids: dict[str, str] = {}
    started = time.monotonic()
    up = False
    try:
        runner.bring_up(
            backend,
            lab,
            names={node: f"{prefix}-{node}" for node in lab.nodes},
            labels=labels,
            network=network,
            created=ids.__setitem__,
            ready_timeout=max(settings.SANDBOX_READY_TIMEOUT, SELFTEST_READY_TIMEOUT),
        )
        record("-", "sandbox + setup" if what == "labtest" else f"{what} sandbox", True, started)
        up = True
    except runner.SetupFailed as e:
        record("-", "setup", False, started, f"exit {e.result.exit_code}: {last_line(e.result)}")
    except SandboxError as e:
        record("-", "sandbox", False, started, str(e)[:200])
    try:
        yield ids if up else {}
    finally:
        if keep:  # an author explores the sandbox by hand, then removes it
            for node in ids:
                say(f"{lab.slug:<32} kept: docker exec -it {prefix}-{node} bash")
            remove = f"docker rm -f {' '.join(f'{prefix}-{n}' for n in ids)}"
            say(f"{lab.slug:<32} remove with: {remove}" + (f" && docker network rm {network}" if network else ""))
        else:
            runner.tear_down(backend, ids, network)


def _run_day(lab: LabDef, backend, ids: dict[str, str], blocks, record, say, verbose: bool, checks: bool) -> None:
    """Checks before the work, the lesson's transcripts with the solutions where the lesson
    reaches them (then the remaining steps), sabotages; with checks=False only the lesson."""

    def check(step, index):
        result = runner.run_check(backend, ids, lab, step)
        if verbose:  # what the learner would read
            for line in result.output.rstrip().splitlines():
                say(f"{lab.slug:<32} step {index}   | {line}")
        return result

    solved = 0

    def solve(upto: int, why: str, t: float) -> bool:
        """Steps solved up to `upto`, each checked after its solution; False (recorded) if one failed."""
        nonlocal solved
        while solved < upto:
            index, step = solved + 1, lab.steps[solved]
            solution = runner.run_solution(backend, ids, lab, step)
            if solution.exit_code != 0:
                problem = f"{why}step {index}'s solution exited {solution.exit_code}: {last_line(solution)}"
                record(f"step {index}", "solution runs", False, t, problem)
                return False
            solved = index
            if checks:
                result = check(step, index)
                passed = result.exit_code == 0
                detail = "" if passed else f"exit {result.exit_code}: {last_line(result)}"
                record(f"step {index}", "check passes after", passed, t, detail)
            t = time.monotonic()
        return True

    try:
        for index, step in enumerate(lab.steps if checks else [], start=1):
            t = time.monotonic()
            failed = check(step, index).exit_code != 0
            detail = "" if failed else "the check passed before the work was done"
            record(f"step {index}", "check fails before", failed, t, detail)
        for block in blocks:
            t = time.monotonic()
            where = f"line {block.line}"
            if block.skip:
                say(f"{lab.slug:<32} {where:<8} {'lesson transcript':<22} skip         {block.skip}")
                continue
            if block.after_step > len(lab.steps):
                record(where, "lesson transcript", False, t, f"{block.where}: the lab has no step {block.after_step}")
                continue
            # The lesson shows the finished work: do it as the solutions do.
            if not solve(block.after_step, f"{block.where}: ", t):
                return
            run_transcript(lab, backend, ids, block, record, say, verbose)
        if checks and solve(len(lab.steps), "", time.monotonic()):
            _sabotages(lab, backend, ids, record, check)
    except SandboxError as e:
        record("-", "sandbox", False, time.monotonic(), str(e)[:200])


def _sabotages(lab: LabDef, backend, ids: dict[str, str], record, check) -> None:
    """Each sabotage starts from the solved state and is undone by the solution afterwards, so it
    proves its own step's check and never leaks into the next one."""
    for index, step in enumerate(lab.steps, start=1):
        if not step.sabotage_script.strip():
            continue
        t = time.monotonic()
        runner.run_sabotage(backend, ids, lab, step)
        failed = check(step, index).exit_code != 0
        record(
            f"step {index}",
            "check fails sabotaged",
            failed,
            t,
            "" if failed else "the check still passed after the sabotage",
        )
        runner.run_solution(backend, ids, lab, step)


LESSON_LAB = re.compile(r"^lab:\s*[\"']?([\w.-]+)", re.MULTILINE)


def lesson_transcripts(lab: LabDef) -> list[transcripts.Transcript]:
    """The transcripts of the lessons whose front matter names this lab."""
    found = []
    for path in sorted(settings.COURSE_LESSONS_DIR.glob("*/*.md")):  # one folder per course
        text = path.read_text()
        match = LESSON_LAB.search(text.split("\n---", 1)[0])
        if match and match.group(1) == lab.slug:
            found += transcripts.parse(text, f"lessons/{path.relative_to(settings.COURSE_LESSONS_DIR)}")
    return found


TRANSCRIPT_TIMEOUT = 300  # seconds for one block's commands


def run_transcript(lab: LabDef, backend, ids: dict[str, str], block, record, say, verbose: bool) -> None:
    """One block on its node; a command whose output differs from the lesson's fails the block,
    reported with the lesson's file and line, what it shows and what was printed."""
    t = time.monotonic()
    where = f"line {block.line}"
    node = block.node or lab.nodes[0]
    if node not in ids:
        record(where, "lesson transcript", False, t, f"{block.where}: the lab has no node {node!r}")
        return
    result = backend.exec(ids[node], transcripts.script(block), timeout=TRANSCRIPT_TIMEOUT)
    printed = read_output(backend, ids[node])
    problem = ""
    if block.runnable:
        if result.exit_code != 0:
            for text in printed.splitlines()[-10:]:
                say(f"{lab.slug:<32} {where:<8} | {text}")
            problem = f"{block.where}: the runnable block exited {result.exit_code}"
        record(where, "lesson runnable block", not problem, t, problem)
        return
    for command, lines in zip(block.commands, transcripts.outputs(block, printed), strict=True):
        ok, line = transcripts.matches(command.expected, lines)
        if verbose or not ok:
            for text in lines:
                say(f"{lab.slug:<32} {where:<8} | {text}")
        if not ok:
            shown = [e for e in command.expected if e.strip()]
            wanted = shown[line] if line < len(shown) else "(no more lines)"
            got = " | ".join(text.strip() for text in lines if text.strip())
            problem = (
                f"{block.path}:{command.line}: `{command.text.splitlines()[0]}` printed other output "
                f"(from the lesson's line {line + 1} of it: {wanted.strip()[:100]!r}; "
                f"it printed: {got[:300]!r})"
            )
            break
    record(where, "lesson transcript", not problem, t, problem)


def read_output(backend, sandbox_id: str, tries: int = 3) -> str:
    """What a block's script printed: its output file, read again if a read came back without
    the first command's mark (the file starts with it: the read's own output was lost)."""
    for _ in range(tries):
        printed = backend.exec(sandbox_id, transcripts.READ_OUTPUT, timeout=30).output
        if printed.startswith(transcripts.MARK):
            return printed
    return printed


def last_line(result: ExecResult) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no output)"


def in_test_order(labs: list[LabDef]) -> list[LabDef]:
    """The longest first (several nodes, then many steps), so that none starts last and runs
    alone; Kubernetes labs alternate with the others, so that the clusters starting at once (the
    costliest part) are about half the labs running, not all of them."""
    longest_first = sorted(labs, key=lambda lab: (-len(lab.nodes), -len(lab.steps)))
    clusters = [lab for lab in longest_first if lab.profile == "kubernetes"]
    others = [lab for lab in longest_first if lab.profile != "kubernetes"]
    mixed = [lab for pair in zip(clusters, others, strict=False) for lab in pair]
    n = min(len(clusters), len(others))
    return mixed + clusters[n:] + others[n:]


def run_labs(
    labs: list[LabDef], parallel: int, say, verbose: bool = False, keep: bool = False, parts: str = "all"
) -> list[LabRun]:
    """parts: "all", "steps" (no lesson transcripts) or "lesson" (only them)."""
    hosts = list(settings.DOCKER_HOSTS)
    labs = in_test_order(labs)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [
            pool.submit(run_lab, lab, hosts[i % len(hosts)], say, verbose, keep, parts) for i, lab in enumerate(labs)
        ]
        return [f.result() for f in futures]


def junit_xml(runs: list[LabRun]) -> str:
    from xml.sax.saxutils import quoteattr

    cases = []
    failures = 0
    for run in runs:
        for r in run.results:
            name = quoteattr(f"{r.step}: {r.phase}")
            body = ""
            if not r.ok:
                failures += 1
                body = f"<failure message={quoteattr(r.detail or 'failed')}/>"
            cases.append(
                f'  <testcase classname={quoteattr(r.lab)} name={name} time="{r.seconds:.2f}">{body}</testcase>'
            )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name="labtest" tests="{len(cases)}" failures="{failures}">\n'
        + "\n".join(cases)
        + "\n</testsuite>\n"
    )
