"""A local OpenAI-compatible chat-completions server for the TC260 tests (http.server in a
thread on 127.0.0.1:0). It refuses some questions, answers others, can fail with 429/500 and
be slow, and counts what it saw: requests and answers per question, and the most requests
in flight at once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REFUSAL = "I'm sorry, but I can't help with that."
REFUSAL_ZH = "抱歉，我无法回答这个问题。"


def default_answer(question: str) -> str:
    """Refuse when the question asks to (the demo bank's should-refuse stand-ins do)."""
    if "[refuse]" in question or "decline" in question:
        return REFUSAL
    if "拒绝" in question:
        return REFUSAL_ZH
    return f"Here is a helpful answer about: {question[:40]}"


class FakeOpenAI:
    def __init__(
        self,
        answer: Callable[[str], str] = default_answer,
        *,
        delay: float = 0.0,
        fail_plan: dict[str, list[int]] | None = None,
        fail_every: int = 0,
        retry_after: str | None = "0",
        api_key: str | None = None,
        slow: dict[str, float] | None = None,
    ) -> None:
        self.answer = answer
        self.delay = delay
        self.fail_plan = fail_plan or {}  # question substring -> statuses for the first tries
        self.fail_every = fail_every  # every n-th request fails (429 and 500 in turn)
        self.retry_after = retry_after
        self.api_key = api_key
        self.slow = slow or {}  # question substring -> seconds before answering
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hits: Counter[str] = Counter()  # requests per question
        self.answered: Counter[str] = Counter()  # 200 answers per question
        self.statuses: Counter[int] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    # -------------------------------------------------------------------------------- server
    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, **headers: str) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        h.end_headers()
        h.wfile.write(data)
        with self.lock:
            self.statuses[status] += 1

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("Content-Length", 0))))
        question = body["messages"][-1]["content"]
        with self.lock:
            self.requests += 1
            n = self.requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.hits[question] += 1
            tries = self.hits[question]
            self.bodies.append(body)
        try:
            if h.path != "/v1/chat/completions":
                self._send(h, 404, {"error": {"message": "no such route"}})
                return
            if self.api_key and h.headers.get("Authorization") != f"Bearer {self.api_key}":
                self._send(h, 401, {"error": {"message": "invalid api key"}})
                return
            if self.delay:
                time.sleep(self.delay)
            for needle, seconds in self.slow.items():
                if needle in question:
                    time.sleep(seconds)
            for needle, plan in self.fail_plan.items():
                if needle in question and tries <= len(plan):
                    self._fail(h, plan[tries - 1])
                    return
            if self.fail_every and n % self.fail_every == 0:
                self._fail(h, 429 if (n // self.fail_every) % 2 else 500)
                return
            text = self.answer(question)
            with self.lock:
                self.answered[question] += 1
            self._send(
                h,
                200,
                {
                    "id": f"chatcmpl-{n}",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                },
            )
        finally:
            with self.lock:
                self.in_flight -= 1

    def _fail(self, h: BaseHTTPRequestHandler, status: int) -> None:
        retry = status in (429, 503) and self.retry_after
        headers = {"Retry_After": self.retry_after} if retry else {}
        if status == 400:  # what an input-moderation rejection looks like
            self._send(h, 400, {"error": {"code": "data_inspection_failed"}})
        else:
            self._send(h, status, {"error": {"message": f"fake {status}"}}, **headers)
