"""shop web: counts visits in Redis. Reads the Redis password from a secret file."""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

VERSION = os.environ.get("APP_VERSION", "1")
with open(os.environ.get("REDIS_PASSWORD_FILE", "/run/secrets/redis_password")) as f:
    PASSWORD = f.read().strip()
store = redis.Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379, password=PASSWORD,
                    socket_timeout=2, socket_connect_timeout=2)


class Shop(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            # Liveness only: this process answers. Redis being down must not make every web
            # task "unhealthy" at once, or the swarm would kill them all (a cascade).
            self.reply(200, {"status": "ok", "version": VERSION})
            return
        try:
            hits = store.incr("hits")
            self.reply(200, {"version": VERSION, "hits": hits, "served_by": socket.gethostname()})
        except redis.RedisError as e:
            self.reply(503, {"status": "redis unavailable", "error": str(e), "version": VERSION})

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    print(f"shop web {VERSION} on :8000", flush=True)
    ThreadingHTTPServer(("", 8000), Shop).serve_forever()
