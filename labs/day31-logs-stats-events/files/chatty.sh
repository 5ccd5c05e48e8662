#!/bin/sh
# chatty: a service that logs far too much. It starts with a burst of debug output, then keeps
# logging a few lines a second, forever.
awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "DEBUG chatty: cache warm-up, entry %06d of 020000, key=item-%06d, state=ok\n", i, i }'
i=0
while true; do
  i=$((i + 1))
  echo "$(date -u +%FT%TZ) DEBUG chatty: heartbeat $i, queue depth $((RANDOM % 50)), all fine"
  sleep 0.2
done
