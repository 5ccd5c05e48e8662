"""Importing a Killercoda scenario the test writes itself, in Killercoda's documented format."""

import json

import pytest
import yaml
from django.core.management import call_command

from course.loader import load_course
from labs.killercoda import ScenarioError, import_scenario
from labs.models import Lab


def write_scenario(folder):
    (folder / "step1").mkdir(parents=True)
    (folder / "step2").mkdir()
    (folder / "assets").mkdir()
    (folder / "index.json").write_text(
        json.dumps(
            {
                "title": "Files and greetings",
                "details": {
                    "intro": {"text": "intro.md", "background": "setup.sh"},
                    "steps": [
                        {"title": "Make a folder", "text": "step1/text.md", "verify": "step1/verify.sh"},
                        {
                            "title": "Greet",
                            "text": "step2/text.md",
                            "verify": "step2/verify.sh",
                            "background": "step2/bg.sh",
                        },
                    ],
                    "finish": {"text": "finish.md"},
                    "assets": {
                        "host01": [
                            {"file": "greeting.txt", "target": "/root/given", "chmod": "0600"},
                            {"file": "run.sh", "target": "/usr/local/bin", "chmod": "+x"},
                        ]
                    },
                },
                "backend": {"imageid": "debian"},
                "interface": {"layout": "ide"},
            }
        )
    )
    (folder / "intro.md").write_text("# Welcome\n\nA short scenario.\n")
    (folder / "finish.md").write_text("Well done.\n")
    (folder / "setup.sh").write_text("mkdir -p /root/given\n")
    (folder / "assets" / "greeting.txt").write_text("hello\n")
    (folder / "assets" / "run.sh").write_text("#!/bin/sh\necho run\n")
    (folder / "step1" / "text.md").write_text(
        "Create it:\n\n```\nmkdir -p /root/work\n```{{exec}}\n\nOr `ls`{{copy}}.\n"
    )
    (folder / "step1" / "verify.sh").write_text("test -d /root/work\n")
    (folder / "step2" / "text.md").write_text(
        "Copy the greeting:\n\n```bash\ncp /root/given/greeting.txt /root/work/\n```{{exec}}\n"
    )
    (folder / "step2" / "verify.sh").write_text("grep -q hello /root/work/greeting.txt\n")
    (folder / "step2" / "bg.sh").write_text("echo later\n")


def test_import_maps_steps_checks_setup_assets_and_runnable_blocks(tmp_path):
    write_scenario(tmp_path / "scenario")
    labs = tmp_path / "labs"
    report = import_scenario(tmp_path / "scenario", labs, slug="kc-greetings")
    text = (labs / "kc-greetings" / "lab.yaml").read_text()
    lab = yaml.safe_load(text)
    assert "```bash run\nmkdir -p /root/work\n```" in lab["steps"][0]["text"]
    assert lab["steps"][1]["solution"] == "cp /root/given/greeting.txt /root/work/\n"
    assert "{{" not in text
    assert (labs / "kc-greetings" / "files" / "greeting.txt").read_text() == "hello\n"
    modes = {f["path"]: f["mode"] for f in lab["files"]}
    assert modes == {"/root/given/greeting.txt": "0600", "/usr/local/bin/run.sh": "0755"}  # chmod +x stays executable
    assert (labs / "kc-greetings" / "killercoda" / "steps1-background.sh").exists()
    unsupported = "\n".join(report.unsupported)
    for name in ("steps[1].background", "backend.imageid", "interface", "inline"):
        assert name in unsupported, name


@pytest.mark.django_db
def test_imported_lab_passes_load_course(tmp_path, settings):
    write_scenario(tmp_path / "scenario")
    labs = tmp_path / "labs"
    import_scenario(tmp_path / "scenario", labs, slug="kc-greetings")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "modules.yaml").write_text("- number: 1\n  title: One\n")
    report = load_course(lessons, labs)
    assert not report.errors, report.errors
    lab = Lab.objects.get(slug="kc-greetings")
    assert lab.steps.count() == 2 and "Welcome" in lab.steps.first().text_markdown
    assert 'class="run"' in lab.steps.first().text_html


@pytest.mark.docker
@pytest.mark.django_db
def test_imported_lab_passes_its_self_test(tmp_path, settings, docker_engine, capsys):
    write_scenario(tmp_path / "scenario")
    import_scenario(tmp_path / "scenario", tmp_path / "labs", slug="kc-greetings")
    settings.COURSE_LABS_DIR = tmp_path / "labs"
    call_command("labtest", "kc-greetings", "--junit", str(tmp_path / "out.xml"))
    assert "1/1 labs passed" in capsys.readouterr().out


def test_a_broken_index_is_named_with_its_line(tmp_path):
    (tmp_path / "index.json").write_text('{\n  "title": "x",\n  oops\n}')
    with pytest.raises(ScenarioError, match=r"index.json:3: not valid JSON"):
        import_scenario(tmp_path, tmp_path / "labs")
