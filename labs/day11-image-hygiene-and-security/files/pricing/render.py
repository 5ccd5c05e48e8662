"""Renders the billing service's public price list into static HTML.

    python3 render.py --out DIR

reads plans.json and the Jinja2 templates in templates/, and writes DIR/index.html and one
page per plan, DIR/plans/<id>.html. A plan without an id or a price stops it with an error.
"""
import argparse
import json
import pathlib

from jinja2 import Environment, FileSystemLoader, select_autoescape

here = pathlib.Path(__file__).resolve().parent
parser = argparse.ArgumentParser(description="render the price list")
parser.add_argument("--out", required=True, help="the folder to write the pages to")
out = pathlib.Path(parser.parse_args().out)

plans = json.loads((here / "plans.json").read_text())
for plan in plans:
    if not plan.get("id") or not isinstance(plan.get("price_cents"), int):
        raise SystemExit(f"render.py: every plan needs an id and a price_cents: {plan}")

env = Environment(loader=FileSystemLoader(here / "templates"), autoescape=select_autoescape())
env.filters["price"] = lambda cents: f"{cents // 100}.{cents % 100:02d} EUR"
(out / "plans").mkdir(parents=True, exist_ok=True)
(out / "index.html").write_text(env.get_template("index.html").render(plans=plans))
for plan in plans:
    (out / "plans" / f"{plan['id']}.html").write_text(env.get_template("plan.html").render(plan=plan))
print(f"render.py: wrote {1 + len(plans)} pages to {out}")
