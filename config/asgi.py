"""ASGI entry point: HTTP through Django, websockets through origin check, auth and router."""

import asyncio
import os
import sys

from django.core.asgi import get_asgi_application

# The thread that runs the sockets' database work blocks on every round trip to PostgreSQL;
# when the answer comes it must get the GIL back from the event loop, which by default keeps
# it for up to 5 ms. With several round trips per message that queued every message behind
# the loop (bench/README.md, "Chat load"). 1 ms costs the loop little.
sys.setswitchinterval(0.001)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import (  # noqa: E402
    AllowedHostsOriginValidator,
    OriginValidator,
)
from django.conf import settings  # noqa: E402

from peerchat.events import serving_loop  # noqa: E402
from peerchat.jobs import embedded as embedded_worker  # noqa: E402
from peerchat.routing import websocket_urlpatterns  # noqa: E402


class ServingLoopMiddleware:
    """Remember the event loop of each connection so services can publish back to it.

    The first connection (run_topology's health check) also starts the embedded worker when
    there is one (peerchat.jobs.embedded).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        serving_loop.set(asyncio.get_running_loop())
        if scope["type"] in ("http", "websocket"):
            embedded_worker.ensure_running()
        return await self.app(scope, receive, send)


def origin_validator(app):
    """Check the Origin of every websocket handshake (HTTP 403 when it is not ours).

    WS_ALLOWED_ORIGINS lists full origins (scheme, host and port); without it, the host part
    is checked against ALLOWED_HOSTS.
    """
    if settings.WS_ALLOWED_ORIGINS:
        return OriginValidator(app, settings.WS_ALLOWED_ORIGINS)
    return AllowedHostsOriginValidator(app)


application = ServingLoopMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": origin_validator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
