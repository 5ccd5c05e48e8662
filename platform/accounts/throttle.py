"""Slow down password guessing: after LOGIN_FAILURES_ALLOWED failed logins for one username, or
from one address, further attempts are refused for LOGIN_LOCKOUT_SECONDS."""

from django.conf import settings
from django.core.cache import cache


def keys(request, username: str) -> list[str]:
    return [
        f"login-failures:user:{username.strip().lower()}",
        f"login-failures:addr:{request.META.get('REMOTE_ADDR', '')}",
    ]


def locked_out(request, username: str) -> bool:
    return any((cache.get(key) or 0) >= settings.LOGIN_FAILURES_ALLOWED for key in keys(request, username))


def record_failure(request, username: str) -> None:
    for key in keys(request, username):
        cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)


def clear(request, username: str) -> None:
    cache.delete_many(keys(request, username))
