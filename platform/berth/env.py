"""Small helpers that read settings from the environment and fail loudly on a bad value.

Every helper also reads NAME_FILE (the path of a file holding the value), so secrets can
come from Docker or Kubernetes secret files instead of the process environment.
"""

import ipaddress
import os

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {e}") from e
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    value = env_str(name, default) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(name: str, default: str) -> list[str]:
    """Parse "127.0.0.1,::1,10.0.0.0/8" into addresses and networks (as strings), each checked."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network") from None
    return networks


def env_mapping(name: str, default: str) -> dict[str, str]:
    """Parse "a=x,b=y" into {"a": "x", "b": "y"}."""
    result = {}
    for item in env_list(name, default):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name}: {item!r} is not of the form name=value")
        result[key.strip()] = value.strip()
    return result


PROFILE_NAMES = ("standard", "docker", "kubernetes")


def parse_pool_key(key: str) -> tuple[str, str, int] | None:
    """ "profile/image" (single sandboxes) or "profile/image*N" (clusters of N nodes, node1..nodeN)
    into (profile, image, nodes); None when it is neither."""
    profile, sep, image = key.partition("/")
    image, star, nodes = image.rpartition("*") if "*" in image else (image, "", "1")
    if not sep or profile not in PROFILE_NAMES or not image or not nodes.isdigit() or not 1 <= int(nodes) <= 9:
        return None
    return profile, image, int(nodes)


def pool_key(profile: str, image: str, nodes: int) -> str:
    return f"{profile}/{image}" + (f"*{nodes}" if nodes > 1 else "")


def env_warm_pool(name: str, default: str) -> dict[tuple[str, str, int], int]:
    """Parse "profile/image=count,profile/image*nodes=count" into {(profile, image, nodes): count}."""
    pool = {}
    for key, count in env_mapping(name, default).items():
        parsed = parse_pool_key(key)
        if parsed is None or not count.isdigit():
            raise ImproperlyConfigured(
                f"{name}: {key}={count!r} is not of the form profile/image=count or profile/image*nodes=count"
            )
        pool[parsed] = int(count)
    return pool
