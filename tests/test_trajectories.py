"""Episode files: round trip, clear errors for bad files, and recording from experts and random."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest

from carc import __version__
from carc.envs.registry import env_family, make_env, make_expert
from carc.verify.trajectories import Episode, TrajectoryError, load_episodes, record


def make_episode(length: int = 3, **metadata: object) -> Episode:
    steps = length
    rng = np.random.default_rng(0)
    return Episode(
        frames=rng.integers(0, 256, (steps + 1, 16, 24, 3), dtype=np.uint8),
        actions=np.arange(steps, dtype=np.int64),
        env_rewards=np.linspace(0.0, 1.0, steps),
        terminated=np.arange(steps) == steps - 1,
        truncated=np.zeros(steps, dtype=bool),
        metadata={
            "env_id": "MiniGrid-DoorKey-5x5-v0",
            "seed": 4,
            "policy": "expert",
            "env_success": True,
            "steps": steps,
            "carc_version": __version__,
            "tile_size": 8,
            **metadata,
        },
    )


def write_npz(path: Path, **overrides: object) -> Path:
    episode = make_episode()
    arrays = {
        "frames": episode.frames,
        "actions": episode.actions,
        "env_rewards": episode.env_rewards,
        "terminated": episode.terminated,
        "truncated": episode.truncated,
        "metadata": np.array(json.dumps(episode.metadata)),
    }
    arrays.update(overrides)
    np.savez(path, **{name: value for name, value in arrays.items() if value is not None})
    return path


def test_round_trip(tmp_path: Path) -> None:
    episode = make_episode()
    loaded = Episode.load(episode.save(tmp_path / "episode_0000.npz"))
    for name in ("frames", "actions", "env_rewards", "terminated", "truncated"):
        original, copy = getattr(episode, name), getattr(loaded, name)
        assert copy.dtype == original.dtype
        np.testing.assert_array_equal(copy, original)
    assert loaded.metadata == episode.metadata
    assert loaded.steps == 3 and loaded.env_success
    assert [p.name for p in tmp_path.iterdir()] == ["episode_0000.npz"]  # no temp file left


def test_load_episodes_sorted_by_name(tmp_path: Path) -> None:
    for seed in (2, 0, 1):
        make_episode(seed=seed).save(tmp_path / f"episode_{seed:04d}.npz")
    assert [ep.metadata["seed"] for ep in load_episodes(tmp_path)] == [0, 1, 2]
    with pytest.raises(TrajectoryError, match="no such directory"):
        load_episodes(tmp_path / "missing")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"frames": None}, "missing arrays: frames"),
        ({"frames": np.zeros((4, 4, 5, 3), dtype=np.float32)}, "frames must be a uint8 array"),
        ({"frames": np.zeros((4, 4, 5), dtype=np.uint8)}, r"frames must have shape \(T\+1, H, W, 3\)"),
        ({"actions": np.arange(2)}, "actions must be numeric with 3 rows"),
        ({"env_rewards": np.zeros(3, dtype=np.float32)}, "env_rewards must be float64"),
        ({"terminated": np.zeros(3, dtype=np.int8)}, "terminated must be bool"),
        ({"truncated": np.zeros(4, dtype=bool)}, r"truncated must be bool of shape \(3,\)"),
        ({"metadata": np.array("{not json")}, "metadata is not valid JSON"),
        ({"metadata": np.array(b"{}")}, "metadata must be a JSON string"),
        ({"metadata": np.array("[1, 2]")}, "metadata must be a JSON object"),
        ({"metadata": np.array(json.dumps({"env_id": "X"}))}, r"metadata\['seed'\] must be int"),
    ],
)
def test_bad_file_is_a_clear_error(tmp_path: Path, overrides: dict, message: str) -> None:
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(TrajectoryError, match=message) as caught:
        Episode.load(path)
    assert caught.value.path == path and str(caught.value).startswith(str(path))


def test_constructor_checks_metadata() -> None:
    with pytest.raises(ValueError, match="policy"):
        make_episode(policy="teacher")
    with pytest.raises(ValueError, match="arrays hold 3 steps"):
        make_episode(steps=9)
    with pytest.raises(ValueError, match="env_success"):
        make_episode(env_success=1)


@pytest.mark.parametrize("content", [b"", b"hello", b"PK\x03\x04 truncated"])
def test_not_an_archive(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(TrajectoryError, match="not an .npz archive"):
        Episode.load(path)
    with pytest.raises(TrajectoryError, match="no such file"):
        Episode.load(tmp_path / "absent.npz")


def test_corrupted_bytes_never_escape_as_tracebacks(tmp_path: Path) -> None:
    good = make_episode().save(tmp_path / "good.npz").read_bytes()
    for offset in range(0, len(good), max(1, len(good) // 40)):
        damaged = bytearray(good)
        damaged[offset] ^= 0x5A
        path = tmp_path / "damaged.npz"
        path.write_bytes(bytes(damaged))
        with contextlib.suppress(TrajectoryError):
            Episode.load(path)
        path.write_bytes(good[:offset])
        with pytest.raises(TrajectoryError):
            Episode.load(path)


def test_record_expert_and_random(tmp_path: Path) -> None:
    experts = record("MiniGrid-DoorKey-5x5-v0", "expert", 2, seed=10, out_dir=tmp_path / "expert")
    randoms = record("MiniGrid-DoorKey-5x5-v0", "random", 2, seed=10, out_dir=tmp_path / "random", max_steps=30)
    assert [ep.env_success for ep in experts] == [True, True]
    for policy, episodes in (("expert", experts), ("random", randoms)):
        loaded = load_episodes(tmp_path / policy)
        assert sorted(p.name for p in (tmp_path / policy).iterdir()) == ["episode_0000.npz", "episode_0001.npz"]
        for i, (episode, again) in enumerate(zip(episodes, loaded)):
            assert again.metadata == episode.metadata
            assert episode.metadata["seed"] == 10 + i and episode.metadata["policy"] == policy
            assert episode.metadata["tile_size"] == 8 and episode.metadata["carc_version"] == __version__
            assert episode.frames.shape == (episode.steps + 1, 40, 40, 3)
            assert episode.terminated[-1] or episode.truncated[-1]
    assert all(ep.steps <= 30 and not ep.env_success for ep in randoms if ep.truncated[-1])
    assert experts[0].env_rewards[-1] > 0 and experts[0].terminated[-1]


def test_random_policy_is_seeded() -> None:
    first, second = (record("MiniGrid-DoorKey-5x5-v0", "random", 1, 3, None, max_steps=20)[0] for _ in range(2))
    np.testing.assert_array_equal(first.actions, second.actions)
    np.testing.assert_array_equal(first.frames, second.frames)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="policy"):
        record("MiniGrid-DoorKey-5x5-v0", "teacher", 1, 0, None)
    assert env_family("CartPole-v1") == "gym" and env_family("PandaPush-v3") == "panda"
    with pytest.raises(ValueError, match="'CartPole-v1'"):
        make_expert(make_env("CartPole-v1"))
