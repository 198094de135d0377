"""Transcripts: every request and reply of a run, as JSON lines, with the images stored once by hash.

    transcript.jsonl   line 1: {"type": "header", ...}  (how it was made, env, model, settings, images)
                       then:   {"type": "exchange", "candidate", "round", "label", "request_sha256",
                                "request": {model, messages (images by sha256), params}, "response": {...}}
    images/<sha256>.png

A transcript is untrusted input when read back: sizes are capped, every field is type-checked,
each stored request must hash to its recorded `request_sha256`, and each image must decode to
pixels with the hash it is named by. No time or machine detail is written, so replaying a
transcript writes the same file byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carc.generate.images import ImageError, TaskImage, decode_png, pixel_digest, write_atomic, write_png
from carc.generate.messages import ChatReply, ChatRequest, record_digest

SCHEMA = "carc-transcript/1"
TRANSCRIPT_FILE = "transcript.jsonl"
IMAGE_DIR = "images"
MAX_TRANSCRIPT_BYTES = 64 * 1024 * 1024
MAX_EXCHANGES = 10_000


class TranscriptError(Exception):
    """A transcript that cannot be used: the file (and line) and the reason."""


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


@dataclass
class TranscriptWriter:
    """Collects a run's exchanges and rewrites the file atomically after each one."""

    folder: Path
    header: dict[str, Any]
    lines: list[str] = field(default_factory=list)

    def save_images(self, images: tuple[TaskImage, ...]) -> None:
        for image in images:
            path = self.folder / IMAGE_DIR / f"{image.digest}.png"
            if not path.exists():
                write_png(image.pixels, path)

    def add(self, candidate: int, round_: int, request: ChatRequest, reply: ChatReply) -> None:
        self.lines.append(_dump({
            "type": "exchange", "candidate": candidate, "round": round_, "label": request.label,
            "request_sha256": request.digest, "request": request.record(), "response": reply.record(),
        }))
        self.save()

    def save(self) -> None:
        text = "\n".join([_dump({"type": "header", "schema": SCHEMA, **self.header}), *self.lines]) + "\n"
        write_atomic(self.folder / TRANSCRIPT_FILE, text.encode("ascii"))


@dataclass(frozen=True)
class Exchange:
    candidate: int
    round: int
    label: str
    digest: str
    request: dict[str, Any]
    reply: ChatReply


@dataclass(frozen=True)
class Transcript:
    path: Path
    header: dict[str, Any]
    exchanges: tuple[Exchange, ...]
    images: dict[str, TaskImage]  # "start" and "goal"


def transcript_file(path: str | Path) -> Path:
    """A transcript's JSONL file, given it or the folder holding it."""
    path = Path(path)
    return path / TRANSCRIPT_FILE if path.is_dir() else path


def load_transcript(path: str | Path) -> Transcript:
    file = transcript_file(path)
    try:
        size = file.stat().st_size
        if size > MAX_TRANSCRIPT_BYTES:
            raise TranscriptError(f"{file}: larger than {MAX_TRANSCRIPT_BYTES // (1024 * 1024)} MB")
        raw = file.read_bytes()
    except OSError as err:
        raise TranscriptError(f"{file}: cannot read ({err.strerror or err})") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise TranscriptError(f"{file}: not UTF-8 text") from None
    records = [_parse_line(file, i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not records or records[0].get("type") != "header":
        raise TranscriptError(f"{file}:1: the first line must be the header")
    header = records[0]
    if header.get("schema") != SCHEMA:
        raise TranscriptError(f"{file}:1: schema must be {SCHEMA!r}, not {header.get('schema')!r}")
    if len(records) - 1 > MAX_EXCHANGES:
        raise TranscriptError(f"{file}: more than {MAX_EXCHANGES} exchanges")
    exchanges = tuple(_exchange(file, i + 2, r) for i, r in enumerate(records[1:]))
    images = {role: _image(file, header, role) for role in ("start", "goal")}
    return Transcript(file, header, exchanges, images)


def _parse_line(file: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as err:
        raise TranscriptError(f"{file}:{number}: not JSON ({err})") from None
    if not isinstance(record, dict):
        raise TranscriptError(f"{file}:{number}: a line must be a JSON object")
    return record


def _field(file: Path, number: int, record: dict[str, Any], name: str, kind: type) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TranscriptError(f"{file}:{number}: field {name!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _exchange(file: Path, number: int, record: dict[str, Any]) -> Exchange:
    if record.get("type") != "exchange":
        raise TranscriptError(f"{file}:{number}: field 'type' must be 'exchange'")
    request = _field(file, number, record, "request", dict)
    digest = _field(file, number, record, "request_sha256", str)
    if record_digest(request) != digest:
        raise TranscriptError(f"{file}:{number}: the request does not hash to its request_sha256 (edited or damaged)")
    response = _field(file, number, record, "response", dict)
    text = _field(file, number, response, "text", str)
    finish = response.get("finish_reason")
    usage = response.get("usage")
    if finish is not None and not isinstance(finish, str):
        raise TranscriptError(f"{file}:{number}: field 'finish_reason' must be a string or null")
    if usage is not None and not (isinstance(usage, dict) and all(isinstance(v, int) for v in usage.values())):
        raise TranscriptError(f"{file}:{number}: field 'usage' must be an object of whole numbers or null")
    return Exchange(_field(file, number, record, "candidate", int), _field(file, number, record, "round", int),
                    _field(file, number, record, "label", str), digest, request, ChatReply(text, finish, usage))


def _image(file: Path, header: dict[str, Any], role: str) -> TaskImage:
    entry = header.get("images", {}).get(role) if isinstance(header.get("images"), dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64:
        raise TranscriptError(f"{file}:1: field 'images.{role}' must give a sha256")
    shape = entry.get("frame_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and 0 < v <= 4096 for v in shape)):
        raise TranscriptError(f"{file}:1: field 'images.{role}.frame_shape' must be [height, width]")
    digest = entry["sha256"]
    if not all(c in "0123456789abcdef" for c in digest):
        raise TranscriptError(f"{file}:1: field 'images.{role}.sha256' is not a hex digest")
    path = file.parent / IMAGE_DIR / f"{digest}.png"
    try:
        pixels = decode_png(path.read_bytes(), str(path))
    except OSError as err:
        raise TranscriptError(f"{path}: cannot read ({err.strerror or err})") from None
    except ImageError as err:
        raise TranscriptError(str(err)) from None
    if pixel_digest(pixels) != digest:
        raise TranscriptError(f"{path}: the pixels do not hash to the file's name (edited or damaged)")
    return TaskImage(role, pixels, (shape[0], shape[1]))


def image_header(images: tuple[TaskImage, ...]) -> dict[str, Any]:
    return {image.role: {"sha256": image.digest, "frame_shape": list(image.frame_shape)} for image in images}
