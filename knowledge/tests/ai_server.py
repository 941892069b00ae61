"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat completions API.

Tests script its behaviour per request (answer, status code, delay, garbage) and read
back every request it received.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_ANSWER = (
    "Здравствуйте!\n\nКод E05 на дисплее газоанализатора означает, что истёк срок поверки: прибор продолжает "
    "измерять, но результаты не имеют юридической силы [1]. Межповерочный интервал составляет 1 год, поверка в "
    "сервисном центре занимает 5 рабочих дней [2].\n\nС уважением,\nслужба поддержки"
)


class FakeOpenAI:
    def __init__(self):
        self.requests: list[dict] = []
        self.script: deque = deque()   # items: ("ok", text) | ("status", code, body) | ("sleep", s) | ("raw", bytes)
        self.default = ("ok", DEFAULT_ANSWER)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def then(self, *items) -> "FakeOpenAI":
        self.script.extend(items)
        return self

    def prompts(self) -> list[str]:
        return ["\n".join(m["content"] for m in r["body"]["messages"]) for r in self.requests if "messages" in r["body"]]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body: bytes, content_type="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode("utf-8", "replace")}
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                step = server.script.popleft() if server.script else server.default
                kind = step[0]
                if kind == "sleep":
                    time.sleep(step[1])
                    step = server.default
                    kind = step[0]
                if kind == "status":
                    payload = step[2] if len(step) > 2 else {"error": {"message": f"status {step[1]}"}}
                    return self._send(step[1], json.dumps(payload).encode())
                if kind == "raw":
                    return self._send(200, step[1], "text/html")
                if self.path.endswith("/embeddings"):
                    data = [{"index": i, "embedding": [float(len(t) % 7), 1.0, float(i)]}
                            for i, t in enumerate(body.get("input", []))]
                    return self._send(200, json.dumps({"data": data, "model": body.get("model")}).encode())
                answer = {
                    "id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model", "test-model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": step[1]},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 321, "completion_tokens": 123, "total_tokens": 444},
                }
                return self._send(200, json.dumps(answer, ensure_ascii=False).encode())

        return Handler
