"""How the web process is served: uvicorn with the options scripts/up gives it (the sans-I/O
websockets protocol, which waits for a paused transport where the legacy one failed an assertion
under a stalled reader; frames up to 1 MiB). One command line for the test suite's and the
benchmarks' own stacks."""

from pathlib import Path

UVICORN_OPTIONS = ["--ws", "websockets-sansio", "--ws-max-size", "1048576"]


def web_command(bin_dir: Path, port: int, processes: int = 1) -> list[str]:
    """`processes` > 1: uvicorn's own workers on one port, as scripts/up runs one per core."""
    workers = ["--workers", str(processes)] if processes > 1 else []
    return [str(Path(bin_dir) / "uvicorn"), "berth.asgi:application", "--port", str(port), *UVICORN_OPTIONS, *workers]
