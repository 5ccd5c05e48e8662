#!/bin/sh
# One service of the "shop": logs a request every two seconds. Its settings come from
# /etc/shop/<name>.conf: CACHE_MB (memory held in /dev/shm) and, for a broken service,
# UPSTREAM and EXIT_CODE.
. "/etc/shop/$SERVICE.conf"
dd if=/dev/zero of=/dev/shm/cache bs=1M count="$CACHE_MB" 2> /dev/null
echo "$(date -u +%FT%TZ) INFO $SERVICE: starting (cache ${CACHE_MB} MB)"
i=0
while true; do
  i=$((i + 1))
  echo "$(date -u +%FT%TZ) INFO $SERVICE: handled request $i in $((RANDOM % 40 + 5)) ms"
  if [ -n "${UPSTREAM:-}" ] && [ "$i" = 7 ]; then
    echo "$(date -u +%FT%TZ) ERROR $SERVICE: upstream $UPSTREAM timed out after 5 s, cannot continue" >&2
    exit "$EXIT_CODE"
  fi
  sleep 2
done
