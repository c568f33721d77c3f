"""Database helpers for the websocket side: calls off the event loop, and the hot path's cursor."""

import functools

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connection

try:
    import psycopg
except ImportError:  # SQLite only
    psycopg = None


def database_sync_to_async(function, *, thread_sensitive: bool = True, executor=None):
    """`function` as a coroutine function run on a database thread, as Channels'
    `database_sync_to_async`, but letting go of stale connections inside the call.

    Channels closes old connections around the call, outside the context the call runs in;
    with asgiref 3.13 the connection the call used lives in that context, so Channels' close
    missed it. A connection that PostgreSQL had dropped (a restart) then stayed in use, and
    every later call on that thread failed (tests/live/test_postgres_restart.py). Stock
    Channels hid this by also closing old connections before every frame, a hop to the
    database thread per frame that the consumer no longer makes.
    """

    @functools.wraps(function)
    def closing(*args, **kwargs):
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return SyncToAsync(closing, thread_sensitive=thread_sensitive, executor=executor)


NEVER_BY_COUNT = 2**31 - 1

if psycopg is not None:

    class _PreparedCursor(psycopg.Cursor):
        """Binds parameters on the server and prepares each statement on first use."""

        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True)


def hot_cursor():
    """A cursor for the few statements every message runs (`message_send`).

    Django's PostgreSQL cursors bind parameters on the client, so the server parses and
    plans every statement afresh. On PostgreSQL this cursor binds on the server and keeps
    each statement prepared on its connection (the pool keeps connections), which took
    about a third off PostgreSQL's CPU per message (bench/README.md, "Chat load"). The
    statements must give PostgreSQL their parameters' types (casts where it cannot tell).
    Elsewhere it is Django's usual cursor.
    """
    import os

    if connection.vendor != "postgresql" or os.environ.get("EXP_NOPREP"):
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns preparing off (None) for every cursor; its own cursors bind on the
        # client and never prepare anyway. A threshold no statement reaches keeps it off for
        # everything but the statements this cursor prepares explicitly.
        raw.prepare_threshold = NEVER_BY_COUNT
    cursor = _PreparedCursor(raw)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)
