"""shop edge: the shop's front door. Forwards each request to one of the web tasks, which it
finds by DNS (with endpoint_mode dnsrr, the name "web" resolves to every task's address), and
tries another task when one does not answer."""

import http.client
import os
import random
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKEND = os.environ.get("BACKEND", "web")
BACKEND_PORT = int(os.environ.get("BACKEND_PORT", "8000"))


def tasks():
    try:
        infos = socket.getaddrinfo(BACKEND, BACKEND_PORT, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    addresses = list({info[4][0] for info in infos})
    random.shuffle(addresses)
    return addresses


class Edge(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = 502, b'{"status": "no web task answered"}\n'
        for address in tasks():
            try:
                conn = http.client.HTTPConnection(address, BACKEND_PORT, timeout=3)
                conn.request("GET", self.path)
                response = conn.getresponse()
                status, body = response.status, response.read()
                conn.close()
            except OSError:
                continue
            if status < 500:
                break
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    print(f"shop edge on :8080, forwarding to {BACKEND}:{BACKEND_PORT}", flush=True)
    ThreadingHTTPServer(("", 8080), Edge).serve_forever()
