"""Commands on one program: check, audit, compile."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from carc.api import check_text, read_program
from carc.cli.common import EXIT_OK, EXIT_REJECTED, Subparsers, UsageError, add_command, emit_json, shape
from carc.core.diagnostics import CarcError
from carc.core.files import check_output_path


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
        emit_json(results if len(results) > 1 else results[0])
    return status


def cmd_audit(args: argparse.Namespace) -> int:
    from carc.audit.certificate import audit_source

    try:
        data = read_program(args.program)
    except CarcError as err:  # a file over the size cap is refused before it is read whole
        if not args.json:
            raise
        emit_json({"file": args.program, "verdict": "rejected", "diagnostics": [d.to_json() for d in err.diagnostics]})
        return EXIT_REJECTED
    certificate = audit_source(data, args.program, frame_shape=args.frame, compile_check=not args.no_compile)
    if args.json:
        emit_json(certificate.to_json())
    else:
        print(certificate.render())
    return EXIT_OK if certificate.verdict == "safe" else EXIT_REJECTED


def cmd_compile(args: argparse.Namespace) -> int:
    from carc.lang.parser import parse_text

    if args.output is not None:
        if args.emit is not None:
            raise UsageError("-o writes a compiled kernel: it does not combine with --emit")
        check_output_path(args.output)  # refuse a bad path before the compile, not after
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
    if args.output is not None:
        write_artifact(program, Path(args.output))
        report["artifact"] = args.output
    if args.json:
        emit_json(report)
    else:
        print(f"compiled {program.name} ({len(program.subtasks)} sub-tasks) in {seconds:.3f} s -> {kernel.path}")
        if args.output is not None:
            print(f"artifact: {args.output} (needs only numpy and numba)")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = add_command(sub, "check", cmd_check, "parse and type-check programs; print diagnostics")
    p.add_argument("programs", nargs="+", metavar="PROGRAM")

    p = add_command(sub, "audit", cmd_audit, "prove a program safe and bounded: print its safety certificate")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--frame", type=shape, default=(64, 64), metavar="HxW", help="frame size for the cost bound (default 64x64)")
    p.add_argument("--no-compile", action="store_true", help="skip the numba compile check")

    p = add_command(sub, "compile", cmd_compile, "compile a program into a cached numba kernel")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("--emit", choices=("ast", "ir", "python", "llvm"), help="print a pipeline stage instead")
    p.add_argument("-o", "--output", metavar="FILE", help="write a standalone kernel (.py, needs only numpy and numba)")
