"""Renders the release-notes site: content/releases.json + templates/ -> a folder of static files.

    python3 build.py --out /srv/site

Fails (exit 1) when the content is invalid, so a bad release note stops the image build."""
import argparse
import json
import pathlib
import shutil
import sys

from jinja2 import Environment, FileSystemLoader, StrictUndefined

HERE = pathlib.Path(__file__).parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="folder to write the site into")
    out = pathlib.Path(parser.parse_args().out)

    releases = json.loads((HERE / "content" / "releases.json").read_text())
    for release in releases:
        missing = {"version", "date", "title", "changes"} - release.keys()
        if missing:
            sys.exit(f"build.py: release {release.get('version', '?')} lacks {sorted(missing)}")

    env = Environment(loader=FileSystemLoader(HERE / "templates"), undefined=StrictUndefined, autoescape=True)
    (out / "releases").mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(env.get_template("index.html").render(releases=releases))
    for release in releases:
        page = env.get_template("release.html").render(release=release)
        (out / "releases" / f"{release['version']}.html").write_text(page)
    shutil.copy(HERE / "static" / "style.css", out / "style.css")
    print(f"build.py: wrote {len(releases) + 2} files to {out}")


if __name__ == "__main__":
    main()
