"""image_layers.py IMAGE [REGEX]: the layers of IMAGE, bottom first, read where Docker Engine 29
keeps them: in its containerd content store (the image's index, manifest, configuration and
layer blobs). One tab-separated line per layer: NUMBER, DIFF-ID, the instruction that made it
(from the image's history) and, given REGEX, `match` when a path in the layer matches it.
Used by the day 7 check of step 2."""
import json
import re
import subprocess
import sys
import tarfile

BLOBS = "/var/lib/docker/containerd/daemon/io.containerd.content.v1.content/blobs/sha256"


def blob(digest):
    return open(f"{BLOBS}/{digest.split(':', 1)[1]}", "rb")


def manifest_of(image):
    """The image's manifest for this machine's platform, from its index when it has one."""
    digest = subprocess.check_output(["docker", "image", "inspect", "-f", "{{.Id}}", image], text=True).strip()
    document = json.load(blob(digest))
    while "manifests" in document:  # an index: pick the image, not its attestations
        entries = [
            m
            for m in document["manifests"]
            if m.get("platform", {}).get("os") == "linux"
            and "vnd.docker.reference.type" not in m.get("annotations", {})
        ]
        document = json.load(blob(entries[0]["digest"]))
    return document


def main():
    image, pattern = sys.argv[1], re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    manifest = manifest_of(image)
    config = json.load(blob(manifest["config"]["digest"]))
    steps = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    diff_ids = config["rootfs"]["diff_ids"]
    for number, (layer, diff_id) in enumerate(zip(manifest["layers"], diff_ids), start=1):
        found = ""
        if pattern:
            with blob(layer["digest"]) as f, tarfile.open(fileobj=f, mode="r:*") as tar:
                found = "match" if any(pattern.search(name) for name in tar.getnames()) else ""
        step = steps[number - 1] if len(steps) == len(diff_ids) else ""
        print(f"{number}\t{diff_id}\t{' '.join(step.split())}\t{found}")


try:
    main()
except (OSError, subprocess.CalledProcessError, KeyError, IndexError, ValueError, tarfile.TarError) as e:
    print(f"image_layers.py: {e}", file=sys.stderr)
    sys.exit(2)
