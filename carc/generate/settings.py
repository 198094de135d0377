"""The settings of a generation run: everything that decides what the model is asked and how a
program is judged. A transcript stores them, so a replay asks the very same questions.

>>> GenerateSettings.from_json({"env_id": "MiniGrid-DoorKey-5x5-v0", "rounds": 2}).rounds
2
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DEFAULT_MODEL = "gpt-4o"


class SettingsError(ValueError):
    """A settings field with a bad value (named in the message)."""


@dataclass(frozen=True)
class GenerateSettings:
    env_id: str
    model: str = DEFAULT_MODEL
    task: str | None = None  # None: the env's own mission text, where it has one
    seed: int = 0  # the episode whose start and expert-solved goal are shown
    rounds: int = 4
    candidates: int = 1
    expert_episodes: int = 20
    random_episodes: int = 100  # the paper's count: at 20, one episode is 5 points of a 10% rule
    verify_seed: int = 1000
    expert_threshold: float = 1.0
    random_threshold: float = 0.1
    property_examples: int = 50
    temperature: float | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        for name, low, high in (("rounds", 1, 20), ("candidates", 1, 16), ("expert_episodes", 1, 10_000),
                                ("random_episodes", 1, 10_000), ("property_examples", 1, 100_000), ("seed", 0, 2**31 - 1),
                                ("verify_seed", 0, 2**31 - 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise SettingsError(f"{name} must be a whole number in [{low}, {high}], not {value!r}")
        self._check_episode_counts()
        for name in ("expert_threshold", "random_threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} must be a number in [0, 1], not {value!r}")
        if not isinstance(self.env_id, str) or not self.env_id or not isinstance(self.model, str) or not self.model:
            raise SettingsError("env_id and model must be non-empty strings")
        if self.task is not None and (not isinstance(self.task, str) or len(self.task) > 2000):
            raise SettingsError("task must be text of at most 2000 characters")
        if self.temperature is not None and (not isinstance(self.temperature, (int, float)) or not 0.0 <= self.temperature <= 2.0):
            raise SettingsError(f"temperature must be in [0, 2], not {self.temperature!r}")
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or not 1 <= self.max_tokens <= 1_000_000):
            raise SettingsError(f"max_tokens must be in [1, 1000000], not {self.max_tokens!r}")

    def _check_episode_counts(self) -> None:
        """Fewer episodes than verification accepts would fail every round for a reason the model cannot fix."""
        from carc.verify.report import VerifyConfig

        for name, least in (("expert_episodes", VerifyConfig.min_expert_episodes), ("random_episodes", VerifyConfig.min_random_episodes)):
            if getattr(self, name) < least:
                raise SettingsError(f"{name} must be at least {least} (verification refuses fewer), not {getattr(self, name)}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any, **overrides: Any) -> GenerateSettings:
        """Settings from a transcript header (unknown fields refused), with explicit overrides on top."""
        if not isinstance(data, dict):
            raise SettingsError("settings must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown settings field(s): {', '.join(unknown)}")
        try:
            return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})
        except TypeError as err:
            raise SettingsError(str(err)) from None
