"""The stock-Channels baseline for bench/load.py: a bare broadcast consumer.

What the Channels tutorial builds: each socket gets its own channel, joins its room's group,
and every frame it sends is `group_send` to the room, so each broadcast costs one channel-layer
message (and one send) per socket. No authentication, no database, no filter. It runs on the
same daphne and the same channel layer as peerchat (CHANNEL_LAYERS from config.settings, so
in-memory without REDIS_URL and channels_redis's core layer with it).

    DJANGO_SETTINGS_MODULE=config.settings python -m daphne bench.bare_channels:application
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class BroadcastConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = f"bench.{int(self.scope['url_route']['kwargs']['room'])}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.group, {"type": "room.message", "text": text_data})

    async def room_message(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("bench/<int:room>/", BroadcastConsumer.as_asgi())])}
)
