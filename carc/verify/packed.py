"""Episodes with each distinct frame stored once: frame ``t`` is ``table[index[t]]``.

Play repeats frames (a random MiniGrid agent turns in place, bumps into walls): 100 random episodes
of DoorKey-8x8 hold about 64,000 frames but only about 7,400 distinct ones. Scoring, properties and
the trajectory cache work on the distinct frames and never build the full ``(T+1, H, W, 3)`` array;
``unpack`` builds it when a caller needs an ``Episode``.

>>> frames = np.zeros((3, 8, 8, 3), np.uint8); frames[1] = 7
>>> meta = {"env_id": "MiniGrid-Empty-5x5-v0", "seed": 0, "policy": "random", "steps": 2,
...         "carc_version": "0", "env_success": False, "success_rule": "minigrid", "tile_size": 8}
>>> steps = np.zeros(2, bool)
>>> packed = pack(Episode(frames, np.zeros(2, np.int64), np.zeros(2), steps, steps, meta))
>>> packed.table.shape[0], packed.index.tolist()
(2, [0, 1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carc.verify.trajectories import Episode


@dataclass(frozen=True, eq=False)
class PackedEpisode:
    """One episode as distinct frames and an index; construction checks what ``Episode`` checks."""

    table: np.ndarray  # (U, H, W, 3) uint8, C-contiguous: the distinct frames
    index: np.ndarray  # (T+1,) int64 into table
    actions: np.ndarray
    env_rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    metadata: dict[str, Any]
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problem = _table_problem(self.table, self.index)
        if problem:
            raise ValueError(problem)
        # Every other array and the metadata are checked by Episode itself, on a zero-copy stand-in
        # of the right shape for the frames (whose content table and index hold).
        stand_in = np.broadcast_to(self.table[:1], (len(self.index), *self.table.shape[1:]))
        Episode(stand_in, self.actions, self.env_rewards, self.terminated, self.truncated, self.metadata)

    @property
    def steps(self) -> int:
        return len(self.index) - 1

    @property
    def env_success(self) -> bool:
        return bool(self.metadata["env_success"])

    @property
    def frame_shape(self) -> tuple[int, int]:
        return int(self.table.shape[1]), int(self.table.shape[2])

    @property
    def tile(self) -> int | None:
        """The MiniGrid tile the frames were rendered at (None for other envs)."""
        tile = self.metadata.get("tile_size")
        return int(tile) if tile is not None else None

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` (0: after reset), a read-only view of the table."""
        return self.table[self.index[t]]

    def unpack(self) -> Episode:
        """The episode with every frame in place (a copy: ``steps + 1`` frames)."""
        return Episode(self.table[self.index], self.actions, self.env_rewards, self.terminated, self.truncated,
                       dict(self.metadata), self.source)

    @classmethod
    def of(cls, episode: Episode) -> PackedEpisode:
        """An episode as it is, without looking for repeats (no copy of the frames)."""
        frames = np.ascontiguousarray(episode.frames)
        return cls(frames, np.arange(len(frames), dtype=np.int64), episode.actions, episode.env_rewards,
                   episode.terminated, episode.truncated, dict(episode.metadata), episode.source)


def pack(episode: Episode) -> PackedEpisode:
    """The episode with each distinct frame stored once (found by exact bytes)."""
    frames = episode.frames
    seen: dict[bytes, int] = {}
    first: list[int] = []  # the first t of each distinct frame
    index = np.empty(len(frames), dtype=np.int64)
    for t, frame in enumerate(frames):
        key = frame.tobytes()
        if key not in seen:
            seen[key] = len(first)
            first.append(t)
        index[t] = seen[key]
    table = np.ascontiguousarray(frames[first])
    return PackedEpisode(table, index, episode.actions, episode.env_rewards, episode.terminated, episode.truncated,
                         dict(episode.metadata), episode.source)


def _table_problem(table: Any, index: Any) -> str | None:
    if not isinstance(table, np.ndarray) or table.dtype != np.uint8 or table.ndim != 4 or table.shape[3] != 3:
        return f"the frame table must be a (U, H, W, 3) uint8 array, got {getattr(table, 'dtype', type(table).__name__)} {getattr(table, 'shape', '')}"
    if table.shape[0] < 1 or not table.flags.c_contiguous:
        return f"the frame table must hold at least one frame, contiguous, got {table.shape[0]}"
    if not isinstance(index, np.ndarray) or index.dtype != np.int64 or index.ndim != 1 or len(index) < 1:
        return f"the frame index must be a 1-d int64 array of at least one entry, got {getattr(index, 'dtype', type(index).__name__)} {getattr(index, 'shape', '')}"
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= table.shape[0]:
        return f"the frame index runs from {low} to {high}, outside the table's {table.shape[0]} frames"
    return None
