"""Per-client rate limits (an in-process token bucket) and the upload size limit (ASGI)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TokenBucket:
    """``rate_per_minute`` tokens a minute per key, at most ``burst`` saved up.

    In-process: each server process limits on its own (run one process, or put a shared limiter
    in front, when that matters)."""

    def __init__(self, rate_per_minute: int, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(max(1, burst))
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 when a request may go ahead, else the seconds until one may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self.max_keys:
                self._prune(now)
            return wait

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate
        for k, (_, last) in list(self._buckets.items()):
            if now - last > full:
                del self._buckets[k]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit; an HTTPException so that
    FastAPI's body parsing passes it on (it turns other errors into 400) and it answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds the upload limit of {max_bytes} bytes")


def _problem_body(status: int, title: str, detail: str) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()


class UploadLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413: at once when Content-Length says so,
    else as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = _problem_body(
            413,
            "Request body too large",
            f"the request body exceeds the upload limit of {self.max_bytes} bytes",
        )
        headers: list[Any] = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
