"""billing: a tiny service that needs an API token for the (imaginary) payment provider."""
import hashlib
import os

from flask import Flask, jsonify

app = Flask(__name__)


def token():
    return os.environ.get("BILLING_TOKEN", "")


@app.get("/health")
def health():
    configured = token()
    return jsonify(
        status="ok" if configured else "no token",
        # A fingerprint, never the token itself: enough to tell which token is in use.
        token_sha256=hashlib.sha256(configured.encode()).hexdigest()[:12] if configured else None,
        uid=os.getuid(),
    )
