"""Every Docker SDK call of the backend goes through `engine_call`, so an engine's errors are
mapped in one place: to a SandboxError with a message for the log (what was being done) and one
for the learner, except the HTTP statuses a caller names as already done (e.g. 404 on remove)."""

from contextlib import contextmanager

import docker.errors
import requests.exceptions

from sandboxes.backends.base import SandboxError

GONE = 404
CONFLICT = 409  # e.g. a removal already in progress, a name already taken
NOT_MODIFIED = 304  # e.g. stopping a stopped container


class EngineError(SandboxError):
    """A SandboxError from the engine, with the HTTP status it answered (None: no answer)."""

    def __init__(self, log_message: str, learner_message: str, status: int | None):
        super().__init__(log_message, learner_message)
        self.status = status


@contextmanager
def engine_call(doing: str, learner_message: str = "The sandbox did not answer.", done_if: tuple[int, ...] = ()):
    """Run SDK calls for `doing`; answers whose status is in `done_if` count as success."""
    try:
        yield
    except docker.errors.APIError as e:
        if e.status_code in done_if:
            return
        raise EngineError(f"{doing}: {e}", learner_message, e.status_code) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as e:
        raise EngineError(f"{doing}: the engine did not answer ({e})", learner_message, None) from e
