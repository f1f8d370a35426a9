"""An OpenAI-compatible ``/v1/chat/completions`` client for evaluation runs (httpx, async).

* a concurrency limit (at most ``concurrency`` requests in flight, retries included);
* retries with exponential backoff and jitter on 429, 408, 5xx, timeouts and connection
  errors, honouring ``Retry-After`` (seconds or an HTTP date, capped at ``backoff_max_s``);
* a per-request timeout; other 4xx answers fail at once (a wrong key, model or URL);
* an input-moderation rejection (a 400 whose body names a content filter or data inspection,
  as several Chinese services answer a blocked question) is returned as a blocked answer,
  because the *service* declined it.

The base URL may end in ``/v1`` (as the OpenAI SDK takes it), in ``/chat/completions``, or be
the bare server address (``/v1/chat/completions`` is appended).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from synthlabel.errors import SynthlabelError

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_BLOCKED_BODY = re.compile(
    r"content[_ -]?filter|content[_ -]?policy|data[_ -]?inspection|moderation|sensitive|"
    r"敏感|违规|不当内容",
    re.IGNORECASE,
)


class EndpointError(SynthlabelError):
    """A request failed for good (after the retries, or with a status that is not retried)."""

    def __init__(self, message: str, *, url: str, attempts: int = 1, status: int | None = None):
        super().__init__(message, path=url)
        self.attempts = attempts
        self.status = status


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    model: str
    api_key: str | None = None
    temperature: float | None = 0.0
    system_prompt: str | None = None
    max_tokens: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        if base.endswith("/v1"):
            return base + "/chat/completions"
        return base + "/v1/chat/completions"

    def scope(self) -> str:
        """What an answer depends on besides the question: the cache scope of a run file."""
        parts = [self.url, self.model, self.system_prompt or "", self.temperature, self.max_tokens]
        blob = json.dumps(parts, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """For results: never the API key."""
        return {
            "url": self.url,
            "model": self.model,
            "temperature": self.temperature,
            "system_prompt": self.system_prompt,
            "max_tokens": self.max_tokens,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
        }


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    finish_reason: str | None  # "stop", "length", "content_filter", "blocked" (input rejected)
    attempts: int
    latency_ms: int
    refusal: str | None = None  # OpenAI's message.refusal, when the service sets it

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "refusal": self.refusal,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChatAnswer:
        return cls(
            text=str(d.get("text") or ""),
            finish_reason=d.get("finish_reason"),
            attempts=int(d.get("attempts", 1)),
            latency_ms=int(d.get("latency_ms", 0)),
            refusal=d.get("refusal"),
        )


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (None when absent or unreadable)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ref = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - ref).total_seconds())


def _content(message: dict[str, Any]) -> str:
    c = message.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # content parts
        return "".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
    return ""


class ChatClient:
    """``async with ChatClient(config, concurrency=8) as c: answer = await c.ask("...")``."""

    def __init__(
        self,
        config: EndpointConfig,
        *,
        concurrency: int = 8,
        transport: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.config = config
        self.concurrency = concurrency
        self._sem = asyncio.Semaphore(concurrency)
        self._transport = transport
        self._rng = rng or random.Random()
        self._client: Any = None
        self.requests = 0  # HTTP requests sent, retries included
        self.retries = 0

    async def __aenter__(self) -> ChatClient:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - an extra not installed
            raise SynthlabelError(
                "the TC260 runner needs httpx: pip install 'synthlabel[tc260]'"
            ) from exc
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        headers = {"Content-Type": "application/json", "User-Agent": "synthlabel-tc260"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        self._client = httpx.AsyncClient(
            limits=limits, headers=headers, transport=self._transport, trust_env=False
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ask(self, question: str, *, system_prompt: str | None = None) -> ChatAnswer:
        messages: list[dict[str, str]] = []
        system = system_prompt if system_prompt is not None else self.config.system_prompt
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": question})
        return await self.complete(messages)

    async def complete(self, messages: list[dict[str, str]]) -> ChatAnswer:
        import httpx

        if self._client is None:
            raise RuntimeError("use ChatClient as an async context manager")
        cfg = self.config
        body: dict[str, Any] = {"model": cfg.model, "messages": messages, "stream": False}
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        last = "no attempt"
        status: int | None = None
        for attempt in range(1, cfg.max_retries + 2):
            wait: float | None = None
            async with self._sem:
                self.requests += 1
                t0 = time.monotonic()
                try:
                    resp = await self._client.post(cfg.url, json=body, timeout=cfg.timeout_s)
                except httpx.TimeoutException:
                    last, status = f"timed out after {cfg.timeout_s:g} s", None
                except httpx.TransportError as exc:
                    last, status = f"connection failed: {exc or type(exc).__name__}", None
                else:
                    ms = int((time.monotonic() - t0) * 1000)
                    status = resp.status_code
                    if status == 200:
                        try:
                            data = resp.json()
                            choice = data["choices"][0]
                            msg = choice.get("message") or {}
                            return ChatAnswer(
                                text=_content(msg),
                                finish_reason=choice.get("finish_reason"),
                                attempts=attempt,
                                latency_ms=ms,
                                refusal=msg.get("refusal") or None,
                            )
                        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                            last = "HTTP 200 without a chat completion in the body"
                    elif status in RETRY_STATUSES:
                        last = f"HTTP {status}"
                        wait = retry_after_seconds(resp.headers.get("retry-after"))
                    elif status == 400 and _BLOCKED_BODY.search(resp.text[:2000]):
                        return ChatAnswer("", "blocked", attempt, ms)
                    else:
                        snippet = " ".join(resp.text[:200].split())
                        raise EndpointError(
                            f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}",
                            url=cfg.url,
                            attempts=attempt,
                            status=status,
                        )
            if attempt > cfg.max_retries:
                break
            self.retries += 1
            if wait is None:
                wait = cfg.backoff_s * 2 ** (attempt - 1) * self._rng.uniform(0.5, 1.0)
            await asyncio.sleep(min(wait, cfg.backoff_max_s))
        raise EndpointError(
            f"{last} (gave up after {cfg.max_retries + 1} attempts)",
            url=cfg.url,
            attempts=cfg.max_retries + 1,
            status=status,
        )
