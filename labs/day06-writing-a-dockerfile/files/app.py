"""hello-flask: a tiny web app for Day 6 of the Berth course."""
import os
import socket

from flask import Flask, jsonify

VERSION = "1.0"

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(
        app="hello-flask",
        version=VERSION,
        greeting=os.environ.get("GREETING", "Hello from a container"),
        hostname=socket.gethostname(),
    )


@app.get("/health")
def health():
    return "ok\n"
