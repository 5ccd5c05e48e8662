# A page counter: Flask serves the page, Redis keeps the count.
import os
import socket

from flask import Flask
from redis import Redis

app = Flask(__name__)
redis = Redis(host=os.environ.get("REDIS_HOST", "localhost"), port=6379, socket_connect_timeout=2)


@app.route("/")
def index():
    hits = redis.incr("hits")
    return f"Hello from {socket.gethostname()}: this page has been seen {hits} times.\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
