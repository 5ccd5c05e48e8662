"""scan_layers.py IMAGE [NEEDLE...]: look through the layers of IMAGE that its base
(berth/python:3.11) does not have, straight from the engine's containerd content store (the
image's index, manifest, configuration and layer blobs, as docker save would write them), and
print one line per finding: LAYER-NUMBER, KIND, PATH, DETAIL (tab-separated). KIND is envfile
for a file named .env (DETAIL: its first line), whiteout for a deleted .env (the layer's
.wh..env entry), needle for a file holding a NEEDLE. Exits 2 when IMAGE is not in the engine.
Used by the day 11 checks; `docker save` + `tar` finds the same, more slowly."""
import json
import os
import subprocess
import sys
import tarfile

BLOBS = "/var/lib/docker/containerd/daemon/io.containerd.content.v1.content/blobs/sha256"
BASE = "berth/python:3.11"


def blob(digest):
    return open(os.path.join(BLOBS, digest.split(":", 1)[1]), "rb")


def layers_of(image):
    """[(diff ID, blob digest)] of the image for this machine, bottom first."""
    digest = subprocess.check_output(
        ["docker", "image", "inspect", "-f", "{{.Id}}", image], text=True, stderr=subprocess.DEVNULL
    ).strip()
    document = json.load(blob(digest))
    while "manifests" in document:  # an index: the image itself, not its attestations
        image_manifests = [
            m
            for m in document["manifests"]
            if m.get("platform", {}).get("os") == "linux"
            and "vnd.docker.reference.type" not in m.get("annotations", {})
        ]
        document = json.load(blob(image_manifests[0]["digest"]))
    config = json.load(blob(document["config"]["digest"]))
    return list(zip(config["rootfs"]["diff_ids"], (layer["digest"] for layer in document["layers"])))


def scan(number, tar, needles):
    for member in tar:
        path = member.name[2:] if member.name.startswith("./") else member.name
        name = os.path.basename(path)
        if name == ".wh..env":
            print(f"{number}\twhiteout\t{os.path.join(os.path.dirname(path), '.env')}\t")
            continue
        if not member.isfile() or member.size > 10_000_000:
            continue
        content = tar.extractfile(member).read()
        if name == ".env":
            first = content.decode(errors="replace").strip().splitlines()
            print(f"{number}\tenvfile\t{path}\t{first[0] if first else ''}")
        for needle in needles:
            if needle in content:
                print(f"{number}\tneedle\t{path}\t{needle.decode()}")


def main():
    image, needles = sys.argv[1], [n.encode() for n in sys.argv[2:] if n]
    try:
        layers = layers_of(image)
        base = {diff_id for diff_id, _ in layers_of(BASE)}
    except (subprocess.CalledProcessError, OSError, KeyError, IndexError, ValueError):
        sys.exit(2)
    for number, (diff_id, digest) in enumerate(layers, start=1):
        if diff_id in base:
            continue
        with blob(digest) as f, tarfile.open(fileobj=f, mode="r:*") as tar:
            scan(number, tar, needles)


main()
