# Enigma: one image for web (ASGI), RQ workers, the mailbox poller and the Telegram bot.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ENIGMA_DATA_DIR=/data MEDIA_ROOT=/data/media STATIC_ROOT=/app/staticfiles

RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system enigma && useradd --system --gid enigma --home /app enigma

WORKDIR /app
COPY requirements*.txt ./
RUN pip install -r requirements.txt \
    && if [ -f requirements-nodeps.txt ]; then pip install --no-deps -r requirements-nodeps.txt; fi

# Dostoevsky's pretrained sentiment model (the image may download it; runtime never does).
ARG DOSTOEVSKY_MODEL_URL=https://storage.b-labs.pro/models/fasttext-social-network-model.bin
RUN mkdir -p /models && (curl -fsSL "$DOSTOEVSKY_MODEL_URL" -o /models/fasttext-social-network-model.bin \
    || echo "Dostoevsky model not downloaded: the offline sentiment backend will be used")
ENV DOSTOEVSKY_MODEL_PATH=/models/fasttext-social-network-model.bin

COPY . .
RUN SECRET_KEY=build DATABASE_URL=sqlite:////tmp/build.db REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /data && chown -R enigma:enigma /data

USER enigma
EXPOSE 8000
# Liveness only (the process serves HTTP); compose checks readiness (/readyz) for the web service.
# Probes bypass ALLOWED_HOSTS and the HTTPS redirect (enigma_site.health.ProbeMiddleware).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# --proxy-headers: client addresses and scheme from the TLS proxy (set BEHIND_TLS_PROXY=true too).
CMD ["uvicorn", "enigma_site.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers", "--no-server-header"]
