"""The AI behind a small protocol: an OpenAI-compatible chat completions client.

Works with OpenAI, Ollama (``http://host:11434/v1``), vLLM and compatible Russian providers:
``AI_BASE_URL`` is the API root that ``/chat/completions`` is appended to.
Timeouts, connection errors, 429 and 5xx are retried with exponential backoff; other 4xx
fail at once with the provider's message. Nothing here knows about tickets.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)


class AIError(Exception):
    """The AI gave no usable answer. ``retryable``: worth trying again later."""

    retryable = True


class AIUnavailable(AIError):
    """Timeout, connection refused, 429 or 5xx — after all retries."""


class AIRequestRejected(AIError):
    """4xx other than 429: wrong key, model or request. Retrying will not help."""

    retryable = False

    def __init__(self, status: int, message: str):
        self.status = status
        if status == 0:  # refused before any HTTP exchange
            super().__init__(f"Запрос к ИИ невозможен: {message}")
            return
        hint = {401: "неверный AI_API_KEY", 403: "доступ запрещён", 404: "неверный AI_BASE_URL или AI_MODEL",
                413: "слишком длинный запрос"}.get(status, "запрос отклонён")
        super().__init__(f"ИИ отклонил запрос: HTTP {status} ({hint}): {message}")


class AIBadResponse(AIError):
    """The server answered 200 with something that is not a chat completion."""


@dataclass
class ChatMessage:
    role: str
    content: str


@dataclass
class ChatResult:
    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    attempts: int = 1
    errors: list[str] = field(default_factory=list)  # transient errors retried before success


class ChatClient(Protocol):
    model: str

    def complete(self, messages: list[ChatMessage], *, temperature: float = 0.2,
                 max_tokens: int | None = None) -> ChatResult: ...


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or error)[:500]
        if error:
            return str(error)[:500]
        return str(body)[:500]
    except ValueError:
        return response.text[:500]


class OpenAICompatibleClient:
    def __init__(self, base_url: str, api_key: str = "", model: str = "gpt-4o-mini", timeout: float = 60.0,
                 retries: int = 2, backoff: float = 1.0, max_backoff: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def _delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None and response.headers.get("Retry-After", "").isdigit():
            return min(float(response.headers["Retry-After"]), self.max_backoff)
        base = self.backoff * (2 ** (attempt - 1))
        return min(base + random.uniform(0, base / 4), self.max_backoff)

    def complete(self, messages: list[ChatMessage], *, temperature: float = 0.2,
                 max_tokens: int | None = None) -> ChatResult:
        payload: dict = {"model": self.model, "temperature": temperature,
                         "messages": [{"role": m.role, "content": m.content} for m in messages]}
        if max_tokens:
            payload["max_tokens"] = max_tokens
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        errors: list[str] = []
        started = time.perf_counter()
        with httpx.Client(timeout=httpx.Timeout(self.timeout), headers=headers) as client:
            for attempt in range(1, self.retries + 2):
                response = None
                try:
                    response = client.post(url, json=payload)
                except httpx.TimeoutException:
                    errors.append(f"таймаут {self.timeout:g} с")
                except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
                    # A misconfigured AI_BASE_URL: no retry will fix it.
                    raise AIRequestRejected(0, f"неверный AI_BASE_URL {self.base_url!r}: {exc}") from exc
                except httpx.TransportError as exc:
                    errors.append(f"нет соединения: {exc}")
                else:
                    if response.status_code in (408, 429) or response.status_code >= 500:
                        errors.append(f"HTTP {response.status_code}: {_error_message(response)}")
                    elif response.status_code >= 400:
                        raise AIRequestRejected(response.status_code, _error_message(response))
                    else:
                        result = self._parse(response)
                        result.latency_ms = (time.perf_counter() - started) * 1000
                        result.attempts, result.errors = attempt, errors
                        return result
                if attempt <= self.retries:
                    delay = self._delay(attempt, response)
                    logger.warning("AI attempt %s failed (%s); retrying in %.1f s", attempt, errors[-1], delay)
                    time.sleep(delay)
        raise AIUnavailable(f"ИИ недоступен после {len(errors)} попыток: " + "; ".join(errors))

    def _parse(self, response: httpx.Response) -> ChatResult:
        try:
            body = response.json()
            choice = body["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AIBadResponse(f"ИИ вернул ответ не в формате chat completions: {response.text[:300]!r}") from exc
        if not isinstance(text, str) or not text.strip():
            raise AIBadResponse("ИИ вернул пустой ответ")
        usage = body.get("usage") or {}
        return ChatResult(text=text.strip(), model=str(body.get("model") or self.model),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))


def get_chat_client() -> ChatClient | None:
    """The configured client, or None when ``AI_BASE_URL`` is empty (template drafts)."""
    if not settings.AI_BASE_URL:
        return None
    return OpenAICompatibleClient(
        settings.AI_BASE_URL, settings.AI_API_KEY, settings.AI_MODEL, settings.AI_TIMEOUT,
        retries=getattr(settings, "AI_RETRIES", 2), backoff=getattr(settings, "AI_RETRY_BACKOFF", 1.0),
    )
