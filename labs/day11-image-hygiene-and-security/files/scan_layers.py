"""scan_layers.py IMAGE [NEEDLE...]: stream `docker save IMAGE` and print, one line per finding,
LAYER-NUMBER, KIND, PATH, DETAIL (tab-separated): files named .env and their whiteouts (DETAIL
is the file's first line), and files whose content holds a NEEDLE. Used by the day 11 checks."""
import json
import subprocess
import sys
import tarfile

image, needles = sys.argv[1], [n.encode() for n in sys.argv[2:] if n]
save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
layers, manifest = {}, None
with tarfile.open(fileobj=save.stdout, mode="r|") as outer:
    for member in outer:
        if member.name.endswith("/layer.tar") and member.isfile():
            found = []
            with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as layer:
                for entry in layer:
                    base = entry.name.rsplit("/", 1)[-1]
                    if base == ".wh..env":
                        found.append(("whiteout", entry.name, ""))
                    if not entry.isfile() or entry.size > 10_000_000:
                        continue
                    content = layer.extractfile(entry).read()
                    if base == ".env":
                        found.append(("envfile", entry.name, content.decode(errors="replace").strip().splitlines()[0] if content.strip() else ""))
                    for needle in needles:
                        if needle in content:
                            found.append(("needle", entry.name, needle.decode()))
            layers[member.name.split("/")[0]] = found
        elif member.name == "manifest.json":
            manifest = json.load(outer.extractfile(member))
if save.wait() != 0 or manifest is None:
    sys.exit(2)
for index, path in enumerate(manifest[0]["Layers"], start=1):
    for kind, name, detail in layers.get(path.split("/")[0], []):
        print(f"{index}\t{kind}\t{name}\t{detail}")
