"""Commands on episodes: record trajectories, verify a program on them."""

from __future__ import annotations

import argparse
from pathlib import Path

from carc.api import check_text, read_program
from carc.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    Subparsers,
    UsageError,
    add_command,
    at_most,
    checked_for_env,
    emit_json,
    episode_count,
    fraction,
    positive,
    seed,
    tile,
)
from carc.core.files import check_output_folder

EXPERT_EPISODES = 20
RANDOM_EPISODES = 100  # the paper's: at 20, one random episode is 5 points of a 10% threshold


def cmd_record(args: argparse.Namespace) -> int:
    from carc.core.files import prepare_output_folder
    from carc.envs.registry import check_env_id, env_family, require_expert
    from carc.verify.trajectories import record_to_folder

    env_kwargs = {}
    check_env_id(args.env)
    if args.tile is not None:
        if env_family(args.env) != "minigrid":
            raise UsageError("--tile applies to MiniGrid environments only")
        env_kwargs["tile_size"] = args.tile
    if args.policy == "expert":
        require_expert(args.env)
    out = prepare_output_folder(args.out, force=args.force, pattern="*.npz")
    done = record_to_folder(out, args.env, args.policy, args.episodes, args.seed, progress=not args.json, env_kwargs=env_kwargs)
    rate = None if done.successes is None else done.successes / max(1, done.episodes)
    summary = {"env_id": args.env, "policy": args.policy, "episodes": done.episodes, "out": args.out,
               "success_rule": done.success_rule, "env_success_rate": rate}
    if args.json:
        emit_json(summary)
    else:
        told = "unknown: carc knows no success rule for this env" if rate is None else f"{rate:.0%}"
        print(f"recorded {done.episodes} {args.policy} episodes of {args.env} into {args.out} (env success {told})")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from carc.envs.registry import check_env_id
    from carc.verify.scoring import VerifyConfig, format_report, verify

    check_env_id(args.env)
    if not args.counterexamples:
        raise UsageError("--counterexamples needs a folder name")
    # folders written only after the verification ran, or only when it fails: said now if unusable
    check_output_folder(args.counterexamples, force=True)
    if args.explain is not None:
        explain = check_output_folder(args.explain, force=True)
        if explain.is_dir() and any(explain.iterdir()):  # verify has no --force: the message says what to do
            raise UsageError(f"--explain {args.explain}: the folder is not empty: choose a new one")
    program = checked_for_env(args.program, args.env)
    config = VerifyConfig(
        env_id=args.env, expert_dir=args.expert, random_dir=args.random, seed=args.seed, use_cache=not args.no_cache,
        expert_episodes=_count(args.expert_episodes, args.episodes, EXPERT_EPISODES),
        random_episodes=_count(args.random_episodes, args.episodes, RANDOM_EPISODES),
        expert_threshold=args.expert_threshold, random_threshold=args.random_threshold,
        property_examples=args.examples, counterexample_dir=Path(args.counterexamples), progress=not args.json,
        min_expert_episodes=args.min_expert, min_random_episodes=args.min_random,
    )
    report = verify(program, args.program, config)
    if args.explain is not None:
        _explain_failures(args, config, report.passed)
    if args.json:
        emit_json(report.to_json())
    else:
        print(format_report(report))
    return EXIT_OK if report.passed else EXIT_REJECTED


def _count(chosen: int | None, both: int | None, default: int) -> int:
    """Episodes of one policy: its own flag, else --episodes, else the default."""
    return chosen if chosen is not None else both if both is not None else default


def _explain_failures(args: argparse.Namespace, config: object, passed: bool) -> None:
    """`verify --explain DIR`: pictures and numbers of the episodes the verification failed on."""
    from carc.core.files import prepare_output_folder
    from carc.verify.explain import explain_episode, failed_episodes, write_explanation

    out = prepare_output_folder(args.explain)
    text = read_program(args.program)
    failed = [] if passed else failed_episodes(check_text(text, args.program), config)
    for f in failed:
        write_explanation(explain_episode(text, args.program, f.episode), out, stem=f"{f.policy}-{f.index:04d}-")
    if not args.json:
        print(f"explained {len(failed)} failing episodes in {out}")


def register(sub: Subparsers) -> None:
    p = add_command(sub, "record", cmd_record, "record expert or random trajectories as .npz episodes")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--policy", choices=("expert", "random"), required=True)
    p.add_argument("--episodes", type=episode_count, default=10)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--tile", type=tile, default=None, help="MiniGrid tile size in pixels (default 8; match the program's 'observe rgb tile N')")
    p.add_argument("--force", action="store_true", help="record into a folder that holds episodes: its *.npz files are removed first")

    p = add_command(sub, "verify", cmd_verify, "verify a program on expert and random play and with property tests")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--expert", metavar="DIR", help="expert episodes (default: carc's trajectory cache, recording what it lacks)")
    p.add_argument("--random", metavar="DIR", help="random episodes (default: carc's trajectory cache, recording what it lacks)")
    p.add_argument("--episodes", type=episode_count, default=None, metavar="N", help="episodes of each policy when recording (sets both counts below)")
    p.add_argument("--expert-episodes", type=episode_count, default=None, metavar="N", help=f"expert episodes when recording (default {EXPERT_EPISODES})")
    p.add_argument("--random-episodes", type=episode_count, default=None, metavar="N",
                   help=f"random episodes when recording (default {RANDOM_EPISODES}, the paper's: at 20, one episode is 5 points)")
    p.add_argument("--no-cache", action="store_true", help="record every episode afresh and keep none (default: reuse episodes kept in <cache dir>/trajectories)")
    p.add_argument("--seed", type=seed, default=1000)
    p.add_argument("--expert-threshold", type=fraction, default=1.0, help="expert completion rate required (default 1.0)")
    p.add_argument("--random-threshold", type=fraction, default=0.1, help="random completion rate allowed, exclusive (default 0.1)")
    p.add_argument("--examples", type=at_most(100_000, "examples"), default=200, help="hypothesis examples per property (default 200; matches_interpreter gets a quarter; at most 6 frames each)")
    p.add_argument("--counterexamples", default="carc-counterexamples", metavar="DIR")
    p.add_argument("--explain", metavar="DIR", help="write carc explain pictures of the episodes verification failed on (a few of each policy)")
    p.add_argument("--min-expert", type=positive, default=3, metavar="N", help="usable expert episodes required (default 3)")
    p.add_argument("--min-random", type=positive, default=5, metavar="N", help="usable random episodes required (default 5)")
