#!/bin/bash
# Day 9 setup: the repository localhost:5000/shop with five tags, an inventory of their digests
# as they were at the last release review, and then one tag moved, at random.
set -eu
# Docker pushes what BuildKit built, an OCI image index: the Accept header must admit it (and,
# for images pushed some other way, a single manifest), or this registry answers 404.
accept='Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json'
accept="$accept,application/vnd.docker.distribution.manifest.list.v2+json"
accept="$accept,application/vnd.docker.distribution.manifest.v2+json"
digest_of() {
  curl -sI -H "$accept" "http://localhost:5000/v2/shop/manifests/$1" | tr -d '\r' \
    | awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}
build() {  # version [note]
  printf 'FROM busybox\nLABEL org.berth.shop.version="%s" org.berth.shop.note="%s"\nCMD ["echo", "shop %s"]\n' \
    "$1" "${2:-}" "$1" | docker build -q -t "localhost:5000/shop:$1" - > /dev/null
}
for i in $(seq 50); do curl -sf http://localhost:5000/v2/ > /dev/null && break; sleep 0.2; done
for version in 1.0 1.1 2.0; do
  build "$version"
  docker push -q "localhost:5000/shop:$version" > /dev/null
done
docker tag localhost:5000/shop:1.1 localhost:5000/shop:stable
docker tag localhost:5000/shop:2.0 localhost:5000/shop:edge
docker push -q localhost:5000/shop:stable > /dev/null
docker push -q localhost:5000/shop:edge > /dev/null
{
  echo "# localhost:5000/shop: tag and manifest digest, as recorded at the last release review"
  for tag in 1.0 1.1 2.0 stable edge; do printf '%-7s %s\n' "$tag" "$(digest_of "$tag")"; done
} > /root/day09/shop-inventory.txt
if grep -qE '^[^#][^ ]* +$' /root/day09/shop-inventory.txt; then
  echo "the registry gave no digest for a shop tag" >&2
  exit 1
fi
mkdir -p /var/lib/berth-day09
cp /root/day09/shop-inventory.txt /var/lib/berth-day09/inventory.txt
# Since the review, one tag has moved.
case $((RANDOM % 3)) in
  0) docker tag localhost:5000/shop:2.0 localhost:5000/shop:stable
     docker push -q localhost:5000/shop:stable > /dev/null ;;
  1) build 1.1 "rebuilt"
     docker push -q localhost:5000/shop:1.1 > /dev/null ;;
  2) build 2.1
     docker tag localhost:5000/shop:2.1 localhost:5000/shop:edge
     docker push -q localhost:5000/shop:edge > /dev/null ;;
esac
# Nothing of shop stays in the local engine: what it holds is in the registry only.
docker images -q localhost:5000/shop | sort -u | xargs -r docker rmi -f > /dev/null
