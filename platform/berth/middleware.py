"""A database outage gets a plain "try again" page, not a server error: the learner's sandbox,
terminal and files live elsewhere and are unharmed, and nothing they did is lost."""

import logging

from django.db import DatabaseError, close_old_connections
from django.http import HttpResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DatabaseError) or not _database_down():
            return None  # a real bug (a bad query, a constraint): the usual error handling
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        # The page itself must not touch the database: no user, no session, no context processors.
        body = render_to_string("unavailable.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(body, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def _database_down() -> bool:
    """Whether the database is unreachable right now (not merely unhappy with one query)."""
    from django.db import connection

    close_old_connections()
    try:
        connection.close()
        connection.ensure_connection()
        return False
    except DatabaseError:
        return True
