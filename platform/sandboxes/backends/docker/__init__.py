"""The Docker Engine backend: the only package of the platform that imports the Docker SDK.

backend.py implements the sandbox contract; profiles.py turns the profiles into container
settings (with seccomp.py's profile for nested engines); images.py builds the lab images;
errors.py maps the engine's errors to the contract's, in one place.
"""

from sandboxes.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
