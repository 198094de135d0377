"""Stage two of Code as Reward: prove a kernel right on expert and random play before it trains.

The paper's rule: every sub-task and the goal complete, in order, on all expert trajectories;
fewer than 10% of random trajectories complete the task. Where random play solves the task by
itself (the env's own success on the same random episodes is not near zero), random completion
may reach that rate plus a margin instead (carc.verify.report.judge_random). carc adds the goal check's agreement with
the environment's own success signal, and hypothesis properties of the kernel (equal to the
reference interpreter bit for bit; rewards finite and in bounds; progress monotone; reset
restores the start state; deterministic) on trajectory frames and perturbed copies of them.

>>> report = verify(check_file("examples/minigrid/doorkey.car"), "doorkey.car",
...                 VerifyConfig(env_id="MiniGrid-DoorKey-5x5-v0"))        # doctest: +SKIP
>>> report.passed                                                           # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from carc import ir
from carc.envs.registry import env_family, env_kwargs_for, make_env, success_rule
from carc.interpreter import Interpreter
from carc.ir.layout import DONE, PROGRESS
from carc.lang.checker import prune_program
from carc.verify.packed import PackedEpisode, pack
from carc.verify.report import Agreement, EpisodeScore, SubtaskRow, VerifyConfig, VerifyReport, format_report, judge_random
from carc.verify.trajectories import Episode, TrajectoryError, load_episodes

# ---- scoring ------------------------------------------------------------------------------------


def goal_probe(program: ir.Program) -> ir.Program:
    """The program reduced to its goal check alone, as one sub-task: a kernel of it stepped from a
    fresh post-reset state tells, frame by frame, whether the goal predicate holds."""
    goal = program.subtasks[-1]
    stage = ir.Stage(goal.name, goal.description, (ir.Subtask(0, goal.name, goal.description, 1.0, goal.predicate),), False)
    reduced = ir.Program(**{**program.__dict__, "stages": (stage,), "shaping": None, "bounds": (0.0, 1.0), "bounds_declared": True})
    return prune_program(reduced)


def score_episode(program: ir.Program, kernel: Any, probe: Any, episode: Episode) -> EpisodeScore:
    """What the kernel makes of one episode (``score_episodes`` on it alone)."""
    return score_episodes(program, kernel, probe, [PackedEpisode.of(episode)])[0]


def score_episodes(program: ir.Program, kernel: Any, probe: Any, episodes: Sequence[PackedEpisode]) -> list[EpisodeScore]:
    """Score episodes with the kernel in batches: episodes of one frame size step in lockstep, one
    ``step_batch`` call a step; the goal probe runs once on each distinct frame of an episode."""
    completed = _completions(program, kernel, episodes)
    scores = []
    for episode, (done_at, complete) in zip(episodes, completed):
        goal = _goal_frames(probe, episode)
        last = episode.steps - 1
        success = [bool(term) and episode.env_success and t == last for t, term in enumerate(episode.terminated.tolist())]
        scores.append(EpisodeScore(done_at, complete, episode.env_success, tuple(goal.tolist()), tuple(success)))
    return scores


def _goal_frames(probe: Any, episode: PackedEpisode) -> np.ndarray:
    """Per step (frames 1..T): the goal predicate holds on that frame, from the state after reset."""
    start = probe.new_state(1, episode.tile)
    probe.reset(np.ascontiguousarray(episode.frame(0)), start[0])
    count = len(episode.table)
    states = np.repeat(start, count, axis=0)
    rewards, events = np.empty(count), np.empty(count, dtype=np.int64)
    probe.step_batch(episode.table, states, rewards, events)
    return (events == 0)[episode.index[1:]]


def _completions(program: ir.Program, kernel: Any, episodes: Sequence[PackedEpisode]) -> list[tuple[tuple[int | None, ...], bool]]:
    """Per episode: the step each sub-task completed at (None: never), and whether every stage is done."""
    result: list[tuple[tuple[int | None, ...], bool]] = [((), False)] * len(episodes)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, episode in enumerate(episodes):
        by_shape.setdefault(episode.frame_shape, []).append(i)
    for members in by_shape.values():
        group = sorted(members, key=lambda i: -episodes[i].steps)  # the episodes still running are a prefix
        for i, row in zip(group, _lockstep(program, kernel, [episodes[i] for i in group])):
            result[i] = row
    return result


def _lockstep(program: ir.Program, kernel: Any, episodes: list[PackedEpisode]) -> list[tuple[tuple[int | None, ...], bool]]:
    """Run episodes of one frame size (longest first) side by side through ``step_batch``: their
    distinct frames in one table, and each step's new frames gathered from it in one call."""
    n, subtasks = len(episodes), len(program.subtasks)
    table = np.concatenate([ep.table for ep in episodes]) if n > 1 else episodes[0].table
    offsets = np.cumsum([0] + [len(ep.table) for ep in episodes[:-1]])
    lengths = [ep.steps for ep in episodes]
    rows = np.zeros((n, lengths[0] + 1), dtype=np.int64)  # rows[i, t]: frame t of episode i in the table
    for i, ep in enumerate(episodes):
        rows[i, : len(ep.index)] = ep.index + offsets[i]
    states = np.concatenate([kernel.new_state(1, ep.tile) for ep in episodes])
    frames = np.take(table, rows[:, 0], axis=0)
    kernel.reset_batch(frames, states)
    rewards, events = np.empty(n), np.empty(n, dtype=np.int64)
    completed = np.full((n, subtasks), -1, dtype=np.int64)
    running = n
    for t in range(1, lengths[0] + 1):
        while lengths[running - 1] < t:
            running -= 1
        changed = np.flatnonzero(rows[:running, t] != rows[:running, t - 1])  # play often repeats a frame
        frames[changed] = table[rows[changed, t]]
        kernel.step_batch(frames[:running], states[:running], rewards[:running], events[:running])
        done = states[:running, DONE : DONE + subtasks] != 0.0
        completed[:running] = np.where(done & (completed[:running] < 0), t, completed[:running])
    return [(tuple(None if c < 0 else int(c) for c in row), int(state[PROGRESS]) == len(program.stages))
            for row, state in zip(completed.tolist(), states)]


def _agreement(predicted: list[bool], actual: list[bool]) -> Agreement:
    tp = sum(p and a for p, a in zip(predicted, actual))
    fp = sum(p and not a for p, a in zip(predicted, actual))
    fn = sum(a and not p for p, a in zip(predicted, actual))
    return Agreement(tp / (tp + fp) if tp + fp else None, tp / (tp + fn) if tp + fn else None, tp, fp, fn)


def _rate(values: list[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _subtask_rows(program: ir.Program, expert: list[EpisodeScore], random: list[EpisodeScore]) -> tuple[SubtaskRow, ...]:
    rows = []
    for s in program.subtasks:
        e_steps = [sc.completed_at[s.index] for sc in expert if sc.completed_at[s.index] is not None]
        r_steps = [sc.completed_at[s.index] for sc in random if sc.completed_at[s.index] is not None]
        rows.append(SubtaskRow(
            s.name, s.description, len(e_steps) / max(1, len(expert)), len(r_steps) / max(1, len(random)),
            _mean(e_steps), _mean(r_steps),  # type: ignore[arg-type]
        ))
    return tuple(rows)


def env_frame_shape(env_id: str, kwargs: dict[str, Any]) -> tuple[int, int]:
    """The (H, W) of the frames the env gives a program (one reset, seed 0)."""
    from carc.envs.base import frame_of

    env = make_env(env_id, **kwargs)
    try:
        obs, _ = env.reset(seed=0)
        frame = frame_of(env, obs)
    finally:
        env.close()
    return int(frame.shape[0]), int(frame.shape[1])


def episode_mismatch(episode: Episode, env_id: str, policy: str, shape: tuple[int, int], tile: int | None) -> str | None:
    """Why an episode from a folder cannot be used to verify on ``env_id`` as ``policy`` play (None: it can)."""
    meta = episode.metadata
    if meta["env_id"] != env_id:
        return f"metadata['env_id'] is {meta['env_id']!r}, but this verification is on {env_id!r}"
    if meta["policy"] != policy:
        return f"metadata['policy'] is {meta['policy']!r}, but the folder was given as {policy} episodes"
    if tile is not None and meta.get("tile_size") != tile:
        return f"metadata['tile_size'] is {meta.get('tile_size')!r}, but the program observes tile {tile} (record with --tile {tile})"
    if episode.frame_shape != shape:
        return f"frames are {episode.frame_shape[0]}x{episode.frame_shape[1]} pixels, but {env_id} gives {shape[0]}x{shape[1]} frames"
    if policy == "expert" and episode.success_rule == "unknown":
        return f"{env_id} has no success rule carc knows, so an expert episode cannot show success"
    return None


def episode_count(config: VerifyConfig, policy: str) -> int:
    """How many episodes of ``policy`` a verification records: ``expert_episodes`` / ``random_episodes``
    when set, else ``episodes``."""
    chosen = config.expert_episodes if policy == "expert" else config.random_episodes
    return config.episodes if chosen is None else chosen


def verification_episodes(program: ir.Program, config: VerifyConfig, policy: str) -> list[PackedEpisode]:
    """The ``policy`` episodes a verification scores: its folder's, or those of the trajectory cache
    (recorded now where missing; ``config.use_cache`` False records them all afresh and keeps none)."""
    from carc.verify.cache import cached_packed

    directory = config.expert_dir if policy == "expert" else config.random_dir
    kwargs = env_kwargs_for(program, config.env_id)
    if directory is not None:
        episodes = load_episodes(directory)
        shape = env_frame_shape(config.env_id, kwargs) if episodes else (0, 0)
        tile = program.tile if env_family(config.env_id) == "minigrid" else None
        for episode in episodes:
            problem = episode_mismatch(episode, config.env_id, policy, shape, tile)
            if problem:
                raise TrajectoryError(episode.source or directory, problem)
        return [pack(episode) for episode in episodes]
    seed = config.seed if policy == "expert" else config.seed + 100_000
    return cached_packed(config.env_id, policy, episode_count(config, policy), seed, kwargs,
                         use_cache=config.use_cache, progress=config.progress).episodes


def _env_random_rate(env_id: str, random: Sequence[PackedEpisode]) -> float | None:
    """The env's own success rate on the random episodes the program is judged on (None: no
    success rule for this env, or no episodes)."""
    if not random or success_rule(env_id) == "unknown":
        return None
    return _rate([episode.env_success for episode in random])


def _percent(rate: float | None) -> str:
    return "unknown" if rate is None else f"{rate:.0%}"


def _solved_at_once(episode: PackedEpisode) -> bool:
    return episode.env_success and episode.steps <= 1


def _too_few(config: VerifyConfig, expert: int, random: int) -> list[str]:
    """A verification on too few usable episodes is refused, not passed (episodes the env calls failed
    demonstrations, or solved on the first step, are not usable)."""
    failures = []
    for kind, have, need, where in (("expert", expert, config.min_expert_episodes, config.expert_dir),
                                    ("random", random, config.min_random_episodes, config.random_dir)):
        if have < need:
            source = f" in {where}" if where is not None else ""
            failures.append(f"too few usable {kind} episodes{source}: {have}, need at least {need} "
                            f"(record more, or lower --min-{kind})")
    return failures


def _no_demonstrations(config: VerifyConfig, failed: int) -> str:
    """Why no expert episode is usable: when the env calls every one a failure, the expert (not the
    program) is what failed, and the report says so rather than blaming the program's sub-tasks."""
    if not failed:
        return "no successful expert episodes to verify on"
    if config.expert_dir is not None:
        return f"no successful expert episodes to verify on: the env calls all {failed} episodes in {config.expert_dir} failures"
    return (f"no successful expert episodes to verify on: carc's built-in expert failed all {failed} episodes of "
            f"{config.env_id} (it plays MiniGrid's go-to-goal, key, door and pick-up tasks and Panda's Reach, Push, "
            f"Slide and PickAndPlace; record expert episodes another way and pass them with --expert)")


def verify(program: ir.Program, program_name: str, config: VerifyConfig, kernel: Any | None = None,
           episodes: tuple[list[PackedEpisode], list[PackedEpisode]] | None = None) -> VerifyReport:
    """Score expert and random episodes, check agreement and properties; the report says why it fails.
    ``episodes``: the (expert, random) ``verification_episodes`` of ``config``, when the caller has them."""
    from carc.backend.kernel import compile_program
    from carc.verify.properties import check_properties

    kernel = kernel or compile_program(program)
    probe = compile_program(goal_probe(program))
    interpreter = Interpreter(program)
    if episodes is None:
        episodes = verification_episodes(program, config, "expert"), verification_episodes(program, config, "random")
    expert_eps, random_eps = episodes
    # An expert episode the environment calls a failure demonstrates nothing, nor does an episode
    # the environment solves on its first step (Panda can spawn the cube on its target): both are
    # left out of the rule, and counted in the report.
    failed_demos = sum(not ep.env_success for ep in expert_eps)
    trivial = sum(_solved_at_once(ep) for ep in expert_eps + random_eps)
    expert_eps = [ep for ep in expert_eps if ep.env_success and not _solved_at_once(ep)]
    random_eps = [ep for ep in random_eps if not _solved_at_once(ep)]
    expert = score_episodes(program, kernel, probe, expert_eps)
    random = score_episodes(program, kernel, probe, random_eps)
    expert_rate = _rate([sc.complete for sc in expert])
    random_rate = _rate([sc.complete for sc in random])
    scores = expert + random
    episode_agreement = _agreement([sc.complete for sc in scores], [sc.env_success for sc in scores])
    step_agreement = _agreement([g for sc in scores for g in sc.goal_steps], [a for sc in scores for a in sc.env_success_steps])
    properties = check_properties(program, kernel, interpreter, expert_eps + random_eps, config.property_examples, config.counterexample_dir)
    rows = _subtask_rows(program, expert, random)

    failures = []
    if not expert_eps:
        failures.append(_no_demonstrations(config, failed_demos))
    elif expert_rate < config.expert_threshold:
        missed = [row.name for row in rows if row.expert_rate < config.expert_threshold]
        failures.append(f"expert play completes the task in only {expert_rate:.0%} of episodes (need {config.expert_threshold:.0%}); "
                        f"sub-tasks short of it: {', '.join(missed) or 'none (order or grouping)'}")
    expert_steps = _agreement([g for sc in expert for g in sc.goal_steps], [a for sc in expert for a in sc.env_success_steps])
    if expert_steps.recall is not None and expert_steps.recall < config.expert_threshold:
        failures.append(f"the goal check is false when the environment reports success in {1 - expert_steps.recall:.0%} "
                        f"of successful expert episodes: it does not test the real goal")
    criterion = judge_random(config, random_rate, _env_random_rate(config.env_id, random_eps),
                             _rate([sc.complete and not sc.env_success for sc in random]))
    if random_eps and not criterion.passed:
        failures.append(f"random play completes the task in {random_rate:.0%} of episodes, the env itself in "
                        f"{_percent(criterion.env_rate)} ({criterion.rule} rule: need {'<=' if criterion.inclusive else '<'} "
                        f"{criterion.limit:.0%}): the goal check is too easy")
    failures.extend(f"property '{p.name}' fails: {p.detail}" for p in properties if not p.passed)
    failures.extend(_too_few(config, len(expert_eps), len(random_eps)))
    return VerifyReport(
        program_name, config.env_id, len(expert_eps), len(random_eps), expert_rate, random_rate, config, rows,
        episode_agreement, step_agreement, tuple(properties), tuple(failures), failed_demos, trivial, criterion,
    )


__all__ = ["VerifyConfig", "VerifyReport", "episode_count", "format_report", "goal_probe", "score_episode", "score_episodes",
           "verification_episodes", "verify"]
