from django.urls import path, re_path

from peerchat.consumers import ChatConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/v1/", ChatConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
