#!/bin/sh
# Prepares the environment, then starts the worker.
echo "start.sh: preparing the worker (pid $$)"
python3 /app/app.py "$@"
