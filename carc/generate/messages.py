"""A conversation with a model, as data: messages of text and images, and a request's identity.

A request has two forms: the wire form for an OpenAI-compatible server (images as PNG data URLs) and
the record form for a transcript (images by pixel hash). The request's hash is the SHA-256 of the
record form's canonical JSON, so a replay recognises a request whatever PNG encoder made the bytes.

>>> Message("user", "hi").record()
{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from carc.generate.images import TaskImage


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user" or "assistant"
    text: str
    images: tuple[TaskImage, ...] = ()

    def record(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.text}]
        parts.extend({"type": "image", "role": image.role, "sha256": image.digest} for image in self.images)
        return {"role": self.role, "content": parts}

    def wire(self) -> dict[str, Any]:
        if not self.images:
            return {"role": self.role, "content": self.text}
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.text}]
        parts.extend({"type": "image_url", "image_url": {"url": image.data_url()}} for image in self.images)
        return {"role": self.role, "content": parts}


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions call. `label` says where it is in the run; it is not part of the request."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    label: str = field(default="", compare=False)

    def params(self) -> dict[str, Any]:
        """Optional sampling parameters, sent only when set (some servers refuse ones they lack)."""
        out: dict[str, Any] = {}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        return out

    def record(self) -> dict[str, Any]:
        return {"model": self.model, "messages": [m.record() for m in self.messages], **self.params()}

    def wire_messages(self) -> list[dict[str, Any]]:
        return [m.wire() for m in self.messages]

    @property
    def digest(self) -> str:
        return record_digest(self.record())


def record_digest(record: dict[str, Any]) -> str:
    """SHA-256 of a request record's canonical JSON."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str | None = None
    usage: dict[str, int] | None = None

    def record(self) -> dict[str, Any]:
        return {"text": self.text, "finish_reason": self.finish_reason, "usage": self.usage}
