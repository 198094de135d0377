"""Run many training configs (seeds x conditions): parallel local processes, or Ray tasks.

The program is compiled once here, in the parent, before any worker starts: workers then load the
kernel from numba's cache instead of racing to write it. Local workers are a
``ProcessPoolExecutor`` with the ``spawn`` start method (torch and numba are not fork-safe);
``ray`` is used through its own scheduler (``ray.init(address)``; "local" starts a local
instance with ``workers`` CPUs). Each run writes ``progress.json`` in its folder; the parent
shows the runs' progress on stderr.

>>> results = run_sweep(configs, workers=2)                        # doctest: +SKIP
>>> results = run_sweep(configs, workers=2, ray_address="local")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from carc.api import compile_file
from carc.train.config import AUTO_RAY, LOCAL_RAY, TrainConfig, ray_host_port
from carc.train.envs import warm_up
from carc.train.runner import RunResult, train_one

POLL_S = 2.0
CONNECT_TIMEOUT_S = 5.0
PARENT_POLL_S = 0.5


class SweepError(RuntimeError):
    """A run failed in a worker: the message names the run and the worker's error."""


class RayUnreachable(SweepError):
    """No Ray cluster answers at the address asked for."""


def run_sweep(configs: Sequence[TrainConfig], workers: int = 2, ray_address: str | None = None, progress: TextIO | None = None) -> list[RunResult]:
    """Train every config; results in the order of ``configs``."""
    tiles = {path: compile_file(path).program.tile for path in {c.program for c in configs}}
    for config in {(c.program, c.env_id, c.mode): c for c in configs}.values():
        warm_up(config, tiles[config.program])  # here, once: workers load the caches
    if workers == 1 and ray_address is None:
        return [train_one(c) for c in configs]
    display = ProgressDisplay(configs, progress) if progress is not None else None
    try:
        if ray_address is not None:
            return _run_ray(configs, workers, ray_address, display)
        return _run_local(configs, workers, display)
    finally:
        if display is not None:
            display.close()


def _run_local(configs: Sequence[TrainConfig], workers: int, display: ProgressDisplay | None) -> list[RunResult]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(configs)), mp_context=context,
                             initializer=end_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(train_one, c) for c in configs]
        pending: set[Future[RunResult]] = set(futures)
        while pending:
            _, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            if display is not None:
                display.update()
        return [_result_of(f.result, c) for f, c in zip(futures, configs, strict=True)]


def end_with_parent(parent: int) -> None:
    """A local worker's initializer: the worker ends (SIGTERM to itself) once the process that started
    it is gone. A parent stopped by SIGKILL, which it cannot catch, would otherwise leave its workers
    training on, unseen, to the end of their budgets."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="carc-parent-watch", daemon=True).start()


def _run_ray(configs: Sequence[TrainConfig], workers: int, address: str, display: ProgressDisplay | None) -> list[RunResult]:
    try:
        import ray
    except ImportError as err:
        raise SweepError("--ray needs the ray package: pip install 'carc[ray]'") from err
    started_here = not ray.is_initialized()
    if started_here:
        _require_listening(address)
        cache = {k: v for k, v in os.environ.items() if k == "CARC_CACHE_DIR"}
        kwargs: dict[str, Any] = {"num_cpus": workers} if address == LOCAL_RAY else {"address": address}
        ray.init(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": cache}, **kwargs)
    try:
        task = ray.remote(num_cpus=1)(train_one)
        refs = [task.remote(c) for c in configs]
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            if display is not None:
                display.update()
        return [_result_of(partial(_ray_result, ray, ref), c) for ref, c in zip(refs, configs, strict=True)]
    finally:
        if started_here:
            ray.shutdown()


def _require_listening(address: str) -> None:
    """A SweepError unless something accepts a connection at a HOST:PORT address: Ray itself retries
    an address where no cluster listens for minutes, printing warnings ("local" and "auto" pass)."""
    if address in (LOCAL_RAY, AUTO_RAY):
        return
    where = ray_host_port(address)
    try:
        if where is None:
            raise ValueError("not HOST:PORT")
        socket.create_connection(where, timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as err:
        raise RayUnreachable(f"--ray {address}: no Ray cluster answers there ({err})") from None


def _ray_result(ray: Any, ref: Any) -> RunResult:
    result: RunResult = ray.get(ref)
    return result


def _result_of(get: Callable[[], RunResult], config: TrainConfig) -> RunResult:
    try:
        return get()
    except Exception as err:  # noqa: BLE001 - a worker's failure, reported with its run
        raise SweepError(f"run {config.env_id} {config.mode} seed {config.seed} failed: {type(err).__name__}: {err}") from err


class ProgressDisplay:
    """One stderr line: env steps done over the budget of all runs, runs finished, best success."""

    def __init__(self, configs: Sequence[TrainConfig], stream: TextIO) -> None:
        self.configs, self.stream = list(configs), stream
        self.total = sum(c.steps for c in configs)
        self.started = time.time() - 1.0  # run folders are named to the second
        self.tty = stream.isatty()
        self.last: tuple[int, int] = (-1, -1)

    def _progress(self) -> list[dict[str, Any]]:
        found = []
        for out in sorted({c.out for c in self.configs}):
            for path in Path(out).glob("*/progress.json"):
                if path.stat().st_mtime >= self.started:
                    try:
                        found.append(json.loads(path.read_text(encoding="utf-8")))
                    except (OSError, ValueError):
                        continue
        return found

    def update(self) -> None:
        runs = self._progress()
        done = sum(min(int(r.get("steps", 0)), int(r.get("total", 0))) for r in runs)
        finished = sum(int(r.get("steps", 0)) >= int(r.get("total", 1)) for r in runs)
        percent = 100 * done // max(1, self.total)
        key = (percent if self.tty else percent // 10, finished)
        if key == self.last:
            return
        self.last = key
        line = f"train: {done:,}/{self.total:,} env steps ({percent}%), {finished}/{len(self.configs)} runs done, {time.time() - self.started:.0f} s"
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def stderr_progress(enabled: bool) -> TextIO | None:
    return sys.stderr if enabled else None
