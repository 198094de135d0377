"""Success curves over seeds per condition: ``curves.csv``, ``curves.png`` and the table.

Each run's eval success (the env's own rule) is put on a common grid of env steps (its value at the
last evaluation at or before each point; runs of one comparison evaluate at the same steps). The
table gives, per condition, the first step where the mean over seeds reaches 80% success (or "not
reached"), how many seeds reached it, and the final success (mean, min, max over seeds).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carc.core.files import write_bytes_atomic, write_text_atomic
from carc.train.config import MODE_TITLES, MODES
from carc.train.runner import SUCCESS_TARGET, RunResult, write_csv_atomic


@dataclass(frozen=True)
class ConditionCurve:
    """Eval success of one condition: ``success[seed, point]`` at ``steps[point]``."""

    mode: str
    seeds: tuple[int, ...]
    steps: np.ndarray
    success: np.ndarray
    steps_per_s: float

    @property
    def mean(self) -> np.ndarray:
        return self.success.mean(axis=0)

    def steps_to(self, target: float = SUCCESS_TARGET) -> int | None:
        """First step at which the mean over seeds reaches ``target``."""
        hit = np.flatnonzero(self.mean >= target - 1e-9)
        return int(self.steps[hit[0]]) if hit.size else None

    def seeds_reaching(self, target: float = SUCCESS_TARGET) -> int:
        return int((self.success >= target - 1e-9).any(axis=1).sum())

    @property
    def final(self) -> np.ndarray:
        return self.success[:, -1] if self.success.size else np.zeros(len(self.seeds))


def condition_curves(results: Sequence[RunResult]) -> list[ConditionCurve]:
    """Group results by condition (in the order env, both, carc) on a common step grid."""
    curves = []
    for mode in MODES:
        runs = sorted((r for r in results if r.mode == mode), key=lambda r: r.seed)
        if not runs:
            continue
        grid = np.array(sorted({s for r in runs for s in r.eval_steps}), dtype=np.int64)
        success = np.array([_on_grid(r, grid) for r in runs], dtype=np.float64).reshape(len(runs), len(grid))
        rate = float(np.mean([r.steps_per_s for r in runs]))
        curves.append(ConditionCurve(mode, tuple(r.seed for r in runs), grid, success, rate))
    return curves


def _on_grid(run: RunResult, grid: np.ndarray) -> list[float]:
    steps, success = np.asarray(run.eval_steps), np.asarray(run.eval_success)
    out = []
    for point in grid:
        before = np.flatnonzero(steps <= point)
        out.append(float(success[before[-1]]) if before.size else 0.0)
    return out


def table_rows(curves: Sequence[ConditionCurve]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for c in curves:
        reached = c.steps_to()
        final = c.final
        rows.append({
            "condition": c.mode, "reward": MODE_TITLES[c.mode], "seeds": len(c.seeds),
            "steps_to_80": reached, "seeds_reaching_80": c.seeds_reaching(),
            "final_success_mean": round(float(final.mean()), 3), "final_success_min": round(float(final.min()), 3),
            "final_success_max": round(float(final.max()), 3), "env_steps_per_s": round(c.steps_per_s),
        })
    return rows


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """A Markdown table (it reads the same in a terminal)."""
    lines = [
        "| condition | reward | seeds | steps to 80% success (mean over seeds) | seeds reaching 80% | final success mean [min, max] | env steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reached = f"{r['steps_to_80']:,}" if r["steps_to_80"] is not None else "not reached"
        lines.append(
            f"| {r['condition']} | {r['reward']} | {r['seeds']} | {reached} | {r['seeds_reaching_80']}/{r['seeds']} "
            f"| {r['final_success_mean']:.2f} [{r['final_success_min']:.2f}, {r['final_success_max']:.2f}] | {r['env_steps_per_s']:,} |"
        )
    return "\n".join(lines)


def write_curves_csv(path: Path, curves: Sequence[ConditionCurve]) -> None:
    rows = []
    for c in curves:
        for j, step in enumerate(c.steps):
            column = c.success[:, j]
            rows.append([c.mode, int(step), round(float(column.mean()), 4), round(float(column.min()), 4), round(float(column.max()), 4),
                         *(round(float(v), 4) for v in column)])
    seeds = max((len(c.seeds) for c in curves), default=0)
    write_csv_atomic(path, ["condition", "env_steps", "success_mean", "success_min", "success_max", *(f"seed_{i}" for i in range(seeds))], rows)


def plot_curves(path: Path, curves: Sequence[ConditionCurve], title: str) -> None:
    """Mean success over seeds (line) and the min-max band, per condition; PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for c in curves:
        label = f"{MODE_TITLES[c.mode]} ({len(c.seeds)} seeds)"
        (line,) = ax.plot(c.steps, c.mean, label=label, linewidth=2)
        ax.fill_between(c.steps, c.success.min(axis=0), c.success.max(axis=0), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(SUCCESS_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="env steps", ylabel="success rate (eval, env's own rule)", title=title, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def write_comparison(out: Path, results: Sequence[RunResult], title: str) -> str:
    """Write ``curves.csv``, ``curves.png`` and ``table.md`` in ``out``; returns the table."""
    curves = condition_curves(results)
    write_curves_csv(out / "curves.csv", curves)
    plot_curves(out / "curves.png", curves, title)
    table = format_table(table_rows(curves))
    write_text_atomic(out / "table.md", table + "\n")
    return table
