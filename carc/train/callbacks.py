"""Training callbacks: the curve of the env's own success and each sub-task's completion rate.

After every rollout, ``TrainingCurve`` logs to TensorBoard (``carc/success_rate``,
``carc/return``: the env's own, over the last ``window`` episodes; ``carc/subtask/<name>``: the
fraction of those episodes that completed the sub-task, in the program's words;
``carc/complete_without_success``: the fraction the program calls complete while the env reports
failure, which is how an agent exploiting the reward shows), keeps one row per
rollout for ``train_curve.csv``, and writes ``progress.json`` (atomically) for the parent's
progress display.
"""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from carc.core.files import write_text_atomic


class TrainingCurve(BaseCallback):
    """Success, return and sub-task completion over the last ``window`` training episodes."""

    def __init__(self, subtasks: list[str], total_steps: int, progress_file: Path | None = None, window: int = 100) -> None:
        super().__init__()
        self.subtasks, self.total_steps, self.progress_file = subtasks, total_steps, progress_file
        self.successes: deque[float] = deque(maxlen=window)
        self.returns: deque[float] = deque(maxlen=window)
        self.completed: dict[str, deque[float]] = {name: deque(maxlen=window) for name in subtasks}
        self.complete_without_success: deque[float] = deque(maxlen=window)
        self.rows: list[dict[str, float]] = []
        self.episodes = 0
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if not done:
                continue
            self.episodes += 1
            self.successes.append(float(bool(info.get("is_success", False))))
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
            episode = info.get("carc_episode", {})
            for name, completed in episode.items():
                self.completed[name].append(float(completed))
            if episode and "is_success" in info:
                self.complete_without_success.append(float(all(episode.values()) and not info["is_success"]))
        return True

    def _on_rollout_end(self) -> None:
        row = self.row()
        for key, value in row.items():
            if key not in ("steps", "episodes"):
                self.logger.record(f"carc/{key}", value)
        self.rows.append(row)
        self._write_progress(row)

    def row(self) -> dict[str, float]:
        row = {"steps": float(self.num_timesteps), "episodes": float(self.episodes), "success_rate": _mean(self.successes), "return": _mean(self.returns)}
        row.update({f"subtask/{name}": _mean(values) for name, values in self.completed.items() if values})
        if self.complete_without_success:
            row["complete_without_success"] = _mean(self.complete_without_success)
        return row

    def _write_progress(self, row: dict[str, float]) -> None:
        if self.progress_file is None:
            return
        elapsed = time.perf_counter() - self.started
        data: dict[str, Any] = {"steps": self.num_timesteps, "total": self.total_steps, "success_rate": row["success_rate"], "elapsed_s": round(elapsed, 1)}
        write_text_atomic(self.progress_file, json.dumps(data))


def _mean(values: deque[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0
