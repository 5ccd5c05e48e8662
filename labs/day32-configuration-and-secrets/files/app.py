"""The shop's settings page: shows which configuration the container was given."""

import hashlib
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


def db_password():
    path = os.environ.get("DB_PASSWORD_FILE", "/run/secrets/db_password")
    if os.path.isfile(path):
        with open(path) as f:
            return f.read().strip(), "file " + path
    if os.environ.get("DB_PASSWORD"):
        return os.environ["DB_PASSWORD"], "environment variable DB_PASSWORD"
    return None, "none"


class Settings(BaseHTTPRequestHandler):
    def do_GET(self):
        password, source = db_password()
        body = {
            "mode": os.environ.get("APP_MODE", "unset"),
            "greeting": os.environ.get("APP_GREETING", "unset"),
            "db_password_from": source,
            # Never print a secret; a short hash is enough to tell which one it is.
            "db_password_sha256": hashlib.sha256(password.encode()).hexdigest()[:12] if password else None,
        }
        data = (json.dumps(body, indent=2) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    print(f"settings page on :8000, mode={os.environ.get('APP_MODE', 'unset')}", flush=True)
    HTTPServer(("", 8000), Settings).serve_forever()
