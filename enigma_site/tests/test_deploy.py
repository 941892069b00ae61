"""Deployment files: the compose file validates, settings refuse to start without a secret."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose_command():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_is_valid():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "ENIGMA_ENV_FILE": ".env.example"},
    )
    assert result.returncode == 0, result.stderr


def test_settings_refuse_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="enigma_site.settings", DATABASE_URL="sqlite:///:memory:", REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_debug_is_off_unless_asked():
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    env.update(DJANGO_SETTINGS_MODULE="enigma_site.settings", SECRET_KEY="x" * 50,
               DATABASE_URL="sqlite:///:memory:", REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
