"""A local HTTP server that speaks the Telegram Bot API (the subset the bot uses) and records
every request. Tests point the real bot at it through ``TELEGRAM_API_URL``.

It runs inside an asyncio loop (the bot's); tests in other threads feed updates with
:meth:`push_update` and wait for requests with :meth:`wait_for`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

BOT_ID = 777000111
BOT_USERNAME = "enigma_test_bot"


@dataclass
class ApiRequest:
    method: str
    params: dict
    at: float = field(default_factory=time.perf_counter)  # perf_counter when received


def _decode(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram:
    def __init__(self):
        self.requests: list[ApiRequest] = []
        self._cond = threading.Condition()
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._failures: dict[str, list[tuple[int, str, dict]]] = {}
        self._new_update: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0

    # --- server ---
    async def start(self) -> FakeTelegram:
        self.loop = asyncio.get_running_loop()
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {k: _decode(v) for k, v in (await request.post()).items() if isinstance(v, str)}
        if method != "getUpdates":
            with self._cond:
                self.requests.append(ApiRequest(method, params))
                self._cond.notify_all()
        failure = self._pop_failure(method)
        if failure:
            status, description, extra = failure
            return web.json_response({"ok": False, "error_code": status, "description": description, **extra}, status=status)
        handler = getattr(self, f"_api_{method}", None)
        result = await handler(params) if handler else True
        return web.json_response({"ok": True, "result": result})

    def _pop_failure(self, method: str):
        with self._cond:
            queue = self._failures.get(method)
            return queue.pop(0) if queue else None

    async def _api_getMe(self, params):
        return {"id": BOT_ID, "is_bot": True, "first_name": "Enigma", "username": BOT_USERNAME}

    async def _api_getUpdates(self, params):
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self._cond:
                ready = [u for u in self._updates if u["update_id"] >= offset]
            if ready or time.monotonic() >= deadline:
                return ready
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                pass

    def _message(self, params, message_id=None):
        chat_id = int(params["chat_id"])
        return {"message_id": message_id or next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, "from": {"id": BOT_ID, "is_bot": True, "first_name": "Enigma"},
                "text": params.get("text", "")}

    async def _api_sendMessage(self, params):
        return self._message(params)

    async def _api_editMessageText(self, params):
        return self._message(params, message_id=int(params["message_id"]))

    # --- test side (thread-safe) ---
    def fail_next(self, method: str, status: int, description: str, **extra) -> None:
        """The next call of ``method`` fails (e.g. 429 with parameters={"retry_after": 1})."""
        with self._cond:
            self._failures.setdefault(method, []).append((status, description, extra))

    def push_update(self, update: dict) -> dict:
        update = {"update_id": next(self._update_ids), **update}
        with self._cond:
            self._updates.append(update)
        if self.loop:
            self.loop.call_soon_threadsafe(self._new_update.set)
        return update

    def wait_for(self, method: str, predicate=lambda r: True, timeout: float = 10.0, after: int = 0) -> ApiRequest:
        """The first recorded ``method`` request (from index ``after``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for req in self.requests[after:]:
                    if req.method == method and predicate(req):
                        return req
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.method, str(r.params)[:200]) for r in self.requests]
                    raise AssertionError(f"no {method} request matched in {timeout}s; requests: {seen}")
                self._cond.wait(left)

    def calls(self, method: str) -> list[ApiRequest]:
        with self._cond:
            return [r for r in self.requests if r.method == method]

    def mark(self) -> int:
        with self._cond:
            return len(self.requests)


# --- building updates ---------------------------------------------------------------------------

_ids = itertools.count(5000)


def user_json(user_id: int, username: str = "staff") -> dict:
    return {"id": user_id, "is_bot": False, "first_name": "Иван", "username": username}


def message_update(user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private") -> dict:
    chat_id = chat_id or user_id
    entities = []
    if text.startswith("/"):
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": {"message_id": next(_ids), "date": int(time.time()),
                        "chat": {"id": chat_id, "type": chat_type, "first_name": "Иван"},
                        "from": user_json(user_id), "text": text, "entities": entities}}


def callback_update(user_id: int, data: str, message_id: int, chat_id: int | None = None) -> dict:
    chat_id = chat_id or user_id
    return {"callback_query": {
        "id": str(next(_ids)), "from": user_json(user_id), "chat_instance": "ci", "data": data,
        "message": {"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"}, "text": "card"},
    }}


def buttons(request: ApiRequest) -> list[dict]:
    markup = request.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def button_texts(request: ApiRequest) -> list[str]:
    return [b["text"] for b in buttons(request)]
