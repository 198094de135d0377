"""The `carc` command line: check, audit, compile, bench, record, verify, demo.

Exit codes: 0 ok; 1 program rejected or verification failed; 2 usage error (bad flag, missing
file). Every reporting command has --json. A Python traceback on any input is a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn

from carc import __version__
from carc.api import ProgramFileError, check_text, read_program
from carc.core.diagnostics import CarcError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad flag value or a missing input: exit 2."""


def _emit_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


def _shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 64x64, not {text!r}") from None
    if not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise argparse.ArgumentTypeError(f"frame sides must be 1..4096, not {text!r}")
    return h, w


def _integer(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what}, not {value}")
    return value


def _positive(text: str) -> int:
    return _integer(text, 1, 10**9, "expected a number from 1 to 10**9")


def _seed(text: str) -> int:
    return _integer(text, 0, 2**31 - 1, "a seed is in [0, 2**31)")


def _tile(text: str) -> int:
    return _integer(text, 1, 256, "a tile size is 1 to 256 pixels")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {value}")
    return value


# ---- commands -----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    results, status = [], EXIT_OK
    for path in args.programs:
        try:
            program = check_text(read_program(path), path)
            results.append({"file": path, "ok": True, "program": program.name, "subtasks": [s.name for s in program.subtasks], "diagnostics": []})
        except CarcError as err:
            status = EXIT_REJECTED
            results.append({"file": path, "ok": False, "diagnostics": [d.to_json() for d in err.diagnostics]})
            if not args.json:
                print(err, file=sys.stderr)
    if args.json:
        _emit_json(results if len(results) > 1 else results[0])
    return status


def cmd_audit(args: argparse.Namespace) -> int:
    from carc.audit.certificate import audit_source

    certificate = audit_source(read_program(args.program), args.program, frame_shape=args.frame, compile_check=not args.no_compile)
    if args.json:
        _emit_json(certificate.to_json())
    else:
        print(certificate.render())
    return EXIT_OK if certificate.verdict == "safe" else EXIT_REJECTED


def cmd_compile(args: argparse.Namespace) -> int:
    from carc.lang.parser import parse_text

    data = read_program(args.program)
    if args.emit == "ast":
        from carc.lang.astdump import dump

        print(dump(parse_text(data, args.program)))
        return EXIT_OK
    program = check_text(data, args.program)
    if args.emit == "ir":
        from carc.ir.dump import dump_program

        print(dump_program(program))
        return EXIT_OK
    if args.emit == "python":
        from carc.backend.codegen import generate
        from carc.backend.srccheck import check_generated_source

        source = generate(program)
        check_generated_source(source)
        print(source)
        return EXIT_OK
    from carc.backend.kernel import compile_program, write_artifact

    started = time.perf_counter()
    kernel = compile_program(program)
    seconds = time.perf_counter() - started
    if args.emit == "llvm":
        print(kernel.llvm())
        return EXIT_OK
    report: dict[str, Any] = {"program": program.name, "hash": kernel.hash, "kernel": str(kernel.path), "compile_s": round(seconds, 4),
                              "subtasks": [s.name for s in program.subtasks], "reward_bounds": list(program.bounds)}
    if args.output:
        write_artifact(program, Path(args.output))
        report["artifact"] = args.output
    if args.json:
        _emit_json(report)
    else:
        print(f"compiled {program.name} ({len(program.subtasks)} sub-tasks) in {seconds:.3f} s -> {kernel.path}")
        if args.output:
            print(f"artifact: {args.output} (needs only numpy and numba)")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from carc.perf.bench import format_bench, run_bench

    check_text(read_program(args.program), args.program)
    result = run_bench(args.program, env_id=args.env, repeat=args.repeat)
    if args.json:
        _emit_json(result)
    else:
        print(format_bench(result))
    return EXIT_OK


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
        _emit_json(summary)
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
        _emit_json(report.to_json())
    else:
        print(format_report(report))
    return EXIT_OK if report.passed else EXIT_REJECTED


def cmd_demo(args: argparse.Namespace) -> int:
    from carc.cli.demo import run_demo

    return run_demo(args.program, args.env, episodes=args.episodes, as_json=args.json)


# ---- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from carc.core.resources import DEFAULT_ENV

    parser = argparse.ArgumentParser(prog="carc", description="Compile, audit and verify reward programs written by a VLM.")
    parser.add_argument("--version", action="version", version=f"carc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = command("check", cmd_check, "parse and type-check programs; print diagnostics")
    p.add_argument("programs", nargs="+", metavar="PROGRAM")

    p = command("audit", cmd_audit, "prove a program safe and bounded: print its safety certificate")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--frame", type=_shape, default=(64, 64), metavar="HxW", help="frame size for the cost bound (default 64x64)")
    p.add_argument("--no-compile", action="store_true", help="skip the numba compile check")

    p = command("compile", cmd_compile, "compile a program into a cached numba kernel")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--emit", choices=("ast", "ir", "python", "llvm"), help="print a pipeline stage instead")
    p.add_argument("-o", "--output", metavar="FILE", help="write a standalone kernel (.py, needs only numpy and numba)")

    p = command("bench", cmd_bench, "time the kernel against the interpreter, a hand-written kernel and the memory floor")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--env", metavar="ID", help="also measure env steps/s plain and wrapped on this env")
    p.add_argument("--repeat", type=_positive, default=7, help="timing repeats; medians are reported (default 7)")

    p = command("record", cmd_record, "record expert or random trajectories as .npz episodes")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--policy", choices=("expert", "random"), required=True)
    p.add_argument("--episodes", type=_positive, default=10)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--tile", type=_tile, default=None, help="MiniGrid tile size in pixels (default 8; match the program's 'observe rgb tile N')")

    p = command("verify", cmd_verify, "verify a program on expert and random play and with property tests")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--expert", metavar="DIR", help="expert episodes (default: record on the fly)")
    p.add_argument("--random", metavar="DIR", help="random episodes (default: record on the fly)")
    p.add_argument("--episodes", type=_positive, default=20, help="episodes per policy when recording (default 20)")
    p.add_argument("--seed", type=_seed, default=1000)
    p.add_argument("--expert-threshold", type=_fraction, default=1.0, help="expert completion rate required (default 1.0)")
    p.add_argument("--random-threshold", type=_fraction, default=0.1, help="random completion rate allowed, exclusive (default 0.1)")
    p.add_argument("--examples", type=_positive, default=200, help="hypothesis examples per property (default 200)")
    p.add_argument("--counterexamples", default="carc-counterexamples", metavar="DIR")

    p = command("demo", cmd_demo, "the whole pipeline on a built-in program: check, audit, compile, bench, verify")
    p.add_argument("--program", default=None, metavar="PROGRAM", help="default: the bundled DoorKey program")
    p.add_argument("--env", default=DEFAULT_ENV, metavar="ID")
    p.add_argument("--episodes", type=_positive, default=10)
    return parser


def _fail_usage(message: str) -> NoReturn:
    print(f"carc: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _is_input_error(err: Exception) -> bool:
    """A bad trajectory file or an unknown environment id: the user's input, so exit 2."""
    import gymnasium

    from carc.verify.trajectories import TrajectoryError

    return isinstance(err, (TrajectoryError, gymnasium.error.Error))


def _internal_error(err: Exception) -> int:
    if os.environ.get("CARC_DEBUG"):
        raise err
    print(f"carc: internal error: {type(err).__name__}: {err}\n(this is a bug in carc; CARC_DEBUG=1 shows the traceback)", file=sys.stderr)
    return 3


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CarcError as err:
        if getattr(args, "json", False):
            _emit_json({"ok": False, "diagnostics": [d.to_json() for d in err.diagnostics]})
        else:
            print(err, file=sys.stderr)
        return EXIT_REJECTED
    except (ProgramFileError, UsageError) as err:
        _fail_usage(str(err))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - inputs named on the command line, not carc bugs
        if not _is_input_error(err):
            return _internal_error(err)
        _fail_usage(str(err))


if __name__ == "__main__":
    sys.exit(main())
