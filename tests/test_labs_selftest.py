"""Every lab in labs/ proves itself: checks fail before the work, pass after the solution,
fail again after sabotage. Also: labtest catches a lab whose check passes too early."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.docker


def test_every_lab_passes_its_self_test(docker_engine, capsys, tmp_path):
    call_command("labtest", "--parallel", "3", "--junit", str(tmp_path / "labtest.xml"))
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert 'failures="0"' in (tmp_path / "labtest.xml").read_text()


def test_labtest_fails_a_lab_whose_check_passes_before_the_work(docker_engine, settings, tmp_path, capsys):
    lab = tmp_path / "too-easy"
    lab.mkdir()
    (lab / "lab.yaml").write_text(
        "title: Too easy\nimage: berth/base:latest\nsteps:\n"
        "  - title: Nothing to do\n    text: x\n    hint: x\n    check: 'true'\n    solution: 'true'\n"
    )
    settings.COURSE_LABS_DIR = tmp_path
    with pytest.raises(CommandError, match="too-easy"):
        call_command("labtest", "--junit", str(tmp_path / "out.xml"))
    assert "the check passed before the work was done" in capsys.readouterr().out
