import time

print("legacy: running, and no SIGTERM handler anywhere", flush=True)
while True:
    time.sleep(1)
