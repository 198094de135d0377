"""A local chat-completions server that answers from a script: no model, real HTTP.

It speaks the OpenAI chat-completions API on 127.0.0.1 at a free port, so carc's real backend (the
openai SDK over its real transport) talks to it. Each POST takes the next scripted answer: a reply
text, an HTTP error, a delay, an oversized body, or the caller's own API key echoed back. Every
request body is kept for inspection. It is how the bundled transcript was recorded
(`python -m carc.generate.scripted OUT_DIR`) and what the generation tests talk to.

>>> with ScriptedServer([Scripted(text="hello")]) as server:    # doctest: +SKIP
...     server.base_url                                         # 'http://127.0.0.1:PORT/v1'
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from carc.core.resources import example_path


@dataclass(frozen=True)
class Scripted:
    """One scripted answer. `text`: a chat completion with this content ("{key}" becomes the caller's
    bearer token). `status` other than 200: an error body. `delay_s`: wait first. `pad_bytes`: make the
    body this large."""

    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    pad_bytes: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    usage: dict[str, int] | None = None


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    authorization: str | None


@dataclass
class _State:
    script: list[Scripted]
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _completion(text: str, usage: dict[str, int] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read stderr
        return

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        state = self.server.state
        with state.lock:
            state.seen.append(Seen(self.path, body, self.headers.get("Authorization")))
            answer = state.script.pop(0) if state.script else Scripted(text="script exhausted", status=400)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        self._answer(answer)

    def _answer(self, answer: Scripted) -> None:
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        text = answer.text.replace("{key}", token)
        if answer.status != 200:
            payload = json.dumps({"error": {"message": text or f"scripted status {answer.status}", "type": "scripted"}}).encode()
        else:
            payload = json.dumps(_completion(text + " " * answer.pad_bytes, answer.usage)).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, size cap)
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class ScriptedServer:
    """Context manager: a server on 127.0.0.1 at a free port, answering POSTs from `script` in order."""

    def __init__(self, script: list[Scripted]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(list(script))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def seen(self) -> list[Seen]:
        return self._server.state.seen

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# ---- the repair script: four replies a model might plausibly give for DoorKey ------------------

ANALYSIS = ("Start: the red agent in the left room, a yellow key on the floor, a locked yellow door in the wall, "
            "the green goal square in the bottom-right corner. Goal: the agent stands on the green square. "
            "Sub-tasks: pick up the key (it disappears from the floor), open the door (its dark locked "
            "interior is gone), reach the goal (agent and goal in one cell).")


def _reply(analysis: str, program: str) -> str:
    return f"{analysis}\n\n```carc\n{program.strip()}\n```\n"


def repair_script() -> list[str]:
    """Four replies: a syntax error, a type error, a goal that fires on the key, and the right program."""
    doorkey = example_path("minigrid/doorkey.car").read_text(encoding="utf-8")
    syntax = doorkey.replace("bonus 0.2 : not locked(yellow_door_inside)", "bonus 0.2 : locked(yellow_door_inside) = false")
    typed = doorkey.replace("bonus 0.2 : not exists(key)", "bonus 0.2 : not key")
    wrong = example_path("wrong/goal_on_key.car").read_text(encoding="utf-8")
    if syntax == doorkey or typed == doorkey:
        raise RuntimeError("examples/minigrid/doorkey.car changed: update carc.generate.scripted.repair_script")
    return [
        _reply(ANALYSIS, syntax),
        _reply("Fixed the comparison: `not` instead of `= false`.", typed),
        _reply("The goal image shows the agent where the key was; a simpler program: the goal is reaching that spot.", wrong),
        _reply("The goal check must test the green goal square itself, not the key's old position.", doorkey),
    ]


BUNDLED_MADE_BY = ("recorded by `python -m carc.generate.scripted`: carc generate against carc.generate.scripted, "
                   "a local chat-completions server on 127.0.0.1 answering from a fixed script of four replies "
                   "(a syntax error, a type error, a goal that fires on the key, the bundled doorkey.car); "
                   "no model was involved")


def record_bundled(out: Path) -> int:
    """Record the bundled DoorKey transcript into `out`, replacing what it holds (a fresh run; the
    summary says what happened)."""
    from carc.generate.backends import OpenAIBackend, OpenAIOptions
    from carc.generate.run import env_inputs, generate
    from carc.generate.settings import GenerateSettings

    settings = GenerateSettings(env_id="MiniGrid-DoorKey-5x5-v0", model="scripted", rounds=4)
    with ScriptedServer([Scripted(text=t) for t in repair_script()]) as server:
        backend = OpenAIBackend(None, OpenAIOptions(base_url=server.base_url, retries=0))
        result = generate(settings, backend, env_inputs(settings), out, lambda line: print(line, file=sys.stderr),
                          made_by=BUNDLED_MADE_BY, force=True)
    print(json.dumps(result.summary["totals"]), file=sys.stderr)
    return 0 if result.outcome.verified else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m carc.generate.scripted OUT_DIR  (records the bundled DoorKey transcript)", file=sys.stderr)
        sys.exit(2)
    sys.exit(record_bundled(Path(sys.argv[1])))
