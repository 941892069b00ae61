"""Enigma settings. Every value comes from the environment (see ``.env.example``)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env("ENIGMA_DATA_DIR", default=str(BASE_DIR / "data")))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="" if not DEBUG else "dev-insecure-secret-key")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for local development).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_rq",
    "channels",
    "tickets",
    "nlp",
    "knowledge",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "enigma_site.urls"
WSGI_APPLICATION = "enigma_site.wsgi.application"
ASGI_APPLICATION = "enigma_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Services: real PostgreSQL and Redis; embedded ones when no URL is given -------------
if "DATABASE_URL" not in env.ENVIRON:
    from enigma_site import embedded

    env.ENVIRON["DATABASE_URL"] = embedded.database_url(DATA_DIR)
if "REDIS_URL" not in env.ENVIRON:
    from enigma_site import embedded

    env.ENVIRON["REDIS_URL"] = embedded.redis_url(DATA_DIR)

DATABASES = {"default": env.db("DATABASE_URL")}
# 0: under ASGI every request runs in its own thread, and persistent connections pile up.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env("REDIS_URL")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
    # NLP and AI drafting: slower, model-heavy jobs get their own queue and worker.
    "nlp": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
}
RQ_SHOW_ADMIN_LINK = True
# We schedule enqueues with transaction.on_commit ourselves and need the job id back.
RQ = {"COMMIT_MODE": "auto"}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The desk works in Russian whatever the browser asks for (no LocaleMiddleware).
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский")]
TIME_ZONE = env("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": env("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security (production defaults; DEBUG relaxes nothing silently) ----------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Mail in (IMAP) ----------------------------------------------------------------------
IMAP_HOST = env("IMAP_HOST", default="")
IMAP_PORT = env.int("IMAP_PORT", default=0)  # 0: 993 for ssl, 143 otherwise
IMAP_USER = env("IMAP_USER", default="")
IMAP_PASSWORD = env("IMAP_PASSWORD", default="")
IMAP_SECURITY = env("IMAP_SECURITY", default="ssl")  # ssl | starttls | none
IMAP_SSL_VERIFY = env.bool("IMAP_SSL_VERIFY", default=True)
IMAP_FOLDER = env("IMAP_FOLDER", default="INBOX")
IMAP_MOVE_TO = env("IMAP_MOVE_TO", default="")  # optional folder for processed mail
IMAP_TIMEOUT = env.int("IMAP_TIMEOUT", default=30)
IMAP_FETCH_BATCH = env.int("IMAP_FETCH_BATCH", default=50)
IMAP_POLL_INTERVAL = env.int("IMAP_POLL_INTERVAL", default=60)
# Worker processes that parse MIME while the poller stores the previous batch (0: inline).
INGEST_PARSE_WORKERS = env.int("INGEST_PARSE_WORKERS", default=1)

# Largest raw message accepted; bigger mails are stored raw but not parsed (marked for staff).
MAIL_MAX_PARSE_BYTES = env.int("MAIL_MAX_PARSE_BYTES", default=50 * 1024 * 1024)

# --- Mail out (SMTP) ---------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="support@enigma.local")
SUPPORT_NAME = env("SUPPORT_NAME", default="Служба поддержки Enigma")
DEFAULT_FROM_EMAIL = SUPPORT_EMAIL
SERVER_EMAIL = SUPPORT_EMAIL
REPLY_MAX_ATTEMPTS = env.int("REPLY_MAX_ATTEMPTS", default=4)
# Seconds between SMTP retries (RQ Retry; needs a worker started with --with-scheduler).
REPLY_RETRY_INTERVALS = [int(s) for s in env.list("REPLY_RETRY_INTERVALS", default=["30", "120", "600"])]
# Where staff open a ticket (used in notifications); no trailing slash.
SITE_URL = env("SITE_URL", default="http://localhost:8000")

# --- AI, NLP, knowledge, Telegram (used by their apps) ------------------------------------
AI_BASE_URL = env("AI_BASE_URL", default="")
AI_API_KEY = env("AI_API_KEY", default="")
AI_MODEL = env("AI_MODEL", default="gpt-4o-mini")
AI_TIMEOUT = env.float("AI_TIMEOUT", default=60.0)
AI_ALLOW_PERSONAL_DATA = env.bool("AI_ALLOW_PERSONAL_DATA", default=False)
AI_RETRIES = env.int("AI_RETRIES", default=2)  # HTTP retries inside one draft attempt
AI_RETRY_BACKOFF = env.float("AI_RETRY_BACKOFF", default=1.0)
# Seconds between whole draft attempts (RQ Retry; needs a worker with --with-scheduler).
DRAFT_RETRY_INTERVALS = [int(s) for s in env.list("DRAFT_RETRY_INTERVALS", default=["30", "120", "600"])]
SENTIMENT_BACKEND = env("SENTIMENT_BACKEND", default="")
DOSTOEVSKY_MODEL_PATH = env("DOSTOEVSKY_MODEL_PATH", default="")
EMBEDDINGS_BACKEND = env("EMBEDDINGS_BACKEND", default="")  # "", huggingface:<model>, openai:<model>
EMBEDDINGS_BASE_URL = env("EMBEDDINGS_BASE_URL", default="")
EMBEDDINGS_API_KEY = env("EMBEDDINGS_API_KEY", default="")
EMBEDDINGS_THREADS = env.int("EMBEDDINGS_THREADS", default=1)
# Under ENIGMA_DATA_DIR (the compose volume): manuals dropped there are indexed. When the folder
# does not exist at all, build_knowledge_index indexes the shipped sample manuals (the demo).
KNOWLEDGE_DIR = Path(env("KNOWLEDGE_DIR", default=str(DATA_DIR / "knowledge_base")))
FAISS_INDEX_DIR = Path(env("FAISS_INDEX_DIR", default=str(DATA_DIR / "faiss_index")))
TELEGRAM_BOT_TOKEN = env("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_URL = env("TELEGRAM_API_URL", default="")
TELEGRAM_BOT_USERNAME = env("TELEGRAM_BOT_USERNAME", default="")  # for the t.me/<bot>?start=<code> link
EVENTS_CHANNEL = env("EVENTS_CHANNEL", default="enigma:events")
EVENTS_INCLUDE_PERSONAL_DATA = env.bool("EVENTS_INCLUDE_PERSONAL_DATA", default=False)

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Enigma API",
    "DESCRIPTION": "Support desk for gas-analyzer service: tickets, replies, NLP, knowledge.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- console/API/ops (issue 7) ---------------------------------------------------------------
INSTALLED_APPS += ["django_filters", "corsheaders", "django_prometheus"]
# Probes answer before host validation and the HTTPS redirect (container healthchecks use 127.0.0.1).
MIDDLEWARE.insert(0, "enigma_site.health.ProbeMiddleware")
MIDDLEWARE.insert(1, "django_prometheus.middleware.PrometheusBeforeMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.common.CommonMiddleware"), "corsheaders.middleware.CorsMiddleware")
MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")

# The SvelteKit front's origin(s), e.g. https://desk.example.ru; token auth needs no credentials.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
CORS_URLS_REGEX = r"^/api/.*$"

REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"] = ["django_filters.rest_framework.DjangoFilterBackend"]
REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"] = "tickets.api.pagination.TicketPagination"
SPECTACULAR_SETTINGS["COMPONENT_SPLIT_REQUEST"] = True
SPECTACULAR_SETTINGS["SCHEMA_PATH_PREFIX"] = r"/api/v1"
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "TicketStatusEnum": "tickets.models.Ticket.Status",
    "OutboundStatusEnum": "tickets.models.OutboundEmail.Status",
}

# /metrics: open on the internal network by default; with METRICS_TOKEN set Prometheus must
# send "Authorization: Bearer <token>".
METRICS_TOKEN = env("METRICS_TOKEN", default="")
PROMETHEUS_METRIC_NAMESPACE = ""
# Plain-HTTP probes from the orchestrator must not be redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# /readyz flags the mailbox as stale after this many seconds without a successful poll.
MAILBOX_STALE_AFTER = env.int("MAILBOX_STALE_AFTER", default=900)
# Token first: an anonymous API call gets 401 with "WWW-Authenticate: Token" (the front logs in);
# a logged-in non-staff user gets 403.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "rest_framework.authentication.TokenAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
# The ticket list's total is reused this many seconds (0: count every time); see tickets/api/pagination.py.
API_COUNT_CACHE_SECONDS = env.int("API_COUNT_CACHE_SECONDS", default=5)
