"""Where replies come from: any OpenAI-compatible chat-completions server, or a recorded transcript.

`OpenAIBackend` uses the openai SDK (OpenAI, vLLM, Ollama, llama.cpp server: `base_url`). The SDK
retries 408/409/429/5xx and connection errors with exponential backoff (honouring `Retry-After`);
carc adds a per-call timeout, a cap on the reply's size (read in chunks, never whole), and one-line
errors. The API key is redacted from every reply and every error text before anything else sees it.

`ReplayBackend` answers each request with the reply recorded for the same request hash (the n-th
time a hash is asked, the n-th reply recorded for it): offline and deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from carc.generate.messages import ChatReply, ChatRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
REDACTED = "[redacted API key]"


class BackendError(Exception):
    """A call that failed for good (server unreachable, key refused, unknown model, bad reply): one line."""


class Backend(Protocol):
    name: str

    def complete(self, request: ChatRequest) -> ChatReply: ...


def public_url(url: str) -> str:
    """The URL without user:password, for transcripts and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


class OpenAIBackend:
    """Chat completions through the openai SDK, with data-URL images."""

    name = "openai"

    def __init__(self, api_key: str | None, options: OpenAIOptions) -> None:
        import openai

        self._secret = api_key or ""
        self.options = options
        self.url = public_url(options.base_url)
        # A local server (Ollama, vLLM) needs no key; the SDK insists on one, so send a placeholder.
        self._client = openai.OpenAI(api_key=api_key or "no-key", base_url=options.base_url,
                                     timeout=options.timeout_s, max_retries=options.retries)

    def redact(self, text: str) -> str:
        return text.replace(self._secret, REDACTED) if self._secret else text

    def complete(self, request: ChatRequest) -> ChatReply:
        try:
            body = self._post(request)
        except BackendError as err:
            raise BackendError(self.redact(str(err))) from None
        except Exception as err:  # noqa: BLE001 - the SDK's errors, mapped to one line each
            raise BackendError(self.redact(self._describe(err, request.model))) from None
        return self._parse(body)

    def _post(self, request: ChatRequest) -> bytes:
        cap = self.options.max_response_bytes
        with self._client.chat.completions.with_streaming_response.create(
            model=request.model, messages=request.wire_messages(), **request.params(),  # type: ignore[arg-type]
        ) as response:
            return _read_capped(response.iter_bytes(), cap, self.url)

    def _parse(self, body: bytes) -> ChatReply:
        try:
            data = json.loads(body)
            choice = data["choices"][0]
            content = choice["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(f"{self.url}: the reply is not a chat completion: {one_line(self.redact(body[:200].decode('utf-8', 'replace')), 200)}") from None
        text = _content_text(content)
        if text is None:
            raise BackendError(f"{self.url}: the reply's message content is neither text nor a list of text parts")
        usage = data.get("usage") if isinstance(data, dict) else None
        return ChatReply(self.redact(text), _str_or_none(choice.get("finish_reason")), _usage(usage))

    def _describe(self, err: Exception, model: str) -> str:
        import openai

        retries = self.options.retries
        if isinstance(err, openai.APITimeoutError):
            return f"no reply from {self.url} within {self.options.timeout_s:g} s (tried {retries + 1} times; --timeout)"
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err
            return f"cannot reach {self.url}: {one_line(str(cause) or type(cause).__name__, 160)} (tried {retries + 1} times)"
        if isinstance(err, openai.AuthenticationError):
            return f"{self.url} refused the API key (401): {_server_message(err)}"
        if isinstance(err, openai.PermissionDeniedError):
            return f"{self.url} denied access (403): {_server_message(err)}"
        if isinstance(err, openai.NotFoundError):
            return f"{self.url} has no model {model!r} or no chat completions endpoint (404): {_server_message(err)}"
        if isinstance(err, openai.RateLimitError):
            return f"{self.url} kept rate-limiting (429) after {retries} retries: {_server_message(err)}"
        if isinstance(err, openai.APIStatusError):
            return f"{self.url} answered {err.status_code}: {_server_message(err)}"
        return f"{self.url}: {type(err).__name__}: {one_line(str(err), 200)}"


def _read_capped(chunks: Iterator[bytes], cap: int, url: str) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise BackendError(f"{url}: the reply is larger than {cap:,} bytes (--max-response-bytes); it was not read further")
    return bytes(body)


def _server_message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str):
            return one_line(message, 200)
    return one_line(str(getattr(err, "message", "") or err), 200)


def _content_text(content: Any) -> str | None:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in content):
        return "".join(p.get("text", "") for p in content)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _usage(usage: Any) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    picked = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
              if isinstance(usage.get(k), int) and not isinstance(usage.get(k), bool)}
    return picked or None


# ---- replay ---------------------------------------------------------------------------------------


class ReplayBackend:
    """Answers from a transcript's exchanges, matched by request hash."""

    name = "replay"

    def __init__(self, exchanges: list[tuple[str, str, dict[str, Any], ChatReply]], source: str, hint: str = "") -> None:
        """`exchanges`: (label, request hash, request record, reply) in recorded order; `hint` ends a miss's message."""
        self.source = source
        self.hint = hint
        self._replies: dict[str, list[ChatReply]] = {}
        self._recorded: dict[str, dict[str, Any]] = {}
        for label, digest, record, reply in exchanges:
            self._replies.setdefault(digest, []).append(reply)
            self._recorded.setdefault(label, record)
        self._asked: dict[str, int] = {}

    def complete(self, request: ChatRequest) -> ChatReply:
        digest = request.digest
        served = self._asked.get(digest, 0)
        replies = self._replies.get(digest, [])
        if served >= len(replies):
            raise BackendError(f"replay: the request for {request.label or 'this call'} (sha256 {digest[:12]}) is not in "
                               f"{self.source}{self._difference(request)}{self.hint}")
        self._asked[digest] = served + 1
        return replies[served]

    def _difference(self, request: ChatRequest) -> str:
        recorded = self._recorded.get(request.label)
        if recorded is None:
            return ": the recorded session made no such call"
        return ": " + first_difference(recorded, request.record())


def first_difference(recorded: dict[str, Any], asked: dict[str, Any]) -> str:
    """Where a request first departs from the recorded one, in words."""
    if recorded.get("model") != asked.get("model"):
        return f"model {asked.get('model')!r} where {recorded.get('model')!r} was recorded"
    old, new = recorded.get("messages", []), asked.get("messages", [])
    for i, (a, b) in enumerate(zip(old, new)):
        if a == b:
            continue
        texts = [json.dumps(m, sort_keys=True) for m in (a, b)]
        at = next((k for k, (x, y) in enumerate(zip(*texts)) if x != y), min(map(len, texts)))
        return f"message {i + 1} ({b.get('role')}) differs near {one_line(texts[1][max(0, at - 40): at + 40], 100)!r}"
    if len(old) != len(new):
        return f"{len(new)} messages where {len(old)} were recorded"
    return "sampling parameters differ"
