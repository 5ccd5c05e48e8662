#!/bin/sh
# The shop's API, a CGI program for busybox's httpd: GET /cgi-bin/hits counts one more visit
# in Redis and answers with the count, the app's version and the pod that answered.
#   REDIS_HOST      the Redis server's name (default: redis)
#   REDIS_PASSWORD  its password
#   APP_VERSION     the version this API reports (default: 1)
reply=$(printf 'AUTH %s\r\nINCR hits\r\nQUIT\r\n' "$REDIS_PASSWORD" \
  | nc -w 3 "${REDIS_HOST:-redis}" 6379 2> /dev/null | tr -d '\r')
count=$(echo "$reply" | sed -n 's/^://p' | head -n 1)
echo "Content-Type: application/json"
if [ -n "$count" ]; then
  echo
  echo "{\"hits\": $count, \"version\": \"${APP_VERSION:-1}\", \"pod\": \"$(hostname)\"}"
else
  problem=$(echo "$reply" | grep -m 1 '^-' | tr -d '"')
  echo "Status: 502 Bad Gateway"
  echo
  echo "{\"error\": \"redis: ${problem:-no answer}\", \"version\": \"${APP_VERSION:-1}\", \"pod\": \"$(hostname)\"}"
fi
