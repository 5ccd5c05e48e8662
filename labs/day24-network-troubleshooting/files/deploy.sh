#!/bin/bash
# Deploys the shop: a Flask web app (shop) and its Redis cache (cache).
# Run it again after every change: it replaces both containers.
set -e
docker network inspect frontend > /dev/null 2>&1 || docker network create frontend > /dev/null
docker network inspect backend > /dev/null 2>&1 || docker network create backend > /dev/null
docker rm -f shop cache > /dev/null 2>&1 || true

# The cache. Hardened in the last change: Redis answers on 127.0.0.1 only.
docker run -d --name cache --network backend \
  berth/redis:7 redis-server --bind 127.0.0.1 --dir /data

# The web app, published on the host's port 8000.
# cache used to live on the old server, 10.24.0.99; kept for the migration.
docker run -d --name shop --network frontend \
  -p 8000:8080 \
  -e REDIS_HOST=cache -e REDIS_PORT=6379 \
  --add-host cache:10.24.0.99 \
  shop:1.0

echo "deployed: the shop should answer on http://localhost:8000/"
