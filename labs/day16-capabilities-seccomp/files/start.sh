#!/bin/sh
# Starts as root, hands the data directory to the app user (uid 1000), then drops root for good.
set -e
chown -R 1000:1000 /srv/data
exec setpriv --reuid=1000 --regid=1000 --clear-groups \
  python3 -m http.server 8080 --directory /srv/data
