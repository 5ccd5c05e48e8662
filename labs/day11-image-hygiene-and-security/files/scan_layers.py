"""scan_layers.py IMAGE [NEEDLE...]: look through the layers of IMAGE that its base
(berth/python:3.11) does not have, straight in the engine's overlay2 store, and print one line
per finding: LAYER-NUMBER, KIND, PATH, DETAIL (tab-separated). KIND is envfile for a file named
.env (DETAIL: its first line), whiteout for a deleted .env, needle for a file holding a NEEDLE.
Used by the day 11 checks; `docker save` + `tar` finds the same, more slowly."""
import json
import os
import stat
import subprocess
import sys


def layer_dirs(image):
    """The image's layer directories, bottom (1) to top."""
    info = json.loads(subprocess.check_output(["docker", "image", "inspect", image]))[0]
    data = info["GraphDriver"]["Data"]
    top_down = [data["UpperDir"]] + [d for d in data.get("LowerDir", "").split(":") if d]
    return list(reversed(top_down))


image, needles = sys.argv[1], [n.encode() for n in sys.argv[2:] if n]
try:
    dirs = layer_dirs(image)
    base = set(layer_dirs("berth/python:3.11"))
except (subprocess.CalledProcessError, KeyError, IndexError):
    sys.exit(2)
for index, top in enumerate(dirs, start=1):
    if top in base:
        continue
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            shown = os.path.relpath(path, top)
            mode = os.lstat(path).st_mode
            if name == ".env" and stat.S_ISCHR(mode):
                print(f"{index}\twhiteout\t{shown}\t")
                continue
            if not stat.S_ISREG(mode) or os.path.getsize(path) > 10_000_000:
                continue
            with open(path, "rb") as f:
                content = f.read()
            if name == ".env":
                first = content.decode(errors="replace").strip().splitlines()
                print(f"{index}\tenvfile\t{shown}\t{first[0] if first else ''}")
            for needle in needles:
                if needle in content:
                    print(f"{index}\tneedle\t{shown}\t{needle.decode()}")
