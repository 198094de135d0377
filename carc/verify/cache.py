"""Recorded trajectories, kept: play an episode once, read it back in milliseconds afterwards.

An episode is addressed by what decides its content: env id, policy, seed, env kwargs (the MiniGrid
tile), and the versions that shape play and frames (carc's, a digest of the source of carc's envs,
experts, renderer and recorder, gymnasium's, minigrid's, panda-gym's and pybullet's). Episode
``seed + i`` of a request is the file ``<cache>/trajectories/<sha256 of the key>.npz``, a
``PackedEpisode`` (each distinct frame once) written atomically, so a request for 20 episodes
reuses the first 20 of an earlier request for 100, and only missing seeds are recorded.

Nothing is trusted because of where it lies: a file is read like any episode from a user's folder
(regular file, size caps read from its headers before any array, no pickles, every array and the
metadata checked) and is used only when the key stored in it equals the key asked for and its
metadata agrees; anything else is recorded afresh and replaced. The cache directory is carc's
checked one (``carc.backend.cache.cache_root``: ``$CARC_CACHE_DIR`` or ``~/.cache/carc``).

>>> got = cached_packed("MiniGrid-DoorKey-5x5-v0", "expert", 3, seed=0)   # doctest: +SKIP
>>> got.recorded, cached_packed("MiniGrid-DoorKey-5x5-v0", "expert", 3, seed=0).hits  # doctest: +SKIP
(3, 3)
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from carc import __version__
from carc.backend.cache import cache_root, cache_subdirectory
from carc.core.files import OutputError, atomic_output
from carc.core.limits import MAX_EPISODES
from carc.verify.packed import PackedEpisode, pack
from carc.verify.trajectories import Episode, TrajectoryError, declared_size, iter_episodes

FORMAT = 1
SUBDIRECTORY = "trajectories"
FIELDS = ("table", "index", "actions", "env_rewards", "terminated", "truncated", "metadata", "key")
PACKAGES = ("gymnasium", "minigrid", "panda-gym", "pybullet")


@functools.lru_cache(maxsize=1)
def recorder_versions() -> dict[str, str | None]:
    """The versions a recording depends on: packages, and a digest of carc's env and recorder source."""
    import carc.envs
    import carc.verify.trajectories

    sources = sorted(Path(carc.envs.__file__).parent.glob("*.py")) + [Path(carc.verify.trajectories.__file__)]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    versions: dict[str, str | None] = {"carc": __version__, "recorder": digest.hexdigest()[:16]}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


@dataclass(frozen=True)
class EpisodeKey:
    """What decides one recorded episode's content."""

    env_id: str
    policy: str
    seed: int
    env_kwargs: str  # sorted-key JSON

    def text(self) -> str:
        return json.dumps({"format": FORMAT, "env_id": self.env_id, "policy": self.policy, "seed": self.seed,
                           "env_kwargs": json.loads(self.env_kwargs), "versions": recorder_versions()}, sort_keys=True)

    def file_name(self) -> str:
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest() + ".npz"


@dataclass(frozen=True)
class Cached:
    """Episodes for a request, and how many were read from the cache or recorded now."""

    episodes: list[PackedEpisode]
    hits: int
    recorded: int


def kwargs_text(env_kwargs: Mapping[str, Any] | None) -> str | None:
    """The env kwargs as sorted-key JSON, None when they are not plain JSON values (not cacheable)."""
    try:
        return json.dumps(dict(env_kwargs or {}), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None


def trajectory_directory(cache_dir: Path | str | None = None) -> Path:
    """``<carc's checked cache directory>/trajectories``."""
    return cache_subdirectory(cache_root(cache_dir), SUBDIRECTORY)


def cached_packed(env_id: str, policy: str, episodes: int, seed: int, env_kwargs: Mapping[str, Any] | None = None, *,
                  use_cache: bool = True, progress: bool = False, cache_dir: Path | str | None = None) -> Cached:
    """Episodes ``seed .. seed + episodes - 1`` of ``policy`` on ``env_id``: read from the cache where a
    valid entry is there, recorded (and kept, when ``use_cache``) where not."""
    if not 0 <= episodes <= MAX_EPISODES:
        raise ValueError(f"need 0 <= episodes <= {MAX_EPISODES:,}, got {episodes}")
    text = kwargs_text(env_kwargs)
    keys = [EpisodeKey(env_id, policy, seed + i, text or "{}") for i in range(episodes)]
    folder = trajectory_directory(cache_dir) if use_cache and text is not None else None
    found = [_read(folder / key.file_name(), key) if folder is not None else None for key in keys]
    hits = sum(ep is not None for ep in found)
    for start, count in _missing_runs(found):
        for i, episode in enumerate(iter_episodes(env_id, policy, count, seed + start, progress, env_kwargs=env_kwargs)):
            packed = pack(episode)
            found[start + i] = packed
            if folder is not None:
                _write(folder / keys[start + i].file_name(), keys[start + i], packed)
    return Cached([ep for ep in found if ep is not None], hits, episodes - hits)


def cached_episodes(env_id: str, policy: str, episodes: int, seed: int, env_kwargs: Mapping[str, Any] | None = None, *,
                    use_cache: bool = True, progress: bool = False) -> list[Episode]:
    """``cached_packed``'s episodes with every frame in place (for generation and training)."""
    got = cached_packed(env_id, policy, episodes, seed, env_kwargs, use_cache=use_cache, progress=progress)
    return [ep.unpack() for ep in got.episodes]


def _missing_runs(found: list[PackedEpisode | None]) -> list[tuple[int, int]]:
    """(start, count) of each run of consecutive missing episodes."""
    runs: list[tuple[int, int]] = []
    for i, episode in enumerate(found):
        if episode is not None:
            continue
        if runs and sum(runs[-1]) == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _write(path: Path, key: EpisodeKey, episode: PackedEpisode) -> None:
    """Keep an episode; a cache that cannot be written (full disk) only costs a recording next time."""
    try:
        with atomic_output(path) as handle:
            np.savez_compressed(handle, table=episode.table, index=episode.index, actions=episode.actions,
                                env_rewards=episode.env_rewards, terminated=episode.terminated, truncated=episode.truncated,
                                metadata=np.array(json.dumps(episode.metadata, sort_keys=True)), key=np.array(key.text()))
    except OutputError:
        pass


def _read(path: Path, key: EpisodeKey) -> PackedEpisode | None:
    """The episode kept for ``key``, or None when there is none or it is not valid for ``key``."""
    if not path.is_file():
        return None
    try:
        return read_entry(path, key)
    except TrajectoryError:
        return None


def read_entry(path: Path, key: EpisodeKey) -> PackedEpisode:
    """Read and check a kept episode; any problem is a TrajectoryError naming the file and field."""
    declared_size(path)  # regular file, zip, size caps, no object arrays: before any array is read
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in FIELDS if name not in data.files]
            if missing:
                raise TrajectoryError(path, f"missing arrays: {', '.join(missing)}")
            arrays = {name: data[name] for name in FIELDS}
    except TrajectoryError:
        raise
    except Exception as exc:  # zipfile and numpy raise many kinds on damaged bytes
        raise TrajectoryError(path, f"unreadable archive ({type(exc).__name__}: {exc})") from None
    if _text(arrays.pop("key")) != key.text():
        raise TrajectoryError(path, "key: recorded for another env, policy, seed, tile or version")
    metadata = _json_object(path, _text(arrays.pop("metadata")))
    try:
        episode = PackedEpisode(**arrays, metadata=metadata, source=path)
    except ValueError as exc:
        raise TrajectoryError(path, str(exc)) from None
    problem = _metadata_mismatch(metadata, key)
    if problem:
        raise TrajectoryError(path, problem)
    return episode


def _text(raw: np.ndarray) -> str | None:
    return str(raw[()]) if raw.ndim == 0 and raw.dtype.kind == "U" else None


def _json_object(path: Path, text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise TrajectoryError(path, "metadata must be a JSON object in a 0-d unicode array")
    return value


def _metadata_mismatch(metadata: dict[str, Any], key: EpisodeKey) -> str | None:
    expected = {"env_id": key.env_id, "policy": key.policy, "seed": key.seed, "carc_version": __version__}
    tile = json.loads(key.env_kwargs).get("tile_size")
    if tile is not None:
        expected["tile_size"] = tile
    for name, value in expected.items():
        if metadata.get(name) != value:
            return f"metadata[{name!r}] is {metadata.get(name)!r}, the key says {value!r}"
    return None
