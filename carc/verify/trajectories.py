"""Episodes on disk (DESIGN section 4): one ``.npz`` per episode, from an expert or a random policy.

>>> episodes = record("MiniGrid-DoorKey-5x5-v0", "expert", 2, seed=0, out_dir=Path("runs"))  # doctest: +SKIP
>>> [ep.env_success for ep in load_episodes("runs")]                                      # doctest: +SKIP
[True, True]

A file holds ``frames (T+1, H, W, 3) uint8`` (after reset, then after each step), ``actions (T, ...)``,
``env_rewards (T,) float64``, ``terminated (T,) bool``, ``truncated (T,) bool`` and ``metadata``, a JSON
object stored as a 0-d unicode array.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from carc import __version__
from carc.envs.base import Expert, env_succeeded, frame_of
from carc.envs.registry import env_extras, make_env, make_expert

POLICIES = ("expert", "random")
METADATA_TYPES: dict[str, type] = {
    "env_id": str,
    "seed": int,
    "policy": str,
    "env_success": bool,
    "steps": int,
    "carc_version": str,
}


class TrajectoryError(Exception):
    """A trajectory file or directory that cannot be used, with the reason."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)
        self.message = message


@dataclass(frozen=True, eq=False)
class Episode:
    """One recorded episode; construction checks shapes, dtypes and metadata."""

    frames: np.ndarray
    actions: np.ndarray
    env_rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    metadata: dict[str, Any]

    def __post_init__(self) -> None:
        problem = _arrays_problem(self) or _metadata_problem(self.metadata, self.steps)
        if problem:
            raise ValueError(problem)

    @property
    def steps(self) -> int:
        """Number of steps T (frames holds T + 1)."""
        return int(self.frames.shape[0]) - 1

    @property
    def env_success(self) -> bool:
        """The environment's own success signal for the episode."""
        return bool(self.metadata["env_success"])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the episode atomically (temp file in the same directory, then ``os.replace``)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez_compressed(
                    handle,
                    frames=self.frames,
                    actions=self.actions,
                    env_rewards=self.env_rewards,
                    terminated=self.terminated,
                    truncated=self.truncated,
                    metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
                )
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Episode:
        """Read and validate an episode file; a bad file raises ``TrajectoryError``."""
        arrays = _read_npz(Path(path))
        metadata = _parse_metadata(Path(path), arrays.pop("metadata"))
        try:
            return cls(**arrays, metadata=metadata)
        except ValueError as exc:
            raise TrajectoryError(path, str(exc)) from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    fields = ("frames", "actions", "env_rewards", "terminated", "truncated", "metadata")
    if not path.is_file():
        raise TrajectoryError(path, "no such file")
    if not zipfile.is_zipfile(path):
        raise TrajectoryError(path, "not an .npz archive (no zip structure)")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile and numpy raise many kinds on damaged bytes
        raise TrajectoryError(path, f"unreadable archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise TrajectoryError(path, "not an .npz archive")
    with data:
        missing = [name for name in fields if name not in data.files]
        if missing:
            raise TrajectoryError(path, f"missing arrays: {', '.join(missing)}")
        try:
            return {name: data[name] for name in fields}
        except Exception as exc:  # as above: any failure here is the file's fault
            raise TrajectoryError(path, f"corrupt array ({type(exc).__name__}: {exc})") from None


def _parse_metadata(path: Path, raw: np.ndarray) -> dict[str, Any]:
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise TrajectoryError(path, "metadata must be a JSON string (0-d unicode array)")
    try:
        metadata = json.loads(str(raw[()]))
    except (ValueError, RecursionError) as exc:
        raise TrajectoryError(path, f"metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise TrajectoryError(path, "metadata must be a JSON object")
    return metadata


def _arrays_problem(ep: Episode) -> str | None:
    frames = ep.frames
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        return "frames must be a uint8 array"
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[0] < 1:
        return f"frames must have shape (T+1, H, W, 3), got {frames.shape}"
    steps = frames.shape[0] - 1
    if not isinstance(ep.actions, np.ndarray) or ep.actions.ndim < 1:
        return "actions must be an array of shape (T, ...)"
    if ep.actions.dtype.kind not in "biuf" or ep.actions.shape[0] != steps:
        return f"actions must be numeric with {steps} rows, got {ep.actions.dtype} {ep.actions.shape}"
    for name, dtype in (("env_rewards", np.float64), ("terminated", np.bool_), ("truncated", np.bool_)):
        value = getattr(ep, name)
        if not isinstance(value, np.ndarray) or value.dtype != dtype or value.shape != (steps,):
            got = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
            return f"{name} must be {np.dtype(dtype)} of shape ({steps},), got {got}"
    return None


def _metadata_problem(metadata: Any, steps: int) -> str | None:
    if not isinstance(metadata, dict):
        return "metadata must be a dict"
    for key, kind in METADATA_TYPES.items():
        value = metadata.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"metadata[{key!r}] must be {kind.__name__}, got {value!r}"
    if metadata["policy"] not in POLICIES:
        return f"metadata['policy'] must be one of {POLICIES}, got {metadata['policy']!r}"
    if metadata["steps"] != steps:
        return f"metadata['steps'] is {metadata['steps']} but the arrays hold {steps} steps"
    return None


def load_episodes(directory: str | os.PathLike[str]) -> list[Episode]:
    """Every ``*.npz`` episode in a directory, sorted by file name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TrajectoryError(directory, "no such directory")
    return [Episode.load(path) for path in sorted(directory.glob("*.npz"))]


def run_episode(
    env: gym.Env, expert: Expert | None, seed: int, max_steps: int | None = None
) -> tuple[dict[str, np.ndarray], bool]:
    """Roll out one episode (expert, or uniform random when ``expert`` is None).

    Returns the episode arrays and the env's success signal at the last step.
    """
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    if expert is not None:
        expert.reset(obs)
    frames = [np.array(frame_of(env, obs))]
    actions, rewards, terms, truncs = [], [], [], []
    success = False
    while max_steps is None or len(actions) < max_steps:
        action = expert.act(obs) if expert is not None else env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        truncated = truncated or (max_steps is not None and len(actions) + 1 >= max_steps)
        frames.append(np.array(frame_of(env, obs)))
        actions.append(action)
        rewards.append(float(reward))
        terms.append(bool(terminated))
        truncs.append(bool(truncated))
        success = env_succeeded(float(reward), bool(terminated), info)
        if terminated or truncated:
            break
    space = env.action_space
    arrays = {
        "frames": np.stack(frames).astype(np.uint8, copy=False),
        "actions": np.asarray(actions, dtype=space.dtype).reshape((len(actions), *space.shape)),
        "env_rewards": np.asarray(rewards, dtype=np.float64),
        "terminated": np.asarray(terms, dtype=bool),
        "truncated": np.asarray(truncs, dtype=bool),
    }
    return arrays, success


def record(
    env_id: str,
    policy: str,
    episodes: int,
    seed: int,
    out_dir: Path | None,
    progress: bool = False,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> list[Episode]:
    """Record ``episodes`` episodes of ``policy`` ("expert" | "random"); episode i uses seed + i.

    With ``out_dir``, episode i is written atomically to ``out_dir/episode_{i:04d}.npz``.
    ``max_steps`` cuts episodes short (the last step is marked truncated).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if episodes < 0 or (max_steps is not None and max_steps < 1):
        raise ValueError(f"need episodes >= 0 and max_steps >= 1, got {episodes} and {max_steps}")
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    env = make_env(env_id, **dict(env_kwargs or {}))
    try:
        expert = make_expert(env) if policy == "expert" else None
        extras = env_extras(env)
        result = []
        for i in tqdm(range(episodes), desc=f"{env_id} {policy}", unit="ep", disable=not progress):
            arrays, success = run_episode(env, expert, seed + i, max_steps)
            metadata = {
                **extras,
                "env_id": env_id,
                "seed": seed + i,
                "policy": policy,
                "env_success": success,
                "steps": len(arrays["actions"]),
                "carc_version": __version__,
            }
            episode = Episode(**arrays, metadata=metadata)
            if out_dir is not None:
                episode.save(Path(out_dir) / f"episode_{i:04d}.npz")
            result.append(episode)
    finally:
        env.close()
    return result
