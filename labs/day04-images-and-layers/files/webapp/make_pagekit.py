"""Writes the web app's one dependency, pagekit 1.0, as a wheel into the folder given.

No package index is reachable from the sandbox, so the app ships its dependencies with it, as
a local wheelhouse (pip install --no-index --find-links).
"""
import base64
import hashlib
import pathlib
import sys
import zipfile

CODE = '''"""pagekit: turn a title and a line of text into a complete HTML page."""
import html

__version__ = "1.0"


def page(title, text):
    title, text = html.escape(title), html.escape(text)
    return (
        "<!doctype html>\\n"
        f'<html><head><meta charset="utf-8"><meta name="generator" content="pagekit {__version__}">'
        f"<title>{title}</title></head>\\n"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\\n"
    )
'''
INFO = "pagekit-1.0.dist-info"
files = {
    "pagekit/__init__.py": CODE,
    f"{INFO}/METADATA": "Metadata-Version: 2.1\nName: pagekit\nVersion: 1.0\nSummary: Complete HTML pages from a title and a line\n",
    f"{INFO}/WHEEL": "Wheel-Version: 1.0\nGenerator: berth\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}


def entry(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


files[f"{INFO}/RECORD"] = "".join(entry(n, t.encode()) + "\n" for n, t in files.items()) + f"{INFO}/RECORD,,\n"
out = pathlib.Path(sys.argv[1]) / "pagekit-1.0-py3-none-any.whl"
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as wheel:
    for name, text in files.items():
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        wheel.writestr(info, text)
