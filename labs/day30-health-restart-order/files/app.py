# The page counter again, with a health endpoint, and a way to break it on purpose.
import os
import socket
import sys
import threading

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError

REDIS_HOST = os.environ.get("REDIS_HOST", "localhost")
redis = Redis(host=REDIS_HOST, port=6379, socket_connect_timeout=2, socket_timeout=2)
app = Flask(__name__)
stuck = threading.Event()  # stands in for a deadlock: the process lives but serves nothing


@app.route("/")
def index():
    if stuck.is_set():
        return "stuck\n", 503
    hits = redis.incr("hits")
    return f"Hello from {socket.gethostname()}: this page has been seen {hits} times.\n"


@app.route("/health")
def health():
    # Liveness: is this process still able to serve? It does not ask Redis on purpose:
    # restarting web would not cure a Redis outage.
    if stuck.is_set():
        return "stuck\n", 503
    return "ok\n"


@app.route("/break", methods=["POST"])
def break_it():
    stuck.set()
    return "web is stuck now: / and /health answer 503 until it is restarted\n"


if __name__ == "__main__":
    try:
        redis.ping()  # fail fast: without Redis this app is useless
    except RedisError as e:
        print(f"cannot reach Redis at {REDIS_HOST}:6379 ({e}); exiting", flush=True)
        sys.exit(1)
    print(f"connected to Redis at {REDIS_HOST}:6379", flush=True)
    app.run(host="0.0.0.0", port=5000)
