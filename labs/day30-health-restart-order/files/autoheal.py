# autoheal: restart running containers labelled autoheal=true whose health check says
# unhealthy. Docker runs health checks and records the result, but a plain engine (not a
# swarm) never acts on it; this small control loop does, through the Engine API.
import http.client
import json
import signal
import socket
import sys
import time
import urllib.parse

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1, stop at once on docker stop


class DockerSocket(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=30)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")


def api(method, path):
    conn = DockerSocket()
    conn.request(method, path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {response.status} {body[:200]!r}")
    return json.loads(body) if body else None


# Paths without a /v1.NN prefix are served at the daemon's own API version, so nothing breaks
# when an engine raises its minimum (Docker's 29.x packages refuse clients below API 1.44).
filters = urllib.parse.quote(json.dumps({"health": ["unhealthy"], "label": ["autoheal=true"]}))
print("autoheal: watching running containers labelled autoheal=true", flush=True)
while True:
    try:
        for container in api("GET", f"/containers/json?filters={filters}"):
            name = container["Names"][0].lstrip("/")
            print(f"autoheal: {name} is unhealthy, restarting it", flush=True)
            api("POST", f"/containers/{container['Id']}/restart?t=5")
    except Exception as e:
        print(f"autoheal: {e}", flush=True)
    time.sleep(2)
