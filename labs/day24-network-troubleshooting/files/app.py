"""Day 24: the shop, a small Flask app that counts visits in Redis."""

import os

import redis
from flask import Flask

app = Flask(__name__)
HOST = os.environ.get("REDIS_HOST", "cache")
PORT = int(os.environ.get("REDIS_PORT", "6379"))


@app.get("/health")
def health():
    return "ok\n"


@app.get("/")
def index():
    try:
        cache = redis.Redis(host=HOST, port=PORT, socket_connect_timeout=2, socket_timeout=2)
        visits = cache.incr("visits")
    except redis.RedisError as e:
        return f"The shop cannot use its cache at {HOST}:{PORT}: {e}\n", 503
    return f"Welcome to the shop. Visits so far: {visits}\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
