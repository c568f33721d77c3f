"""The ceiling for bench/load.py: a bare `websockets` broadcast server, one process.

Each socket joins the room named in its path (/bench/<room>/); every text frame it sends is
written, unchanged, to every other socket in that room with `websockets.broadcast`. Nothing
else: no authentication, no storage, no channel layer.

    python bench/bare_websockets.py --port 9000
"""

import argparse
import asyncio
import contextlib
import signal

from websockets.asyncio.server import broadcast, serve

rooms: dict[str, set] = {}


async def handler(ws):
    room = ws.request.path
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        async for text in ws:
            broadcast([other for other in members if other is not ws], text)
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)


async def main(host: str, port: int, max_size: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(handler, host, port, max_size=max_size, compression=None):
        print(f"ready: ws://{host}:{port}/", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--max-size", type=int, default=32768)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.host, args.port, args.max_size))
