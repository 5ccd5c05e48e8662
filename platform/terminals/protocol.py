"""The terminal protocol (after terminado), and the messages between web and relay.

Browser -> server, JSON text frames:  ["stdin", "ls\\r"]   ["set_size", rows, cols]
Server -> browser: binary frames carry terminal output bytes; JSON text frames carry control:
                   ["exit", "reason"]
Web consumer -> relay (channel "terminal-relay.<host>"): tty.open / tty.input / tty.resize /
                   tty.ack (output chunks its socket took) / tty.detach
Relay -> web consumer (its own channel name, never a group): tty.output / tty.exit /
                   tty.lagged (dropped for not reading: the socket closes with 4408 and reconnects)
"""

MAX_INPUT_BYTES = 64 * 1024
LAGGED = 4408  # close code: the relay dropped this viewer for not reading; the page reconnects
MIN_SIZE, MAX_ROWS, MAX_COLS = 2, 500, 1000


def relay_channel(host: str) -> str:
    return f"terminal-relay.{host}"


def clamp_size(rows, cols) -> tuple[int, int]:
    try:
        rows, cols = int(rows), int(cols)
    except (TypeError, ValueError):
        return 24, 80
    return max(MIN_SIZE, min(rows, MAX_ROWS)), max(MIN_SIZE, min(cols, MAX_COLS))
