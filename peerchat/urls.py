from django.urls import path

from peerchat import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("chat/", views.chat, name="chat"),
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/me", api.me, name="api-me"),
    path("api/v1/seekers", api.seekers, name="api-seekers"),
    path("api/v1/rooms", api.rooms, name="api-rooms"),
    path("api/v1/rooms/<int:room_id>/messages", api.room_messages, name="api-room-messages"),
    path("api/v1/ws-tickets", api.ws_tickets, name="api-ws-tickets"),
]
