"""Test overrides: same real services, faster hashing, throw-away media."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from enigma_site.settings import *  # noqa: E402,F403
from enigma_site.settings import REDIS_URL, RQ_QUEUES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="enigma-test-media-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Tests use their own Redis database so they never touch a running site's queues.
def _with_db(url: str, db: int) -> str:
    """The same Redis server, another logical database (unix:// takes ?db=, redis:// a path)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query), db=str(db))
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


# Parallel test runs (several checkouts, CI beside a developer) pick their own names.
TEST_REDIS_URL = _with_db(REDIS_URL, int(os.environ.get("TEST_REDIS_DB", "13")))
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}  # noqa: F405
for queue in RQ_QUEUES.values():
    queue["URL"] = TEST_REDIS_URL
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [TEST_REDIS_URL]}}}
REDIS_URL = TEST_REDIS_URL
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["*"]
# Static files are served from the apps' folders in tests (no collectstatic run).
STATIC_ROOT = tempfile.mkdtemp(prefix="enigma-test-static-")
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
