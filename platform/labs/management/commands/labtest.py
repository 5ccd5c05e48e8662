"""manage.py labtest [SLUG ...]: prove each lab solvable and its checks honest (labs/selftest.py)."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from course.loader import display
from labs.format import parse_lab
from labs.selftest import junit_xml, run_labs


class Command(BaseCommand):
    help = (
        "Self-test labs: setup, checks fail, solutions, checks pass, sabotage fails; then the lesson's "
        "transcripts print what it shows. JUnit XML out."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="lab slugs (default: every lab under labs/)")
        parser.add_argument("--parallel", type=int, default=2, help="labs tested at once (default 2)")
        parser.add_argument("--verbose", action="store_true", help="show what every check prints")
        parser.add_argument(
            "--keep", action="store_true", help="leave the sandboxes running afterwards, to explore by hand"
        )
        parser.add_argument(
            "--parts",
            choices=["all", "steps", "lesson"],
            default="all",
            help="what to test: the steps and the lesson's transcripts (all), or only one of them",
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="test a failing lab once more in a fresh sandbox; one that passes then is named as flaky",
        )
        parser.add_argument("--junit", default=str(settings.DATA_DIR / "labtest.xml"), help="JUnit XML path")

    def handle(self, *args, slugs, parallel, junit, verbose, keep, parts, retry_failed, **options):
        labs_dir = settings.COURSE_LABS_DIR
        dirs = (
            [labs_dir / s for s in slugs]
            if slugs
            else sorted(p for p in labs_dir.iterdir() if (p / "lab.yaml").is_file())
        )
        labs = []
        for lab_dir in dirs:
            if not (lab_dir / "lab.yaml").is_file():
                raise CommandError(f"no lab {lab_dir.name!r} under {labs_dir}")
            lab, errors = parse_lab(lab_dir, display(lab_dir / "lab.yaml"))
            if errors:
                raise CommandError("\n".join(str(e) for e in errors))
            labs.append(lab)
        started = time.monotonic()
        self.stdout.write(f"{'lab':<32} {'step':<8} {'phase':<22} result seconds")

        def say(line):
            self.stdout.write(line)
            self.stdout.flush()

        runs = run_labs(labs, parallel, say, verbose, keep, parts)
        flaky = []
        failing = {run.lab for run in runs if not run.ok}
        if retry_failed and (again := [lab for lab in labs if lab.slug in failing]):
            # A real cluster under five labs at once has its bad moments: a lab that fails, then
            # passes from scratch, is reported (below) rather than failing the run.
            say(f"\nagain, in fresh sandboxes: {', '.join(lab.slug for lab in again)}")
            retried = {run.lab: run for run in run_labs(again, parallel, say, verbose, keep, parts)}
            flaky = failure_lines(run for run in runs if run.lab in retried and retried[run.lab].ok)
            runs = [retried.get(run.lab, run) for run in runs]
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(junit_xml(runs))
        failed = [run.lab for run in runs if not run.ok]
        self.stdout.write(
            f"\n{len(runs) - len(failed)}/{len(runs)} labs passed in {time.monotonic() - started:.1f} s "
            f"(JUnit XML: {junit})"
        )
        for run in sorted(runs, key=lambda r: -sum(x.seconds for x in r.results))[:5]:
            self.stdout.write(f"  {run.lab}: {sum(x.seconds for x in run.results):.1f} s")
        if flaky:
            self.stdout.write("flaky: failed once, then passed in a fresh sandbox:\n" + "\n".join(flaky))
        if failed:
            # Repeat every failure last, in the error too: a CI log that keeps only its tail shows why.
            failures = failure_lines(runs)
            raise CommandError(f"labs failing their self-test: {', '.join(failed)}\n" + "\n".join(failures))


def failure_lines(runs) -> list[str]:
    """One line per failed result: lab, step, phase and why."""
    return [f"  {r.lab} {r.step} {r.phase}: {r.detail or 'failed'}" for run in runs for r in run.results if not r.ok]
