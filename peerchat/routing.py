from django.urls import path

from peerchat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/v1/", ChatConsumer.as_asgi()),
]
