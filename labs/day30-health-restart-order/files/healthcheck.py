# Exit 0 if the app answers /health with 200, 1 otherwise: what a Docker health check wants.
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://localhost:5000/health", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as e:  # refused, timed out, or an HTTP error such as 503
    print(f"unhealthy: {e}")
    sys.exit(1)
