"""Channel-layer settings, built in one place for config/settings.py and the tests."""

import fnmatch
import re

# Each process has one fan-out channel (peerchat.hub) that carries every broadcast for every
# room it serves, so it needs far more room than the default per-channel capacity of 100.
HUB_CHANNELS = "peerchat-hub.*"
HUB_CAPACITY = 20000


def redis_layer(url: str, *, prefix: str, socket_timeout: float = 15.0) -> dict:
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": url,
                    # redis-py 8 reads with a 5 s timeout by default, the same 5 s that
                    # channels_redis blocks for in BZPOPMIN, so an idle receive would fail
                    # with TimeoutError; a longer read timeout still catches dead links.
                    "socket_timeout": socket_timeout,
                    "socket_connect_timeout": 5,
                }
            ],
            "prefix": prefix,
            "capacity": 100,
            "channel_capacity": {HUB_CHANNELS: HUB_CAPACITY},
        },
    }


def in_memory_layer() -> dict:
    return {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        # InMemoryChannelLayer (channels 4.3) iterates channel_capacity as compiled
        # (pattern, capacity) pairs without compiling a dict first, so give it pairs.
        "CONFIG": {
            "channel_capacity": [(re.compile(fnmatch.translate(HUB_CHANNELS)), HUB_CAPACITY)]
        },
    }
