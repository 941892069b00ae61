"""Redis pub/sub listener for ticket events, with reconnect and exponential backoff.

Pub/sub is fire-and-forget: events published while the listener is disconnected are lost
(the bot's cards then catch up on the ticket's next event; /tickets shows the current state).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class RedisListener:
    def __init__(self, url: str, channel: str, handler: Callable[[dict], Awaitable[None]], *,
                 min_delay: float = 0.5, max_delay: float = 30.0, poll_timeout: float = 1.0):
        self.url = url
        self.channel = channel
        self.handler = handler
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.poll_timeout = poll_timeout
        self.connected = asyncio.Event()  # set while subscribed (tests and health)
        self.connections = 0  # successful subscriptions, reconnects included
        self.failures = 0

    async def run(self) -> None:
        """Listen until cancelled; never returns on Redis errors."""
        delay = self.min_delay
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5, health_check_interval=15)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.connections += 1
                    self.connected.set()
                    delay = self.min_delay
                    logger.info("listening to Redis channel %s (connection %s)", self.channel, self.connections)
                    while True:
                        message = await pubsub.get_message(timeout=self.poll_timeout)
                        if message is not None and message.get("type") == "message":
                            await self._dispatch(message["data"])
            except (RedisError, OSError) as exc:
                self.failures += 1
                self.connected.clear()
                pause = delay * (0.8 + random.random() * 0.4)
                logger.warning("Redis listener lost its connection (%s: %s); reconnecting in %.1f s",
                               type(exc).__name__, exc, pause)
                await asyncio.sleep(pause)
                delay = min(delay * 2, self.max_delay)
            finally:
                self.connected.clear()
                try:
                    await client.aclose()
                except Exception:  # noqa: BLE001 - the connection is gone anyway
                    pass

    async def _dispatch(self, data) -> None:
        try:
            payload = json.loads(data)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            logger.warning("ignoring a malformed event on %s: %s", self.channel, exc)
            return
        try:
            await self.handler(payload)
        except Exception:  # noqa: BLE001 - one bad event must not stop the listener
            logger.exception("handling event %s failed", payload.get("event"))
