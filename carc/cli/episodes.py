"""Commands on episodes: record trajectories, verify a program on them."""

from __future__ import annotations

import argparse
from pathlib import Path

from carc.api import check_text, read_program
from carc.cli.common import EXIT_OK, EXIT_REJECTED, Subparsers, UsageError, add_command, emit_json, fraction, positive, seed, tile


def cmd_record(args: argparse.Namespace) -> int:
    from carc.envs.registry import env_family
    from carc.verify.trajectories import record

    env_kwargs = {}
    if args.tile is not None:
        if env_family(args.env) != "minigrid":
            raise UsageError("--tile applies to MiniGrid environments only")
        env_kwargs["tile_size"] = args.tile
    episodes = record(args.env, args.policy, args.episodes, args.seed, Path(args.out), progress=not args.json, env_kwargs=env_kwargs)
    summary = {"env_id": args.env, "policy": args.policy, "episodes": len(episodes), "out": args.out,
               "env_success_rate": sum(e.metadata["env_success"] for e in episodes) / max(1, len(episodes))}
    if args.json:
        emit_json(summary)
    else:
        print(f"recorded {summary['episodes']} {args.policy} episodes of {args.env} into {args.out} "
              f"(env success {summary['env_success_rate']:.0%})")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from carc.verify.scoring import VerifyConfig, format_report, verify

    program = check_text(read_program(args.program), args.program)
    config = VerifyConfig(
        env_id=args.env, expert_dir=args.expert, random_dir=args.random, episodes=args.episodes, seed=args.seed,
        expert_threshold=args.expert_threshold, random_threshold=args.random_threshold,
        property_examples=args.examples, counterexample_dir=Path(args.counterexamples), progress=not args.json,
    )
    report = verify(program, args.program, config)
    if args.json:
        emit_json(report.to_json())
    else:
        print(format_report(report))
    return EXIT_OK if report.passed else EXIT_REJECTED


def register(sub: Subparsers) -> None:
    p = add_command(sub, "record", cmd_record, "record expert or random trajectories as .npz episodes")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--policy", choices=("expert", "random"), required=True)
    p.add_argument("--episodes", type=positive, default=10)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--tile", type=tile, default=None, help="MiniGrid tile size in pixels (default 8; match the program's 'observe rgb tile N')")

    p = add_command(sub, "verify", cmd_verify, "verify a program on expert and random play and with property tests")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--expert", metavar="DIR", help="expert episodes (default: record on the fly)")
    p.add_argument("--random", metavar="DIR", help="random episodes (default: record on the fly)")
    p.add_argument("--episodes", type=positive, default=20, help="episodes per policy when recording (default 20)")
    p.add_argument("--seed", type=seed, default=1000)
    p.add_argument("--expert-threshold", type=fraction, default=1.0, help="expert completion rate required (default 1.0)")
    p.add_argument("--random-threshold", type=fraction, default=0.1, help="random completion rate allowed, exclusive (default 0.1)")
    p.add_argument("--examples", type=positive, default=200, help="hypothesis examples per property (default 200)")
    p.add_argument("--counterexamples", default="carc-counterexamples", metavar="DIR")
