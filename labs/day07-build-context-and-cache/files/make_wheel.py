"""Builds wheels/prettyprice-1.0.0-py3-none-any.whl: the shop's one dependency, kept in a
local wheelhouse because no package index is reachable (pip install --no-index --find-links)."""
import base64
import hashlib
import sys
import zipfile

CODE = '''"""prettyprice: format amounts of money."""
__version__ = "1.0.0"


def format_price(cents, currency="EUR"):
    units, rest = divmod(int(cents), 100)
    return f"{units:,}.{rest:02d} {currency}".replace(",", " ")
'''
files = {
    "prettyprice/__init__.py": CODE,
    "prettyprice-1.0.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: prettyprice\nVersion: 1.0.0\nSummary: Format amounts of money\n",
    "prettyprice-1.0.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: berth\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(data)}")
record.append("prettyprice-1.0.0.dist-info/RECORD,,")
files["prettyprice-1.0.0.dist-info/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as whl:
    for name, text in files.items():
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        whl.writestr(info, text)
