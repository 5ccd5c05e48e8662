"""webapp: one page, served on port 8000 with Python's own HTTP server."""
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import pagekit

VERSION = "1.0"


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        body = pagekit.page("webapp", f"webapp {VERSION} is up.").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# Stop at once on docker stop's SIGTERM (Day 6 shows why a PID 1 needs this line).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"webapp {VERSION} listening on port 8000", flush=True)
HTTPServer(("", 8000), Page).serve_forever()
