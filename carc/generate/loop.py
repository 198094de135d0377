"""The repair loop (the paper's feedback arrow): ask, judge, tell the model what failed, ask again.

K candidates are K independent conversations of at most R rounds each; a conversation stops at its
first verified program. The chosen program is a verified one (fewest random completions, then the
highest goal precision); if none verifies, the best candidate and the reason it failed. Every
request and reply goes to the transcript as it happens; the summary says, per round, how far the
reply got, its diagnostics and verification figures, tokens, and the time spent in the model and in
carc.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carc.generate.backends import Backend, BackendError
from carc.generate.evaluate import Evaluation, Evaluator, Say
from carc.generate.messages import ChatReply, ChatRequest, Message
from carc.generate.settings import GenerateSettings
from carc.generate.transcript import TranscriptWriter


@dataclass(frozen=True)
class RoundRecord:
    candidate: int
    round: int
    evaluation: Evaluation
    reply: ChatReply
    model_s: float

    def to_json(self) -> dict[str, Any]:
        e = self.evaluation
        text = e.program_text
        return {
            "candidate": self.candidate,
            "round": self.round,
            "stage": e.stage,
            "verified": e.verified,
            "program_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None,
            "diagnostics": [_plain(d) for d in e.diagnostics],
            "lints": [_plain(d) for d in e.lints],
            "verification": _figures(e.verification),
            "finish_reason": self.reply.finish_reason,
            "tokens": self.reply.usage,
            "model_s": round(self.model_s, 4),
            "carc_s": round(sum(e.seconds.values()), 4),
            "carc_stages_s": {k: round(v, 4) for k, v in e.seconds.items()},
        }


def _plain(diagnostic: dict[str, Any]) -> dict[str, Any]:
    return {k: diagnostic[k] for k in ("file", "line", "column", "severity", "code", "message", "note") if k in diagnostic}


def _figures(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("passed", "failures", "expert_episodes", "random_episodes", "expert_complete_rate", "random_complete_rate",
            "subtasks", "goal_agreement")
    figures = {k: report[k] for k in keys}
    figures["properties"] = {p["name"]: p["passed"] for p in report["properties"]}
    return figures


@dataclass(frozen=True)
class Outcome:
    rounds: tuple[RoundRecord, ...]
    chosen: RoundRecord | None  # the verified program, or the best failed one
    recording_s: float
    wall_s: float
    error: str | None = None  # a backend failure that ended the run early

    @property
    def verified(self) -> bool:
        return self.chosen is not None and self.chosen.evaluation.verified

    @property
    def reason(self) -> str | None:
        """Why the run failed, in one line (None when verified)."""
        if self.verified:
            return None
        if self.error is not None:
            return self.error
        if self.chosen is None:
            return "no round produced a program"
        e = self.chosen.evaluation
        if e.stage == "verify" and e.verification:
            return f"verification failed: {e.verification['failures'][0]}"
        first = e.diagnostics[0] if e.diagnostics else None
        detail = f": {first['code']} {first['message']} (line {first['line']})" if first else ""
        return f"stopped at {e.stage}{detail}"


def run_loop(settings: GenerateSettings, backend: Backend, first: tuple[Message, Message], evaluator: Evaluator,
             transcript: TranscriptWriter, say: Say) -> Outcome:
    """Every candidate's conversation; a backend failure stops the run with what was done so far."""
    started = time.perf_counter()
    rounds: list[RoundRecord] = []
    error = None
    try:
        for candidate in range(1, settings.candidates + 1):
            _conversation(settings, backend, first, evaluator, transcript, candidate, say, rounds)
    except BackendError as err:
        error = str(err)
    finished = [r for r in rounds if r.evaluation.program_text is not None]
    chosen = min(finished, key=lambda r: r.evaluation.rank(), default=None)
    return Outcome(tuple(rounds), chosen, evaluator.recording_s, time.perf_counter() - started, error)


def _conversation(settings: GenerateSettings, backend: Backend, first: tuple[Message, Message], evaluator: Evaluator,
                  transcript: TranscriptWriter, candidate: int, say: Say, records: list[RoundRecord]) -> None:
    messages: list[Message] = list(first)
    for round_ in range(1, settings.rounds + 1):
        where = f"candidate {candidate} round {round_}"
        step = _prefixed(say, f"[candidate {candidate}/{settings.candidates} round {round_}/{settings.rounds}] ")
        request = ChatRequest(settings.model, tuple(messages), settings.temperature, settings.max_tokens, label=where)
        step(f"asking {settings.model} via {backend.name}")
        asked = time.perf_counter()
        reply = backend.complete(request)
        model_s = time.perf_counter() - asked
        transcript.add(candidate, round_, request, reply)
        evaluation = evaluator.evaluate(reply.text, where, step)
        step("verified" if evaluation.verified else f"stopped at {evaluation.stage}")
        records.append(RoundRecord(candidate, round_, evaluation, reply, model_s))
        if evaluation.verified or evaluation.message is None:
            break
        messages += [Message("assistant", reply.text), Message("user", evaluation.message)]


def _prefixed(say: Say, prefix: str) -> Say:
    def step(stage: str) -> None:
        say(prefix + stage)

    return step


def summary_json(outcome: Outcome, header: dict[str, Any], files: dict[str, str | None], backend: str) -> dict[str, Any]:
    rounds = [r.to_json() for r in outcome.rounds]
    tokens = [r.reply.usage or {} for r in outcome.rounds]
    chosen = outcome.chosen
    return {
        "schema": "carc-generate-summary/1",
        "verified": outcome.verified,
        "reason": outcome.reason,
        "error": outcome.error,
        "env_id": header["env_id"],
        "model": header["settings"]["model"],
        "backend": backend,
        "made_by": header["made_by"],
        "files": files,
        "chosen": None if chosen is None else {"candidate": chosen.candidate, "round": chosen.round, "stage": chosen.evaluation.stage},
        "rounds": rounds,
        "totals": {
            "vlm_calls": len(rounds),
            "model_s": round(sum(r.model_s for r in outcome.rounds), 4),
            "carc_s": round(sum(r["carc_s"] for r in rounds), 4),
            "recording_s": round(outcome.recording_s, 4),
            "wall_s": round(outcome.wall_s, 4),
            "prompt_tokens": sum(t.get("prompt_tokens", 0) for t in tokens) if any(tokens) else None,
            "completion_tokens": sum(t.get("completion_tokens", 0) for t in tokens) if any(tokens) else None,
        },
    }


def write_program(out: Path, outcome: Outcome) -> dict[str, str | None]:
    """program.car when verified; else candidate.car with the best failed program (if any)."""
    from carc.generate.images import write_atomic

    chosen = outcome.chosen
    for stale in ("program.car", "candidate.car"):  # a previous run's file must not pass for this run's
        (out / stale).unlink(missing_ok=True)
    if chosen is None or chosen.evaluation.program_text is None:
        return {"program": None, "candidate": None}
    name = "program.car" if outcome.verified else "candidate.car"
    write_atomic(out / name, chosen.evaluation.program_text.encode("utf-8"))
    return {"program": name if outcome.verified else None, "candidate": None if outcome.verified else name}
