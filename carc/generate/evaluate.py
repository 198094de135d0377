"""Judge one reply: extract, check, audit, compile, verify; say how far it got and what to tell the model.

Expert and random trajectories come from carc's trajectory cache (``carc.verify.cache``): recorded
the first time any run, ``carc verify`` or training asks for them (per env, policy, seeds and tile),
read once per run and kept for every round and candidate. Every stage is timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carc import ir
from carc.generate import feedback
from carc.generate.settings import GenerateSettings

STAGES = ("reply", "check", "audit", "compile", "verify", "verified")
PROGRAM_NAME = "program.car"
MAX_FRAME_PIXELS = 512 * 512  # a program's tile may not make recorded frames larger than this

Say = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """How far a reply got (`stage`: where it stopped, or "verified") and the message for the model."""

    stage: str
    message: str | None
    program_text: str | None = None
    diagnostics: tuple[dict[str, Any], ...] = ()
    lints: tuple[dict[str, Any], ...] = ()
    verification: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.stage == "verified"

    def rank(self) -> tuple[float, ...]:
        """Smaller is better: verified first, then fewest random completions, then highest goal precision."""
        report = self.verification or {}
        agreement = report.get("goal_agreement", {})
        return (
            -STAGES.index(self.stage),
            len(report.get("failures", [])),
            report.get("random_complete_rate", 1.0),
            -(agreement.get("episodes", {}).get("precision") or 0.0),
            -(agreement.get("steps", {}).get("precision") or 0.0),
        )


class Evaluator:
    """Runs carc's stages on program text for one env, with trajectories recorded once."""

    def __init__(self, settings: GenerateSettings, frame_shape: tuple[int, int], default_tile: int | None,
                 counterexample_dir: Path) -> None:
        self.settings = settings
        self.frame_shape = frame_shape
        self.default_tile = default_tile
        self.counterexample_dir = counterexample_dir
        self._episodes: dict[tuple[tuple[str, Any], ...], tuple[list[Any], list[Any]]] = {}
        self.recording_s = 0.0

    def evaluate(self, reply: str, label: str, say: Say) -> Evaluation:
        extraction = feedback.extract_program(reply)
        if extraction.text is None:
            return Evaluation("reply", feedback.no_program_message(extraction.problem or "no program"))
        return self._judge(extraction.text, label, say)

    def _judge(self, text: str, label: str, say: Say) -> Evaluation:
        """One compilation record (gate, parse, check, lints: once), audited, compiled, verified."""
        from carc.api import compile_record
        from carc.audit.certificate import audit_record

        seconds: dict[str, float] = {}
        say("check and audit")
        started = time.perf_counter()
        record = compile_record(text, PROGRAM_NAME)
        certificate = audit_record(record, frame_shape=self.frame_shape, compile_check=False)
        seconds["check_audit"] = time.perf_counter() - started
        lints = tuple(certificate.lints)
        if not certificate.safe or record.program is None:
            errors = tuple(certificate.diagnostics)
            rendered = [d["rendered"] for d in errors]
            if any(d["code"].startswith("E7") for d in errors):
                return Evaluation("audit", feedback.audit_message(rendered), text, errors, lints, seconds=seconds)
            return Evaluation("check", feedback.diagnostics_message(rendered, []), text, errors, lints, seconds=seconds)
        return self._compile_and_verify(record.program, text, label, lints, seconds, say)

    def _compile_and_verify(self, program: ir.Program, text: str, label: str, lints: tuple[dict[str, Any], ...],
                            seconds: dict[str, float], say: Say) -> Evaluation:
        from carc.backend.kernel import compile_program
        from carc.verify.scoring import VerifyConfig, verify

        lint_text = [d["rendered"] for d in lints]
        too_big = self._frame_problem(program.tile)
        if too_big:
            return Evaluation("verify", feedback.unverifiable_message(too_big), text, lints=lints, seconds=seconds)
        say("compile")
        started = time.perf_counter()
        try:
            kernel = compile_program(program)
        except Exception as err:  # noqa: BLE001 - a numba failure is reported like any other stage's
            seconds["compile"] = time.perf_counter() - started
            return Evaluation("compile", feedback.compile_message(f"{type(err).__name__}: {err}"), text, lints=lints, seconds=seconds)
        seconds["compile"] = time.perf_counter() - started
        s = self.settings
        config = VerifyConfig(
            env_id=s.env_id, seed=s.verify_seed, expert_episodes=s.expert_episodes, random_episodes=s.random_episodes,
            expert_threshold=s.expert_threshold, random_threshold=s.random_threshold, property_examples=s.property_examples,
            counterexample_dir=self.counterexample_dir / label.replace(" ", "-"),
        )
        episodes = self._episodes_of(program, config, say)
        say("verify")
        started = time.perf_counter()
        report = verify(program, PROGRAM_NAME, config, kernel=kernel, episodes=episodes)
        seconds["verify"] = time.perf_counter() - started
        stage = "verified" if report.passed else "verify"
        message = None if report.passed else feedback.verification_message(report, lint_text)
        return Evaluation(stage, message, text, lints=lints, verification=_report_json(report.to_json()), seconds=seconds)

    def _frame_problem(self, tile: int) -> str | None:
        """A MiniGrid program's tile sets the frame size; refuse sizes that would not fit in memory."""
        if not self.default_tile:
            return None
        h, w = (side // self.default_tile * tile for side in self.frame_shape)
        if h * w <= MAX_FRAME_PIXELS:
            return None
        return (f"'observe rgb tile {tile}' makes frames of {w}x{h} pixels, more than carc records for verification "
                f"({MAX_FRAME_PIXELS} pixels); use the tile of the frames shown, {self.default_tile}")

    def _episodes_of(self, program: ir.Program, config: Any, say: Say) -> tuple[list[Any], list[Any]]:
        """The expert and random episodes for the program's tile: read from the trajectory cache
        (recorded where missing) the first time, timed apart from verifying, then kept."""
        from carc.envs.registry import env_kwargs_for
        from carc.verify.scoring import episode_count, verification_episodes

        key = tuple(sorted(env_kwargs_for(program, self.settings.env_id).items()))
        if key not in self._episodes:
            started = time.perf_counter()
            say(f"expert and random episodes ({episode_count(config, 'expert')} + {episode_count(config, 'random')}, "
                "from carc's trajectory cache, recorded where missing)")
            self._episodes[key] = verification_episodes(program, config, "expert"), verification_episodes(program, config, "random")
            self.recording_s += time.perf_counter() - started
        return self._episodes[key]


def _report_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report without local file paths (counterexample files), which differ from run to run."""
    properties = [{k: v for k, v in p.items() if k != "counterexample"} for p in report.get("properties", [])]
    return {**report, "properties": properties}
