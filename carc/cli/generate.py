"""`carc generate`: start and goal images -> a VLM -> a verified reward program (or a replay, or a dry run).

Exit 0 with a verified program.car; 1 when no round verified (candidate.car holds the best attempt);
2 for usage and input errors and for a backend that fails for good (server unreachable, key
refused, unknown model, a reply over the size cap, a request the replayed transcript lacks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from carc.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    Subparsers,
    UsageError,
    add_command,
    at_most,
    emit_json,
    episode_count,
    fraction,
    integer,
    positive,
    seed,
)
from carc.core.files import check_output_folder

SETTING_FLAGS = ("model", "task", "seed", "rounds", "candidates", "episodes", "random_episodes", "verify_seed",
                 "expert_threshold", "random_threshold", "examples", "temperature", "max_tokens")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr (pybullet prints on it from C), so stdout carries only JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line (None: not given)."""
    names = {"episodes": "expert_episodes", "examples": "property_examples"}
    return {names.get(flag, flag): getattr(args, flag) for flag in SETTING_FLAGS}


def _settings(args: argparse.Namespace) -> Any:
    from carc.generate.settings import GenerateSettings, SettingsError

    if not args.env:
        raise UsageError("--env is required (except with --replay, which takes it from the transcript)")
    try:
        return GenerateSettings.from_json({"env_id": args.env}, **_overrides(args))
    except SettingsError as err:
        raise UsageError(str(err)) from None


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not 0.0 < value <= 3600.0:
        raise argparse.ArgumentTypeError(f"a timeout is more than 0 and at most 3600 seconds, not {value:g}")
    return value


def retries(text: str) -> int:
    return integer(text, 0, 10, "retries are 0 to 10")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _api_key(args: argparse.Namespace) -> str | None:
    from carc.generate.backends import DEFAULT_BASE_URL

    key = os.environ.get(args.api_key_env) or None
    if key is None and args.base_url == DEFAULT_BASE_URL:
        raise UsageError(f"no API key: set the environment variable {args.api_key_env} (or name another with --api-key-env)")
    return key


def _report(result: Any, out: Path, as_json: bool) -> int:
    summary = result.summary
    if as_json:
        emit_json({**summary, "out": str(out)})
    else:
        t = summary["totals"]
        figures = f"{t['vlm_calls']} model calls, {t['model_s']:.1f} s in the model, {t['carc_s']:.1f} s in carc (+{t['recording_s']:.1f} s recording or reading episodes)"
        if summary["verified"]:
            c = summary["chosen"]
            print(f"verified: {out / 'program.car'} (candidate {c['candidate']}, round {c['round']}); {figures}")
        else:
            best = summary["files"]["candidate"]
            print(f"NOT verified: {summary['reason']}; {figures}" + (f"; best attempt: {out / best}" if best else ""))
        print(f"transcript: {out / 'transcript.jsonl'}; summary: {out / 'summary.json'}")
    return EXIT_OK if summary["verified"] else EXIT_REJECTED


def _dry_run_report(sizes: dict[str, Any], out: Path, as_json: bool) -> int:
    if as_json:
        emit_json(sizes)
        return EXIT_OK
    chars, images = sizes["characters"], sizes["images"]
    print(f"wrote {', '.join(sizes['files'])} to {out}: {chars['total']:,} characters "
          f"(system {chars['system']:,}, user {chars['user']:,}) and {len(images)} images: "
          + ", ".join(f"{i['role']} {i['width']}x{i['height']} ({i['png_bytes']:,} bytes PNG)" for i in images)
          + "; nothing was sent")
    return EXIT_OK


def _live(args: argparse.Namespace, out: Path) -> Any:
    from carc.generate import env_inputs, generate
    from carc.generate.backends import OpenAIBackend, OpenAIOptions

    settings = _settings(args)
    key = _api_key(args)
    inputs = env_inputs(settings, args.start, args.goal)
    options = OpenAIOptions(base_url=args.base_url, timeout_s=args.timeout, retries=args.retries, max_response_bytes=args.max_response_bytes)
    return generate(settings, OpenAIBackend(key, options), inputs, out, _say, force=args.force)


def cmd_generate(args: argparse.Namespace) -> int:
    from carc.generate import dry_run, env_inputs, replay
    from carc.generate.backends import BackendError
    from carc.generate.images import ImageError
    from carc.generate.settings import SettingsError
    from carc.generate.transcript import TranscriptError

    out = check_output_folder(args.out, args.force)  # said now; created (or cleared) when the run writes
    if args.replay and args.replay_bundled:
        raise UsageError("give --replay TRANSCRIPT or --replay-bundled, not both")
    if args.replay_bundled:
        from carc.generate import bundled_transcript

        args.replay = str(bundled_transcript())
    if args.dry_run and args.replay:
        raise UsageError("--dry-run and --replay do not go together")
    try:
        with stdout_to_stderr() if args.json else contextlib.nullcontext():
            if args.dry_run:
                sizes = dry_run(env_inputs(_settings(args), args.start, args.goal), out, args.force)
            elif args.replay:
                result = replay(args.replay, out, _say, force=args.force, **{**_overrides(args), "env_id": args.env})
            else:
                result = _live(args, out)
    except (BackendError, ImageError, SettingsError, TranscriptError, ValueError) as err:
        raise UsageError(str(err)) from None
    return _dry_run_report(sizes, out, args.json) if args.dry_run else _report(result, out, args.json)


def register(sub: Subparsers) -> None:
    from carc.generate.backends import DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S

    p = add_command(sub, "generate", cmd_generate, "have a VLM write a reward program from start and goal images, repaired until it verifies")
    p.add_argument("--env", metavar="ID", help="where the task is and where verification runs (with --replay: from the transcript)")
    p.add_argument("--model", help="model name on the server (default gpt-4o)")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL",
                   help="an OpenAI-compatible server: Ollama http://localhost:11434/v1, vLLM http://localhost:8000/v1")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="environment variable holding the API key")
    p.add_argument("--task", help="the task in words (default: the env's own mission text)")
    p.add_argument("--start", metavar="PNG", help="start image instead of the env's reset frame (with --goal)")
    p.add_argument("--goal", metavar="PNG", help="goal image instead of the expert's last frame (with --start)")
    p.add_argument("--seed", type=seed, help="episode whose start and goal are shown (default 0)")
    p.add_argument("--rounds", type=positive, help="model calls per candidate (default 4)")
    p.add_argument("--candidates", type=positive, help="independent conversations (default 1)")
    p.add_argument("--out", default="carc-generate", metavar="DIR", help="output folder (default carc-generate)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty: its files are removed first")
    p.add_argument("--dry-run", action="store_true", help="write the exact messages and images to --out; call nothing")
    p.add_argument("--replay", metavar="TRANSCRIPT", help="answer from a recorded transcript (file or folder), offline")
    p.add_argument("--replay-bundled", action="store_true", help="replay the transcript that ships with carc (DoorKey-5x5), offline")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT_S, metavar="S", help=f"seconds per call (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--retries", type=retries, default=DEFAULT_RETRIES, help=f"retries on 429, 5xx, timeouts and connection errors (default {DEFAULT_RETRIES})")
    p.add_argument("--max-response-bytes", type=positive, default=DEFAULT_MAX_RESPONSE_BYTES, metavar="N",
                   help=f"cap on a reply's size (default {DEFAULT_MAX_RESPONSE_BYTES:,})")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the server's)")
    p.add_argument("--max-tokens", type=positive, help="cap on the reply's tokens (default: the server's)")
    p.add_argument("--episodes", type=episode_count, help="expert episodes for verification (default 20)")
    p.add_argument("--random-episodes", type=episode_count, help="random episodes for verification (default 100, the paper's count)")
    p.add_argument("--verify-seed", type=seed, help="seed of the first verification episode (default 1000)")
    p.add_argument("--expert-threshold", type=fraction, help="expert completion rate required (default 1.0)")
    p.add_argument("--random-threshold", type=fraction, help="random completion rate allowed, exclusive (default 0.1)")
    p.add_argument("--examples", type=at_most(100_000, "examples"), help="hypothesis examples per property in each verification (default 50)")
