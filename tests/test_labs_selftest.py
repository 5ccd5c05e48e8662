"""Every lab in labs/ proves itself: checks fail before the work, pass after the solution,
fail again after sabotage, and its lesson's transcripts print what the lesson shows.
Also: labtest catches a lab whose check passes too early."""

import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labs import selftest

pytestmark = [pytest.mark.docker, pytest.mark.django_db]  # sandbox sizes are platform limits, kept in the database


def one_lab(settings, tmp_path, slug: str, lab_yaml: str) -> None:
    """labs/ is `tmp_path`, with this one lab in it."""
    (tmp_path / slug).mkdir()
    (tmp_path / slug / "lab.yaml").write_text(lab_yaml)
    settings.COURSE_LABS_DIR = tmp_path


@pytest.mark.timeout(3600)  # every lab of both courses and their lessons, five at a time
def test_every_lab_passes_its_self_test(docker_engine, capsys, tmp_path):
    call_command("labtest", "--parallel", "5", "--retry-failed", "--junit", str(tmp_path / "labtest.xml"))
    out = capsys.readouterr().out
    with capsys.disabled():  # the total and the slowest five, in CI's log
        print("\n" + out[out.rindex("\n", 0, out.rindex("labs passed")) :].strip())
    passed = re.search(r"(\d+)/(\d+) labs passed", out)
    assert passed and passed[1] == passed[2], out[-3000:]
    # a FAIL only in a first run, of a lab then named flaky (it passed in fresh sandboxes)
    failed_once = {line.split()[0] for line in out.splitlines() if " FAIL " in line}
    flaky = out.split("flaky: failed once", 1)[1] if "flaky: failed once" in out else ""
    assert failed_once <= {line.split()[0] for line in flaky.splitlines()[1:] if line.strip()}, out[-3000:]
    assert 'failures="0"' in (tmp_path / "labtest.xml").read_text()


def test_labtest_fails_a_lab_whose_check_passes_before_the_work(docker_engine, settings, tmp_path, capsys):
    one_lab(
        settings,
        tmp_path,
        "too-easy",
        "title: Too easy\nimage: berth/base:latest\nsteps:\n"
        "  - title: Nothing to do\n    text: x\n    hint: x\n    check: 'true'\n    solution: 'true'\n",
    )
    with pytest.raises(CommandError, match="too-easy"):
        call_command("labtest", "--junit", str(tmp_path / "out.xml"))
    assert "the check passed before the work was done" in capsys.readouterr().out


def test_a_lab_that_fails_once_then_passes_in_a_fresh_sandbox_is_named_flaky(
    docker_engine, settings, tmp_path, capsys, monkeypatch
):
    from labs.management.commands import labtest

    one_lab(
        settings,
        tmp_path,
        "steady",
        "title: Steady\nimage: berth/base:latest\nsteps:\n"
        "  - title: A file\n    text: x\n    hint: x\n    check: test -f /tmp/m\n    solution: touch /tmp/m\n",
    )
    real, calls = labtest.run_labs, []

    def a_bad_moment_the_first_time(labs, *args):
        runs = real(labs, *args)
        if not calls:  # as a cluster under load once gave a truncated download
            runs[0].results[-1].ok, runs[0].results[-1].detail = False, "a bad moment"
        calls.append([lab.slug for lab in labs])
        return runs

    monkeypatch.setattr(labtest, "run_labs", a_bad_moment_the_first_time)
    call_command("labtest", "--retry-failed", "--junit", str(tmp_path / "out.xml"))
    out = capsys.readouterr().out
    assert calls == [["steady"], ["steady"]] and "1/1 labs passed" in out
    assert "flaky: failed once, then passed in a fresh sandbox:" in out and "a bad moment" in out
    assert 'failures="0"' in (tmp_path / "out.xml").read_text()


def test_a_three_node_lab_passes_labtest(docker_engine, settings, tmp_path, capsys):
    one_lab(
        settings,
        tmp_path,
        "three-nodes",
        "title: Three nodes\nimage: berth/base:latest\nnodes: [node1, node2, node3]\nsteps:\n"
        "  - title: A file on node2\n    text: x\n    hint: x\n    node: node2\n"
        "    check: 'test -f /tmp/marker && hostname | grep -qx node2'\n    solution: touch /tmp/marker\n"
        "  - title: node3 resolves the others\n    text: x\n    hint: x\n    node: node3\n"
        "    check: 'getent hosts node1 node2 >/dev/null && test -f /tmp/ok'\n"
        "    solution: 'getent hosts node1 node2 && touch /tmp/ok'\n    sabotage: rm /tmp/ok\n",
    )
    call_command("labtest", "--junit", str(tmp_path / "out.xml"))
    out = capsys.readouterr().out
    assert "1/1 labs passed" in out and "check fails sabotaged" in out


def test_a_target_architecture_is_checked_and_its_gaps_are_named(docker_engine, settings, tmp_path, capsys):
    one_lab(
        settings,
        tmp_path,
        "target",
        """title: A target
image: berth/docker:latest
profile: docker
architecture:
  containers: [web]
  networks: [appnet]
  volumes: [webdata]
  links: [[web, appnet], [web, webdata]]
steps:
  - title: Run web on appnet with its volume
    text: x
    hint: x
    architecture: true
    check: 'echo script-ran'
    solution: |
      docker network create appnet >/dev/null 2>&1 || true
      docker rm -f web >/dev/null 2>&1 || true
      docker run -d --name web --network appnet -v webdata:/data busybox sleep 600
    sabotage: docker network disconnect appnet web
""",
    )
    call_command("labtest", "--verbose", "--junit", str(tmp_path / "out.xml"))
    out = capsys.readouterr().out
    assert "1/1 labs passed" in out
    assert "✗ container web does not exist" in out  # before the work: the gaps, in words
    assert "✓ The running system matches the target architecture." in out
    assert "✗ container web is not attached to network appnet" in out  # the sabotage


def test_a_lesson_transcript_that_the_sandbox_does_not_print_fails_labtest(
    docker_engine, settings, tmp_path, capsys, monkeypatch
):
    lab = tmp_path / "labs" / "told"
    lab.mkdir(parents=True)
    (lab / "lab.yaml").write_text(
        "title: Told\nimage: berth/base:latest\nsetup: mkdir -p /root/told && echo hello > /root/told/greeting\n"
        "steps:\n  - title: A file\n    text: x\n    hint: x\n    check: test -f /tmp/m\n    solution: touch /tmp/m\n"
    )
    lessons = tmp_path / "lessons"
    (lessons / "told").mkdir(parents=True)  # one folder per course
    lesson = lessons / "told" / "day01-told.md"
    true_block = "```\n$ cd /root/told && cat greeting\nhello\n$ ls -l | wc -l\n2\n```\n"
    after = "<!-- transcript: after step 1 -->\n```\n$ ls /tmp/m\n/tmp/m\n```\n"  # the solved lab
    lesson.write_text(f"---\nday: 1\nlab: told\n---\nText.\n\n{true_block}\n```\n$ pwd\n/root/told\n```\n\n{after}")
    settings.COURSE_LABS_DIR, settings.COURSE_LESSONS_DIR = tmp_path / "labs", lessons
    call_command("labtest", "--parts", "lesson", "--junit", str(tmp_path / "out.xml"))
    assert "1/1 labs passed" in capsys.readouterr().out  # the working directory carried over

    # A whole run: the steps in one sandbox, the lesson in another...
    call_command("labtest", "--junit", str(tmp_path / "out.xml"))
    out = capsys.readouterr().out
    phases = [" ".join(line.split()[1:4]) for line in out.splitlines() if line.startswith("told ")]
    assert [p for p in phases if p.startswith("-")] == ["- sandbox +", "- lesson sandbox"]
    # ...or, for the days of a profile that shares them (Kubernetes: one cluster a day), the day as
    # a learner lives it: checks fail before the work, then the lesson, its `after step 1` block
    # once step 1 is solved and checked.
    monkeypatch.setattr(selftest, "ONE_SANDBOX_PROFILES", {"standard"})
    call_command("labtest", "--junit", str(tmp_path / "out.xml"))
    out = capsys.readouterr().out
    phases = [" ".join(line.split()[1:4]) for line in out.splitlines() if line.startswith("told ")]
    assert phases == [
        "- sandbox +",
        "step 1 check",
        "line 7 lesson",
        "line 14 lesson",
        "step 1 check",
        "line 20 lesson",
    ]
    assert "1/1 labs passed" in out

    lesson.write_text(lesson.read_text().replace("hello", "goodbye"))
    with pytest.raises(CommandError, match="told"):
        call_command("labtest", "--parts", "lesson", "--junit", str(tmp_path / "out.xml"))
    out = capsys.readouterr().out
    assert "lessons/told/day01-told.md:8: `cd /root/told && cat greeting` printed other output" in out
    assert "'goodbye'" in out


def test_the_self_test_alternates_clusters_with_other_labs_longest_first():
    """Starting clusters is the costly part: of the labs run at once, about half are Kubernetes."""
    from types import SimpleNamespace

    from labs.selftest import in_test_order

    def lab(slug, profile, nodes, steps):
        return SimpleNamespace(slug=slug, profile=profile, nodes=["n"] * nodes, steps=[None] * steps)

    labs = [lab("k1", "kubernetes", 1, 3), lab("k3", "kubernetes", 3, 2), lab("d1", "docker", 1, 5),
            lab("s1", "standard", 1, 2), lab("k2", "kubernetes", 2, 4), lab("d2", "docker", 2, 1)]  # fmt: skip
    assert [x.slug for x in in_test_order(labs)] == ["k3", "d2", "k2", "d1", "k1", "s1"]
