"""`carc explain`: what the reward sees on one episode, as pictures and numbers."""

from __future__ import annotations

import argparse

from carc.api import check_text, read_program
from carc.cli.common import EXIT_OK, Subparsers, UsageError, add_command, emit_json, seed


def _episode(args: argparse.Namespace, text: bytes) -> object:
    from carc.envs.registry import check_env_id, env_kwargs_for, require_expert
    from carc.verify.trajectories import Episode, record

    if (args.episode is None) == (args.env is None):
        raise UsageError("give either --episode FILE.npz or --env ID (with --seed and --policy)")
    if args.episode is not None:
        return Episode.load(args.episode)
    check_env_id(args.env)
    if args.policy == "expert":
        require_expert(args.env)
    program = check_text(text, args.program)
    return record(args.env, args.policy, 1, args.seed, None, env_kwargs=env_kwargs_for(program, args.env))[0]


def cmd_explain(args: argparse.Namespace) -> int:
    from carc.core.files import prepare_output_folder
    from carc.verify.explain import explain_episode, write_explanation

    text = read_program(args.program)
    check_text(text, args.program)  # rejects a bad program (exit 1) before any env is made
    episode = _episode(args, text)
    out = prepare_output_folder(args.out, force=args.force, pattern="*")
    explanation = explain_episode(text, args.program, episode)  # type: ignore[arg-type]
    paths = write_explanation(explanation, out)
    data = explanation.to_json()
    if args.json:
        emit_json({**data, "files": {k: str(v) for k, v in paths.items()}})
    else:
        done = ", ".join(f"{s['name']} at step {s['completed_at']}" if s["completed_at"] is not None else f"{s['name']} never"
                         for s in data["subtasks"])
        print(f"{data['program']} on {data['episode'].get('env_id', '?')} seed {data['episode'].get('seed', '?')}: "
              f"{data['steps']} steps, {'complete' if data['complete'] else 'incomplete'} ({done})")
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = add_command(sub, "explain", cmd_explain, "draw what a program sees on one episode: regions per frame, sub-task timeline")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--episode", metavar="FILE.npz", help="a recorded episode (carc record)")
    p.add_argument("--env", metavar="ID", help="record one episode of this env instead")
    p.add_argument("--seed", type=seed, default=0, help="with --env: the episode's seed (default 0)")
    p.add_argument("--policy", choices=("expert", "random"), default="expert", help="with --env: who plays (default expert)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for contact_sheet.png, episode.gif, explain.json")
    p.add_argument("--force", action="store_true", help="replace the files of a folder that is not empty")
