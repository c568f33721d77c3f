"""A websocket client over the real ASGI router (origin check, session auth, URL router)."""

import json

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application

ORIGIN = "http://testserver"


def session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Socket:
    """A thin wrapper that speaks JSON frames and remembers the communicator."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator

    async def send(self, frame: dict | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.communicator.send_to(text_data=text)

    async def recv(self, timeout: float = 3) -> dict:
        return await self.communicator.receive_json_from(timeout=timeout)

    async def recv_type(self, frame_type: str, timeout: float = 3) -> dict:
        frame = await self.recv(timeout)
        assert frame["type"] == frame_type, frame
        return frame

    async def ack_and_message(self) -> tuple[dict, dict]:
        """Read the sender's ack and its own message, which may come in either order."""
        frames = {}
        for _ in range(2):
            frame = await self.recv()
            frames[frame["type"]] = frame
        assert set(frames) == {"ack", "message"}, frames
        return frames["ack"], frames["message"]

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()

    async def join(self, room_id: int, since: int = 0) -> tuple[dict, list[dict]]:
        """Join and return the `joined` frame and the replayed messages."""
        await self.send({"type": "join", "room": room_id, "since": since})
        joined = await self.recv_type("joined")
        replay = [await self.recv_type("message") for _ in range(joined["replayed"])]
        return joined, replay

    async def ping(self) -> None:
        """Prove the socket still answers."""
        await self.send({"type": "ping", "nonce": "still-there"})
        assert await self.recv() == {"type": "pong", "nonce": "still-there"}


async def open_socket(
    user=None, *, origin: str | None = ORIGIN, cookie: str | None = None, expect_hello=True
):
    """Connect as `user` (session cookie) or anonymously; read the `hello` frame (unless
    `expect_hello` is false: the server refuses the socket after accepting it)."""
    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if user is not None and cookie is None:
        cookie = await database_sync_to_async(session_cookie_for)(user)
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/v1/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    socket = Socket(communicator)
    if not expect_hello:
        return socket
    hello = await socket.recv_type("hello")
    assert hello["authenticated"] is (user is not None)
    return socket


async def sockets_in_room(room_id: int, *users) -> list[Socket]:
    """Open a signed-in socket for each user and join each one to the room."""
    sockets = [await open_socket(user) for user in users]
    for socket in sockets:
        await socket.join(room_id)
    return sockets
