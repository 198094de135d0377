"""The trajectory cache, packed episodes, batched scoring and the verify episode-count flags."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from carc.api import check_file
from carc.backend.kernel import compile_program
from carc.cli.main import main
from carc.ir.layout import DONE, PROGRESS
from carc.verify.cache import EpisodeKey, cached_episodes, cached_packed, kwargs_text, read_entry, trajectory_directory
from carc.verify.packed import PackedEpisode, pack
from carc.verify.report import EpisodeScore
from carc.verify.scoring import VerifyConfig, episode_count, goal_probe, score_episodes
from carc.verify.trajectories import Episode, TrajectoryError, iter_episodes

ENV = "MiniGrid-DoorKey-5x5-v0"
KWARGS = {"tile_size": 8}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory holding expert seeds 0-2 and random seeds 100-103 of DoorKey-5x5."""
    folder = tmp_path_factory.mktemp("cache")
    folder.chmod(0o700)
    cached_packed(ENV, "expert", 3, 0, KWARGS, cache_dir=folder)
    cached_packed(ENV, "random", 4, 100, KWARGS, cache_dir=folder)
    return folder


def same_episode(a: Episode, b: Episode) -> bool:
    return all(np.array_equal(getattr(a, name), getattr(b, name)) for name in ("frames", "actions", "env_rewards", "terminated", "truncated")) \
        and a.metadata == b.metadata


def test_pack_keeps_each_distinct_frame_once_and_unpacks_to_the_same_episode() -> None:
    episode = next(iter_episodes(ENV, "random", 1, 7, env_kwargs=KWARGS))
    packed = pack(episode)
    distinct = {frame.tobytes() for frame in episode.frames}
    assert len(packed.table) == len(distinct) < len(episode.frames)
    assert same_episode(packed.unpack(), episode)
    assert all(np.array_equal(packed.frame(t), episode.frames[t]) for t in range(len(episode.frames)))


@pytest.mark.parametrize(("index", "message"), [([0, 5], "outside the table"), ([-1, 0], "outside the table")])
def test_a_packed_episode_refuses_an_index_outside_its_table(index: list[int], message: str) -> None:
    episode = next(iter_episodes(ENV, "expert", 1, 0, env_kwargs=KWARGS))
    table = np.ascontiguousarray(episode.frames[:2])
    with pytest.raises(ValueError, match=message):
        PackedEpisode(table, np.array(index, np.int64), episode.actions[:1], episode.env_rewards[:1], episode.terminated[:1],
                      episode.truncated[:1], {**episode.metadata, "steps": 1})


def test_a_packed_episode_checks_metadata_like_an_episode() -> None:
    packed = pack(next(iter_episodes(ENV, "expert", 1, 0, env_kwargs=KWARGS)))
    with pytest.raises(ValueError, match="metadata\\['steps'\\]"):
        PackedEpisode(packed.table, packed.index, packed.actions, packed.env_rewards, packed.terminated, packed.truncated,
                      {**packed.metadata, "steps": 999})


def test_a_second_request_reads_what_the_first_recorded(cache: Path) -> None:
    again = cached_packed(ENV, "expert", 3, 0, KWARGS, cache_dir=cache)
    assert (again.hits, again.recorded) == (3, 0)
    fresh = list(iter_episodes(ENV, "expert", 3, 0, env_kwargs=KWARGS))
    assert all(same_episode(a.unpack(), b) for a, b in zip(again.episodes, fresh))


def test_requests_share_episodes_by_seed(cache: Path) -> None:
    assert cached_packed(ENV, "random", 2, 101, KWARGS, cache_dir=cache).hits == 2  # seeds 101, 102 of 100..103
    longer = cached_packed(ENV, "random", 5, 100, KWARGS, cache_dir=cache)
    assert (longer.hits, longer.recorded) == (4, 1)
    assert [ep.metadata["seed"] for ep in longer.episodes] == [100, 101, 102, 103, 104]


def test_another_tile_or_policy_is_another_key(cache: Path) -> None:
    assert cached_packed(ENV, "expert", 1, 0, {"tile_size": 9}, cache_dir=cache).hits == 0
    assert cached_packed(ENV, "random", 1, 0, KWARGS, cache_dir=cache).hits == 0


def test_a_file_is_used_only_for_the_key_it_holds(cache: Path) -> None:
    folder = cache / "trajectories"
    seed0, seed1 = (EpisodeKey(ENV, "expert", s, kwargs_text(KWARGS) or "{}") for s in (0, 1))
    with pytest.raises(TrajectoryError, match="key"):
        read_entry(folder / seed0.file_name(), seed1)
    shutil.copy(folder / seed0.file_name(), folder / seed1.file_name())  # seed 0's episode under seed 1's name
    got = cached_packed(ENV, "expert", 2, 0, KWARGS, cache_dir=cache)
    assert (got.hits, got.recorded) == (1, 1)
    assert got.episodes[1].metadata["seed"] == 1
    assert read_entry(folder / seed1.file_name(), seed1).metadata["seed"] == 1  # replaced by the fresh recording


def test_damaged_files_are_recorded_again(cache: Path) -> None:
    key = EpisodeKey(ENV, "expert", 2, kwargs_text(KWARGS) or "{}")
    path = cache / "trajectories" / key.file_name()
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TrajectoryError):
        read_entry(path, key)
    got = cached_packed(ENV, "expert", 3, 0, KWARGS, cache_dir=cache)
    assert (got.hits, got.recorded) == (2, 1)


def test_without_the_cache_nothing_is_read_or_kept(cache: Path) -> None:
    before = sorted(p.name for p in (cache / "trajectories").iterdir())
    got = cached_packed(ENV, "expert", 3, 0, KWARGS, use_cache=False, cache_dir=cache)
    assert (got.hits, got.recorded) == (0, 3)
    assert sorted(p.name for p in (cache / "trajectories").iterdir()) == before


def test_cached_episodes_are_whole_episodes(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARC_CACHE_DIR", str(cache))
    episodes = cached_episodes(ENV, "expert", 2, 0, KWARGS)
    assert [type(ep) for ep in episodes] == [Episode, Episode] and all(ep.env_success for ep in episodes)


def frame_by_frame(program: object, kernel: object, probe: object, episode: Episode) -> EpisodeScore:
    """The scoring loop verify had before batching: one kernel.step call a frame."""
    tile = episode.metadata.get("tile_size")
    state = kernel.new_state(1, tile)[0]  # type: ignore[attr-defined]
    kernel.reset(episode.frames[0], state)  # type: ignore[attr-defined]
    start = probe.new_state(1, tile)[0]  # type: ignore[attr-defined]
    probe.reset(episode.frames[0], start)  # type: ignore[attr-defined]
    subtasks = program.subtasks  # type: ignore[attr-defined]
    completed: list[int | None] = [None] * len(subtasks)
    goal = []
    for t in range(1, len(episode.frames)):
        kernel.step(episode.frames[t], state)  # type: ignore[attr-defined]
        for s in subtasks:
            if completed[s.index] is None and state[DONE + s.index] != 0.0:
                completed[s.index] = t
        goal.append(probe.step(episode.frames[t], start.copy())[1] == 0)  # type: ignore[attr-defined]
    success = [bool(term) and episode.env_success and t == episode.steps - 1 for t, term in enumerate(episode.terminated)]
    complete = int(state[PROGRESS]) == len(program.stages)  # type: ignore[attr-defined]
    return EpisodeScore(tuple(completed), complete, episode.env_success, tuple(goal), tuple(success))


@pytest.mark.parametrize("path", ["examples/minigrid/doorkey.car", "examples/wrong/wrong_order.car"])
def test_batched_scores_equal_a_frame_by_frame_run(path: str, cache: Path) -> None:
    program = check_file(path)
    kernel, probe = compile_program(program), compile_program(goal_probe(program))
    episodes = [ep.unpack() for policy, seed, n in (("expert", 0, 3), ("random", 100, 4))
                for ep in cached_packed(ENV, policy, n, seed, KWARGS, cache_dir=cache).episodes]
    batched = score_episodes(program, kernel, probe, [pack(ep) for ep in episodes])
    assert batched == [frame_by_frame(program, kernel, probe, ep) for ep in episodes]
    assert any(step is not None for score in batched for step in score.completed_at)  # not all trivially empty


def test_episode_counts_per_policy() -> None:
    both = VerifyConfig(env_id=ENV, episodes=7)
    split = VerifyConfig(env_id=ENV, episodes=7, expert_episodes=3, random_episodes=100)
    assert [episode_count(c, p) for c in (both, split) for p in ("expert", "random")] == [7, 7, 3, 100]


@pytest.mark.parametrize(("flags", "counts"), [
    (["--episodes", "4"], (4, 4)),
    (["--expert-episodes", "3", "--random-episodes", "6"], (3, 6)),
    (["--episodes", "4", "--random-episodes", "6", "--no-cache"], (4, 6)),
])
def test_verify_flags_choose_the_episode_counts(flags: list[str], counts: tuple[int, int], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    main(["verify", "examples/minigrid/doorkey.car", "--env", ENV, *flags, "--examples", "4", "--counterexamples", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (report["expert_episodes"], report["random_episodes"]) == counts


def test_verify_defaults_to_the_papers_episode_counts() -> None:
    from carc.cli.episodes import EXPERT_EPISODES, RANDOM_EPISODES, _count

    assert (EXPERT_EPISODES, RANDOM_EPISODES) == (20, 100)
    assert (_count(None, None, RANDOM_EPISODES), _count(None, 5, RANDOM_EPISODES), _count(9, 5, RANDOM_EPISODES)) == (100, 5, 9)


def test_an_episode_count_past_the_cap_is_refused_before_any_key_is_built(cache: Path) -> None:
    kept = sorted(trajectory_directory(cache).iterdir())
    with pytest.raises(ValueError, match="need 0 <= episodes <= 10,000, got 1000000000"):
        cached_packed(ENV, "random", 10**9, 0, cache_dir=cache)
    assert sorted(trajectory_directory(cache).iterdir()) == kept
