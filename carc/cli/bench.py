"""`carc bench`: the kernel against the interpreter, a hand-written kernel and the memory floor."""

from __future__ import annotations

import argparse

from carc.api import check_text, read_program
from carc.cli.common import EXIT_OK, Subparsers, add_command, at_most, emit_json


def cmd_bench(args: argparse.Namespace) -> int:
    from carc.perf.bench import format_bench, run_bench

    check_text(read_program(args.program), args.program)
    if args.env is not None:  # refused before the minutes of timing, not after
        from carc.envs.registry import require_registered

        require_registered(args.env)
    result = run_bench(args.program, env_id=args.env, repeat=args.repeat)
    if args.json:
        emit_json(result)
    else:
        print(format_bench(result))
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = add_command(sub, "bench", cmd_bench, "time the kernel against the interpreter, a hand-written kernel and the memory floor")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--env", metavar="ID", help="also measure env steps/s plain and wrapped on this env")
    p.add_argument("--repeat", type=at_most(1_000, "repeats"), default=7, help="timing repeats; medians are reported (default 7)")
