"""A whole generation run: inputs, prompt, backend, loop, and the files it leaves in the out folder.

    out/program.car        the verified program (candidate.car instead when none verified)
    out/transcript.jsonl   every request and reply; out/images/<sha256>.png the images, once
    out/summary.json       per round: stage, diagnostics, verification figures, tokens, time
    out/counterexamples/   frames of failed properties, per round

`dry_run` writes the exact messages instead (messages.json, prompt.md, start.png, goal.png) and
calls nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carc import __version__
from carc.core.files import OutputError, prepare_output_folder
from carc.core.resources import example_path
from carc.generate.backends import Backend, BackendError, ReplayBackend, public_url
from carc.generate.evaluate import Evaluator, Say
from carc.generate.images import TaskImage, env_task, read_png, task_image, write_atomic, write_png
from carc.generate.loop import Outcome, run_loop, summary_json, write_program
from carc.generate.messages import Message
from carc.generate.prompt import TaskFacts, first_messages
from carc.generate.settings import GenerateSettings
from carc.generate.transcript import IMAGE_DIR, TranscriptWriter, image_header, load_transcript

BUNDLED_TRANSCRIPT = "transcripts/doorkey-5x5/transcript.jsonl"
RERECORD = "python -m carc.generate.scripted examples/transcripts/doorkey-5x5"
COUNTEREXAMPLE_DIR = "counterexamples"
OUTPUT_SUBFOLDERS = (IMAGE_DIR, COUNTEREXAMPLE_DIR)  # the folders a run writes inside its output folder


@dataclass(frozen=True)
class Inputs:
    """The images and facts of the task, however they were obtained."""

    start: TaskImage
    goal: TaskImage
    facts: TaskFacts

    def messages(self) -> tuple[Message, Message]:
        return first_messages(self.facts, self.start, self.goal)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    summary: dict[str, Any]


def task_facts(settings: GenerateSettings, task: str | None, tile: int | None) -> TaskFacts:
    return TaskFacts(settings.env_id, task, tile, settings.expert_threshold, settings.random_threshold)


def env_inputs(settings: GenerateSettings, start_png: str | None = None, goal_png: str | None = None) -> Inputs:
    """Images from PNG files when both are given, else the env's reset frame and its expert's last frame."""
    if (start_png is None) != (goal_png is None):
        raise ValueError("give both --start and --goal, or neither")
    if start_png is not None and goal_png is not None:
        start, goal = read_png(start_png), read_png(goal_png)
        return Inputs(task_image("start", start), task_image("goal", goal), task_facts(settings, settings.task, None))
    task = env_task(settings.env_id, settings.seed)
    if not task.expert_success:
        raise ValueError(f"the built-in expert did not solve {settings.env_id} for seed {settings.seed}: no goal image (try another --seed)")
    facts = task_facts(settings, settings.task or task.mission, task.tile)
    return Inputs(task_image("start", task.start), task_image("goal", task.goal), facts)


def _fresh_output(out: Path, force: bool) -> Path:
    """The output folder, created when missing. One that holds entries is refused (an earlier
    session's transcript may have cost a model's calls) unless ``force``: then its files, and the
    images and counterexamples folders a run writes, are removed first."""
    if force:
        for inner in OUTPUT_SUBFOLDERS:
            if (out / inner).is_dir() and not (out / inner).is_symlink():
                try:
                    shutil.rmtree(out / inner)
                except OSError as err:
                    raise OutputError(f"cannot clear {out / inner}: {err.strerror or err}") from None
    return prepare_output_folder(out, force=force)


def dry_run(inputs: Inputs, out: Path, force: bool = False) -> dict[str, Any]:
    """Write the first request's exact messages and the images; return their sizes. Calls nothing."""
    _fresh_output(out, force)
    system, user = inputs.messages()
    wire = [system.wire(), user.wire()]
    write_atomic(out / "messages.json", json.dumps(wire, indent=1).encode("ascii"))
    for image in (inputs.start, inputs.goal):
        write_png(image.pixels, out / f"{image.role}.png")
    prompt = "\n\n".join([f"# System\n\n{system.text}", f"# User\n\n{user.text}\n\n![start](start.png)\n\n![goal](goal.png)"])
    write_atomic(out / "prompt.md", (prompt + "\n").encode("utf-8"))
    return {
        "env_id": inputs.facts.env_id,
        "out": str(out),
        "files": ["messages.json", "prompt.md", "start.png", "goal.png"],
        "characters": {"system": len(system.text), "user": len(user.text), "total": len(system.text) + len(user.text)},
        "images": [{"role": i.role, "width": i.pixels.shape[1], "height": i.pixels.shape[0], "frame": list(i.frame_shape),
                    "png_bytes": len(i.png())} for i in (inputs.start, inputs.goal)],
        "messages_json_bytes": (out / "messages.json").stat().st_size,
    }


def _run(settings: GenerateSettings, backend: Backend, inputs: Inputs, header: dict[str, Any], out: Path, say: Say,
         force: bool) -> Result:
    _fresh_output(out, force)
    transcript = TranscriptWriter(out, header)
    transcript.save_images((inputs.start, inputs.goal))
    transcript.save()
    evaluator = Evaluator(settings, inputs.start.frame_shape, inputs.facts.tile, out / COUNTEREXAMPLE_DIR)
    outcome = run_loop(settings, backend, inputs.messages(), evaluator, transcript, say)
    files = {**write_program(out, outcome), "transcript": "transcript.jsonl", "summary": "summary.json"}
    summary = summary_json(outcome, header, files, backend.name)
    write_atomic(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode("ascii"))
    if outcome.error is not None:  # the files say what was done; the caller reports the failure
        raise BackendError(outcome.error)
    return Result(outcome, summary)


def live_header(settings: GenerateSettings, inputs: Inputs, made_by: str) -> dict[str, Any]:
    return {
        "made_by": made_by,
        "carc_version": __version__,
        "env_id": settings.env_id,
        "task": inputs.facts.task,
        "tile": inputs.facts.tile,
        "images": image_header((inputs.start, inputs.goal)),
        "settings": settings.to_json(),
    }


def generate(settings: GenerateSettings, backend: Backend, inputs: Inputs, out: Path, say: Say, made_by: str | None = None,
             force: bool = False) -> Result:
    """A live run against `backend`, into `out` (``_fresh_output``)."""
    url = getattr(backend, "url", None)
    made_by = made_by or f"carc generate: model {settings.model} at {public_url(url) if url else backend.name}"
    return _run(settings, backend, inputs, live_header(settings, inputs, made_by), out, say, force)


def replay(transcript_path: str | Path, out: Path, say: Say, *, force: bool = False, **overrides: Any) -> Result:
    """Re-run a recorded session offline: the recorded settings and images, replies by request hash."""
    recorded = load_transcript(transcript_path)
    header = recorded.header
    settings = GenerateSettings.from_json(header.get("settings"), **overrides)
    tile = header.get("tile")
    task = header.get("task")
    facts = task_facts(settings, task if isinstance(task, str) else None, tile if isinstance(tile, int) else None)
    inputs = Inputs(recorded.images["start"], recorded.images["goal"], facts)
    exchanges = [(x.label, x.digest, x.request, x.reply) for x in recorded.exchanges]
    bundled = recorded.path.resolve() == bundled_transcript().resolve()
    hint = f" (carc's prompt changed since it was recorded: re-record it with `{RERECORD}` in a checkout)" if bundled else ""
    backend = ReplayBackend(exchanges, str(recorded.path), hint)
    header_out = {k: v for k, v in header.items() if k not in ("type", "schema")}
    header_out["settings"] = settings.to_json()
    return _run(settings, backend, inputs, header_out, out, say, force)


def bundled_transcript() -> Path:
    """The transcript shipped with carc (MiniGrid-DoorKey-5x5-v0; its header says how it was made)."""
    return example_path(BUNDLED_TRANSCRIPT)


def replay_bundled(out: Path, say: Say = lambda _: None, force: bool = False) -> Result:
    """Generate by replaying the bundled transcript: offline, no model, a verified DoorKey program in
    out/ (``force``: replacing what an earlier run left there)."""
    return replay(bundled_transcript(), out, say, force=force)
