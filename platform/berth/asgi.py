"""ASGI entry point: HTTP through Django, websockets through Channels.

Every websocket route is wrapped in an origin check and the session's authentication.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # platform/ is the source root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berth.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()  # set up Django before importing consumers

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from studio import routing as studio_routing  # noqa: E402
from terminals import routing as terminal_routing  # noqa: E402

websocket_urlpatterns = terminal_routing.websocket_urlpatterns + studio_routing.websocket_urlpatterns

http_app = django_asgi
if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
