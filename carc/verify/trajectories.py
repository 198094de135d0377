"""Episodes on disk (DESIGN section 4): one ``.npz`` per episode, from an expert or a random policy.

>>> episodes = record("MiniGrid-DoorKey-5x5-v0", "expert", 2, seed=0, out_dir=Path("runs"))  # doctest: +SKIP
>>> [ep.env_success for ep in load_episodes("runs")]                                      # doctest: +SKIP
[True, True]

A file holds ``frames (T+1, H, W, 3) uint8`` (after reset, then after each step), ``actions (T, ...)``,
``env_rewards (T,) float64``, ``terminated (T,) bool``, ``truncated (T,) bool`` and ``metadata``, a JSON
object stored as a 0-d unicode array.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from carc import __version__
from carc.core.files import atomic_output, prepare_output_folder
from carc.core.limits import LIMITS, MAX_EPISODES
from carc.core.signals import raise_if_terminated
from carc.envs.base import SUCCESS_RULES, Expert, frame_of, success_by_rule
from carc.envs.registry import ENV_ID, EnvError, env_extras, env_family, make_env, make_expert, require_expert, success_rule

POLICIES = ("expert", "random")
METADATA_TYPES: dict[str, type] = {
    "env_id": str,
    "seed": int,
    "policy": str,
    "steps": int,
    "carc_version": str,
}
MAX_EPISODE_BYTES = 1 << 30  # decompressed size of one episode file
MAX_FOLDER_BYTES = 4 << 30  # decompressed size of the episodes of one folder
MAX_FOLDER_FILES = 10_000
MAX_SIDE = 4096  # pixels on a side of a frame
MAX_TILE = int(LIMITS["max_tile"].cap)
ARRAYS = ("frames", "actions", "env_rewards", "terminated", "truncated", "metadata")


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
    source: Path | None = field(default=None, compare=False)  # the file it was loaded from

    def __post_init__(self) -> None:
        problem = _arrays_problem(self) or _metadata_problem(self.metadata, self.steps, self.frames.shape)
        if problem:
            raise ValueError(problem)

    @property
    def steps(self) -> int:
        """Number of steps T (frames holds T + 1)."""
        return int(self.frames.shape[0]) - 1

    @property
    def env_success(self) -> bool:
        """The environment's own success signal for the episode (False when the env has no known rule)."""
        return bool(self.metadata["env_success"])

    @property
    def success_rule(self) -> str:
        """How the env tells success (carc.envs.base.SUCCESS_RULES); "unknown": env_success means nothing."""
        return str(self.metadata.get("success_rule") or success_rule(self.metadata["env_id"]))

    @property
    def frame_shape(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the episode atomically (temp file in the same directory, fsync, then ``os.replace``)."""
        with atomic_output(path) as handle:
            np.savez_compressed(
                handle,
                frames=self.frames,
                actions=self.actions,
                env_rewards=self.env_rewards,
                terminated=self.terminated,
                truncated=self.truncated,
                metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Episode:
        """Read and validate an episode file; a bad file raises ``TrajectoryError`` naming the file and field."""
        arrays = _read_npz(Path(path))
        metadata = _parse_metadata(Path(path), arrays.pop("metadata"))
        try:
            return cls(**arrays, metadata=metadata, source=Path(path))
        except ValueError as exc:
            raise TrajectoryError(path, str(exc)) from None


def declared_size(path: Path) -> int:
    """The decompressed size of an episode archive, from its zip entry and .npy headers, read before any
    array is: over ``MAX_EPISODE_BYTES``, an object (pickled) array, or a header that claims more data
    than its entry holds is a TrajectoryError."""
    _check_regular_zip(path)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > 2 * len(ARRAYS):
                raise TrajectoryError(path, f"{len(entries)} entries in the archive; an episode has {len(ARRAYS)}")
            total = sum(entry.file_size for entry in entries)
            if total > MAX_EPISODE_BYTES:
                raise TrajectoryError(path, f"expands to {total} bytes, over the cap of {MAX_EPISODE_BYTES} for one episode")
            for entry in entries:
                with archive.open(entry) as member:
                    _check_npy_header(path, entry, member)
    except TrajectoryError:
        raise
    except Exception as exc:  # zipfile and numpy raise many kinds on damaged bytes
        raise TrajectoryError(path, f"unreadable archive ({type(exc).__name__}: {exc})") from None
    return total


def _check_npy_header(path: Path, entry: zipfile.ZipInfo, member: Any) -> None:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise TrajectoryError(path, f"{entry.filename}: .npy format {version} is not one carc reads")
    if dtype.hasobject:
        raise TrajectoryError(path, f"{entry.filename}: object arrays (pickles) are refused")
    if math.prod(shape) * dtype.itemsize > entry.file_size:
        raise TrajectoryError(path, f"{entry.filename}: its header claims {shape} {dtype}, more than the entry's {entry.file_size} bytes")


def _check_regular_zip(path: Path) -> None:
    """Before anything opens it: a regular file (never a FIFO or device, which could block or never
    end) with a zip structure."""
    try:
        info = os.stat(path)
    except OSError:
        raise TrajectoryError(path, "no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise TrajectoryError(path, "not a regular file")
    if not zipfile.is_zipfile(path):
        raise TrajectoryError(path, "not an .npz archive (no zip structure)")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    fields = ARRAYS
    declared_size(path)
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
    if not (1 <= frames.shape[1] <= MAX_SIDE and 1 <= frames.shape[2] <= MAX_SIDE):
        return f"frames must be 1 to {MAX_SIDE} pixels on a side, got {frames.shape[1]}x{frames.shape[2]}"
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


def _metadata_problem(metadata: Any, steps: int, frame_shape: tuple[int, ...] = ()) -> str | None:
    if not isinstance(metadata, dict):
        return "metadata must be a dict"
    for key, kind in METADATA_TYPES.items():
        value = metadata.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"metadata[{key!r}] must be {kind.__name__}, got {value!r}"
    if not ENV_ID.fullmatch(metadata["env_id"]):
        return f"metadata['env_id'] is not an environment id: {metadata['env_id']!r}"
    if not 0 <= metadata["seed"] < 2**63:
        return f"metadata['seed'] must be from 0 to 2**63 - 1, got {metadata['seed']}"
    if metadata["policy"] not in POLICIES:
        return f"metadata['policy'] must be one of {POLICIES}, got {metadata['policy']!r}"
    if metadata["steps"] != steps:
        return f"metadata['steps'] is {metadata['steps']} but the arrays hold {steps} steps"
    return _success_problem(metadata) or _tile_problem(metadata, frame_shape)


def _success_problem(metadata: dict[str, Any]) -> str | None:
    rule = metadata.get("success_rule", success_rule(metadata["env_id"]))
    if rule not in SUCCESS_RULES:
        return f"metadata['success_rule'] must be one of {SUCCESS_RULES}, got {rule!r}"
    if rule != success_rule(metadata["env_id"]):
        return f"metadata['success_rule'] is {rule!r}, but success on {metadata['env_id']} is {success_rule(metadata['env_id'])!r}"
    success = metadata.get("env_success")
    if rule == "unknown" and success is not None:
        return f"metadata['env_success'] must be null: {metadata['env_id']} has no success rule carc knows, got {success!r}"
    if rule != "unknown" and not isinstance(success, bool):
        return f"metadata['env_success'] must be bool, got {success!r}"
    return None


def _tile_problem(metadata: dict[str, Any], frame_shape: tuple[int, ...]) -> str | None:
    tile = metadata.get("tile_size")
    if tile is None and env_family(metadata["env_id"]) != "minigrid":
        return None
    if not isinstance(tile, int) or isinstance(tile, bool) or not 1 <= tile <= MAX_TILE:
        return f"metadata['tile_size'] must be a whole number of pixels from 1 to {MAX_TILE}, got {tile!r}"
    if len(frame_shape) >= 3 and (frame_shape[1] % tile or frame_shape[2] % tile):
        return f"metadata['tile_size'] is {tile}, but frames of {frame_shape[1]}x{frame_shape[2]} pixels are not whole cells of it"
    return None


def episode_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The episode files of a folder: ``*.npz``, sorted by name; hidden names (carc's temporary files
    start with a dot) are not episodes."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TrajectoryError(directory, "no such directory")
    files = sorted(p for p in directory.glob("*.npz") if not p.name.startswith("."))
    if len(files) > MAX_FOLDER_FILES:
        raise TrajectoryError(directory, f"{len(files)} episode files, over the cap of {MAX_FOLDER_FILES}")
    return files


def load_episodes(directory: str | os.PathLike[str]) -> list[Episode]:
    """Every episode in a directory, sorted by file name; the folder's decompressed total is capped."""
    files = episode_files(directory)
    total = 0
    for path in files:
        total += declared_size(path)
        if total > MAX_FOLDER_BYTES:
            raise TrajectoryError(directory, f"episodes expand to more than {MAX_FOLDER_BYTES} bytes, over the cap for one folder")
    return [Episode.load(path) for path in files]


def run_episode(
    env: gym.Env, expert: Expert | None, seed: int, max_steps: int | None = None, rule: str = "minigrid"
) -> tuple[dict[str, np.ndarray], bool | None]:
    """Roll out one episode (expert, or uniform random when ``expert`` is None).

    Returns the episode arrays and the env's success signal at the last step under ``rule`` (None when
    the rule is "unknown"). An episode whose frames would pass ``MAX_EPISODE_BYTES`` is an EnvError.
    """
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    if expert is not None:
        expert.reset(obs)
    frames = [np.array(_frame(env, obs))]
    actions: list[Any] = []
    rewards: list[float] = []
    terms: list[bool] = []
    truncs: list[bool] = []
    success: bool | None = None if rule == "unknown" else False
    while max_steps is None or len(actions) < max_steps:
        action = expert.act(obs) if expert is not None else env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        truncated = truncated or (max_steps is not None and len(actions) + 1 >= max_steps)
        frames.append(np.array(_frame(env, obs)))
        if frames[0].nbytes * len(frames) > MAX_EPISODE_BYTES:
            raise EnvError(f"an episode's frames pass {MAX_EPISODE_BYTES} bytes at step {len(frames) - 1} "
                           f"({frames[0].shape[0]}x{frames[0].shape[1]} pixels a frame): record with a smaller tile or fewer steps")
        actions.append(action)
        rewards.append(float(reward))
        terms.append(bool(terminated))
        truncs.append(bool(truncated))
        success = success_by_rule(rule, float(reward), bool(terminated), info)
        if terminated or truncated:
            break
    space = env.action_space
    arrays = {
        "frames": np.stack(frames).astype(np.uint8, copy=False),
        "actions": np.asarray(actions, dtype=space.dtype).reshape((len(actions), *(space.shape or ()))),
        "env_rewards": np.asarray(rewards, dtype=np.float64),
        "terminated": np.asarray(terms, dtype=bool),
        "truncated": np.asarray(truncs, dtype=bool),
    }
    return arrays, success


def _frame(env: gym.Env, obs: Any) -> np.ndarray:
    try:
        return frame_of(env, obs)
    except ValueError as err:  # carc.envs.base.FrameError: the env gives no frame a program can read
        raise EnvError(str(err)) from None


def iter_episodes(
    env_id: str,
    policy: str,
    episodes: int,
    seed: int,
    progress: bool = False,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Iterator[Episode]:
    """Record ``episodes`` episodes of ``policy`` ("expert" | "random") one at a time; episode i uses
    seed + i. ``max_steps`` cuts episodes short (the last step is marked truncated). An env without a
    built-in expert, or that carc cannot make, is an EnvError before anything runs."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if not 0 <= episodes <= MAX_EPISODES or (max_steps is not None and max_steps < 1):
        raise ValueError(f"need 0 <= episodes <= {MAX_EPISODES:,} and max_steps >= 1, got {episodes} and {max_steps}")
    if policy == "expert":
        require_expert(env_id)
    rule = success_rule(env_id)
    env = make_env(env_id, **dict(env_kwargs or {}))
    try:
        expert = make_expert(env) if policy == "expert" else None
        extras = env_extras(env)
        for i in tqdm(range(episodes), desc=f"{env_id} {policy}", unit="ep", disable=not progress):
            raise_if_terminated()
            arrays, success = run_episode(env, expert, seed + i, max_steps, rule)
            metadata = {
                **extras,
                "env_id": env_id,
                "seed": seed + i,
                "policy": policy,
                "env_success": success,
                "success_rule": rule,
                "steps": len(arrays["actions"]),
                "carc_version": __version__,
            }
            yield Episode(arrays["frames"], arrays["actions"], arrays["env_rewards"], arrays["terminated"], arrays["truncated"], metadata)
    finally:
        env.close()


@dataclass(frozen=True)
class Recorded:
    """What a streamed recording wrote: how many episodes, and how many the env calls a success
    (None when the env has no success rule carc knows)."""

    episodes: int
    successes: int | None
    success_rule: str


def record_to_folder(out_dir: str | os.PathLike[str], env_id: str, policy: str, episodes: int, seed: int, **options: Any) -> Recorded:
    """Record into ``out_dir`` (``episode_{i:04d}.npz``, each written atomically), keeping no episode in
    memory after it is written. The folder must be new or empty (see carc.core.files.prepare_output_folder)."""
    count, successes = 0, 0
    rule = success_rule(env_id)
    for i, episode in enumerate(iter_episodes(env_id, policy, episodes, seed, **options)):
        episode.save(Path(out_dir) / f"episode_{i:04d}.npz")
        count, successes = count + 1, successes + episode.env_success
    return Recorded(count, None if rule == "unknown" else successes, rule)


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
    """Record ``episodes`` episodes of ``policy`` and return them (all in memory: for a few episodes).

    With ``out_dir``, episode i is also written atomically to ``out_dir/episode_{i:04d}.npz``, after the
    folder's old ``episode_*.npz`` files are removed, so old and new episodes never mix.
    """
    if out_dir is not None:
        prepare_output_folder(out_dir, force=True, pattern="episode_*.npz")
    result = []
    for i, episode in enumerate(iter_episodes(env_id, policy, episodes, seed, progress, max_steps, env_kwargs)):
        if out_dir is not None:
            episode.save(Path(out_dir) / f"episode_{i:04d}.npz")
        result.append(episode)
    return result
