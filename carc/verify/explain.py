"""What the reward sees: every `let` of a program on every frame of an episode, and each sub-task's
predicate, the progress and the reward per step, as numbers and as pictures.

>>> explanation = explain_episode(read_program("examples/minigrid/doorkey.car"), "doorkey.car", episode)  # doctest: +SKIP
>>> write_explanation(explanation, Path("out"))     # contact_sheet.png, episode.gif, explain.json  # doctest: +SKIP

The reference interpreter evaluates the program itself (predicates, progress, reward) and a probe
program: the same colours, lets and helpers, with one sub-task that reads every `let` (the
program's own and those of the modules it uses), so that each let's value can be read off the
probe's nodes. The probe is built from the parsed program with the canonical printer; nothing of
the program is run but through the checker and the interpreter.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from carc import ir
from carc.core.diagnostics import CarcError
from carc.core.files import write_bytes_atomic, write_text_atomic
from carc.core.resources import stdlib_path
from carc.interpreter import Interpreter, selected_objects
from carc.ir.layout import DONE, PROGRESS
from carc.lang import ast
from carc.lang.checker import check_text
from carc.lang.parser import parse_text
from carc.lang.printer import print_unit
from carc.verify.trajectories import Episode

# How a probe reads a let of each type (a predicate whose first argument leads to the let's node),
# tried in this order until one type-checks.
PROBES: tuple[tuple[str, str], ...] = (
    ("region", "exists({})"),
    ("bool", "{}"),
    ("num", "{} > 0"),
    ("point", "x({}) > 0"),
    ("box", "width({}) > 0"),
    ("objects", "count({}) > 0"),
)
PROBE_SUBTASK = "explain_probe"
PALETTE = ((255, 255, 255), (0, 255, 255), (255, 0, 255), (255, 160, 0), (160, 255, 0), (255, 105, 180),
           (120, 160, 255), (255, 255, 0), (0, 200, 120), (200, 120, 255))
MIN_PICTURE = 240  # the annotated frame's longer side is scaled (nearest) to at least this many pixels
PANEL_WIDTH = 230
LINE = 12  # pixels per text line of PIL's default font
SHEET_FRAMES = 16
SHEET_COLUMNS = 4
GIF_FRAMES = 400
GIF_MS = 120


@dataclass(frozen=True)
class LetProbe:
    """A `let` of the program or of a module it uses: its type and its node in the probe program."""

    name: str
    type: str
    node: int


@dataclass(frozen=True)
class FrameRecord:
    """The program on one frame. Frame 0 is the reset frame: no reward, no event."""

    t: int
    reward: float
    event: int  # the sub-task completed on this step, -1 for none
    progress: int  # stages complete after this step
    predicates: tuple[bool, ...]  # per sub-task, on this frame
    done: tuple[bool, ...]  # per sub-task, completed by this step
    potential: float | None  # the shaping potential, if the program shapes
    lets: dict[str, Any]  # let name -> its value as JSON data


@dataclass(frozen=True, eq=False)
class Explanation:
    """What `explain_episode` found: one record per frame, and the frames themselves."""

    program: str
    description: str
    subtasks: tuple[tuple[str, str], ...]  # (name, description)
    stages: int
    lets: tuple[LetProbe, ...]
    metadata: dict[str, Any]
    records: tuple[FrameRecord, ...]
    frames: np.ndarray

    @property
    def completed_at(self) -> list[int | None]:
        """Per sub-task, the step on which it completed (None: never)."""
        return [next((r.t for r in self.records if r.done[i]), None) for i in range(len(self.subtasks))]

    def to_json(self) -> dict[str, Any]:
        completed = self.completed_at
        return {
            "program": self.program,
            "description": self.description,
            "episode": self.metadata,
            "steps": len(self.records) - 1,
            "complete": bool(self.records[-1].progress == self.stages),
            "subtasks": [{"name": n, "description": d, "completed_at": c} for (n, d), c in zip(self.subtasks, completed)],
            "lets": [{"name": p.name, "type": p.type} for p in self.lets],
            "frames": [dataclasses.asdict(r) for r in self.records],
        }


# ---- the probe program ---------------------------------------------------------------------------


def _module_lets(unit: ast.Unit) -> list[str]:
    names = []
    for item in unit.items:
        if isinstance(item, ast.Use):
            path = stdlib_path(item.module.id)
            if path is not None:
                module = parse_text(path.read_bytes(), str(path))
                names += [i.name.id for i in module.items if isinstance(i, ast.Let)]
    return names


def _base_text(unit: ast.Unit) -> str:
    """The program without its sub-tasks, shaping and bounds: colours, uses, lets and helpers."""
    kept = tuple(i for i in unit.items if not isinstance(i, (ast.Subtask, ast.Group, ast.Shaping, ast.Bounds)))
    return print_unit(dataclasses.replace(unit, items=kept))


def _probe_source(base: str, reads: list[str]) -> str:
    return f'{base}\nsubtask {PROBE_SUBTASK} "read every let" bonus 0 : {" or ".join(f"({r})" for r in reads)}\n'


def _let_type(base: str, name: str) -> str | None:
    for kind, template in PROBES:
        try:
            check_text(_probe_source(base, [template.format(name)]), "<explain probe>")
        except CarcError:
            continue
        return kind
    return None


def _let_node(program: ir.Program, probe_node: int, kind: str) -> int:
    """The let's node under its probe (for objects: the count node, which names the selection)."""
    if kind == "bool":
        return probe_node
    inner = program.nodes[probe_node].args[0]
    return program.nodes[inner].args[0] if kind in ("point", "box") else inner


def build_probe(text: str | bytes, name: str) -> tuple[ir.Program, tuple[LetProbe, ...]]:
    """The probe program and, for every let it reads, its type and node."""
    unit = parse_text(text, name)
    base = _base_text(unit)
    own = [i.name.id for i in unit.items if isinstance(i, ast.Let)]
    typed = [(n, t) for n in [*_module_lets(unit), *own] if (t := _let_type(base, n)) is not None]
    if not typed:
        return check_text(_probe_source(base, ["true"]), name), ()
    reads = [dict(PROBES)[t].format(n) for n, t in typed]
    program = check_text(_probe_source(base, reads), name)
    root = program.subtasks[0].predicate
    probes = program.nodes[root].args if len(typed) > 1 else (root,)
    return program, tuple(LetProbe(n, t, _let_node(program, p, t)) for (n, t), p in zip(typed, probes))


# ---- evaluation ----------------------------------------------------------------------------------


def _region_json(region: tuple[float, ...]) -> dict[str, Any] | None:
    area = region[0]
    if area <= 0:
        return None
    return {"area": area, "center": [region[1] / area, region[2] / area], "bbox": list(region[3:7])}


def _let_json(probe: ir.Program, let: LetProbe, values: list[Any], frame: np.ndarray) -> Any:
    value = values[let.node]
    if let.type == "region":
        return _region_json(value)
    if let.type == "objects":
        node = probe.nodes[let.node]
        selected = selected_objects(probe, frame, node, [values[j] for j in node.args])
        return [_region_json(r) for r in selected]
    if let.type in ("point", "box"):
        return [float(v) for v in value]
    return bool(value) if let.type == "bool" else float(value)


def explain_episode(text: str | bytes, name: str, episode: Episode) -> Explanation:
    """Evaluate the program on every frame of the episode with the reference interpreter."""
    program = check_text(text, name)
    probe, lets = build_probe(text, name)
    tile = episode.metadata.get("tile_size")
    run, look = Interpreter(program), Interpreter(probe)
    state, probe_state = run.new_state(1, tile)[0], look.new_state(1, tile)[0]
    first = np.ascontiguousarray(episode.frames[0])
    run.reset(first, state)
    look.reset(first, probe_state)
    records = []
    for t in range(episode.frames.shape[0]):
        frame = np.ascontiguousarray(episode.frames[t])
        values = run.evaluate(frame, state)
        reward, event = run.step(frame, state) if t > 0 else (0.0, -1)
        seen = look.evaluate(frame, probe_state)
        named = {let.name: _let_json(probe, let, seen, frame) for let in lets}
        potential = None if program.shaping is None else float(values[program.shaping.potential])
        records.append(FrameRecord(t, float(reward), int(event), int(state[PROGRESS]),
                                   tuple(bool(values[s.predicate]) for s in program.subtasks),
                                   tuple(bool(state[DONE + s.index]) for s in program.subtasks), potential, named))
    return Explanation(program.name, program.description, tuple((s.name, s.description) for s in program.subtasks),
                       len(program.stages), lets, dict(episode.metadata), tuple(records), episode.frames)


# ---- pictures ------------------------------------------------------------------------------------


def _scale(frame: np.ndarray) -> int:
    return max(1, math.ceil(MIN_PICTURE / max(frame.shape[:2])))


def _draw_region(draw: ImageDraw.ImageDraw, region: dict[str, Any], s: int, colour: tuple[int, ...], label: str) -> None:
    x0, y0, x1, y1 = region["bbox"]
    draw.rectangle([x0 * s, y0 * s, (x1 + 1) * s - 1, (y1 + 1) * s - 1], outline=colour, width=2 if s > 2 else 1)
    cx, cy = (region["center"][0] + 0.5) * s, (region["center"][1] + 0.5) * s
    draw.line([cx - 4, cy, cx + 4, cy], fill=colour)
    draw.line([cx, cy - 4, cx, cy + 4], fill=colour)
    draw.text((x0 * s + 2, max(0, y0 * s - LINE)), label, fill=colour)


def annotate(explanation: Explanation, t: int) -> Image.Image:
    """Frame t, scaled up, with every region, point and box let drawn over it and labelled."""
    frame = explanation.frames[t]
    s = _scale(frame)
    image = Image.fromarray(frame).resize((frame.shape[1] * s, frame.shape[0] * s), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    for k, let in enumerate(explanation.lets):
        colour = PALETTE[k % len(PALETTE)]
        value = explanation.records[t].lets[let.name]
        if let.type == "region" and value:
            _draw_region(draw, value, s, colour, let.name)
        elif let.type == "objects":
            for i, region in enumerate(value):
                if region:
                    _draw_region(draw, region, s, colour, f"{let.name}[{i}]")
        elif let.type == "point":
            x, y = (value[0] + 0.5) * s, (value[1] + 0.5) * s
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=colour)
            draw.text((x + 5, y - LINE), let.name, fill=colour)
        elif let.type == "box" and value[2] >= value[0]:
            draw.rectangle([value[0] * s, value[1] * s, (value[2] + 1) * s - 1, (value[3] + 1) * s - 1], outline=colour)
            draw.text((value[0] * s + 2, value[1] * s + 2), let.name, fill=colour)
    return image


def _panel_lines(explanation: Explanation, t: int) -> list[tuple[str, tuple[int, int, int]]]:
    record = explanation.records[t]
    done = record.done
    lines = [(f"step {t}/{len(explanation.records) - 1}  reward {record.reward:+.3f}", (255, 255, 255)),
             (f"progress {record.progress}/{explanation.stages}", (255, 255, 255))]
    if record.potential is not None:
        lines.append((f"potential {record.potential:.3f}", (200, 200, 200)))
    for i, (name, _) in enumerate(explanation.subtasks):
        mark = "done" if done[i] else ("holds" if record.predicates[i] else "-")
        colour = (90, 230, 90) if done[i] else ((255, 220, 60) if record.predicates[i] else (170, 170, 170))
        lines.append((f"{'*' if record.event == i else ' '} {name}: {mark}", colour))
    for k, let in enumerate(explanation.lets):
        value = record.lets[let.name]
        if let.type in ("num", "bool"):
            lines.append((f"{let.name} = {value:.3g}" if let.type == "num" else f"{let.name} = {value}", PALETTE[k % len(PALETTE)]))
        elif let.type == "objects":
            lines.append((f"{let.name}: {len(value)} objects", PALETTE[k % len(PALETTE)]))
        elif let.type == "region" and not value:
            lines.append((f"{let.name}: absent", PALETTE[k % len(PALETTE)]))
    return lines


def annotated_with_panel(explanation: Explanation, t: int) -> Image.Image:
    """The annotated frame with a side panel: step, reward, progress, sub-tasks and number lets."""
    picture = annotate(explanation, t)
    lines = _panel_lines(explanation, t)
    height = max(picture.height, (len(lines) + 1) * LINE)
    canvas = Image.new("RGB", (picture.width + PANEL_WIDTH, height), (24, 24, 24))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (text, colour) in enumerate(lines):
        draw.text((picture.width + 6, 4 + i * LINE), text, fill=colour)
    return canvas


def sheet_steps(explanation: Explanation, count: int = SHEET_FRAMES) -> list[int]:
    """The frames a contact sheet shows: the first, the last, every completion, then evenly spaced."""
    last = len(explanation.records) - 1
    chosen = {0, last} | {r.t for r in explanation.records if r.event >= 0}
    for t in np.linspace(0, last, count).round().astype(int):
        if len(chosen) >= count:
            break
        chosen.add(int(t))
    return sorted(chosen)[: max(count, 2)]


def _timeline(explanation: Explanation, width: int) -> Image.Image:
    """One row per sub-task (yellow where its predicate holds, green once done, a tick where it
    completed), then the progress and the reward per step."""
    steps = len(explanation.records)
    left = 130
    cell = (width - left - 10) / max(1, steps)
    rows = len(explanation.subtasks) + 2
    image = Image.new("RGB", (width, rows * 18 + 40), (16, 16, 16))
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), f"{explanation.program}: {explanation.metadata.get('env_id', '?')} seed {explanation.metadata.get('seed', '?')} "
              f"({explanation.metadata.get('policy', '?')}), {steps - 1} steps", fill=(255, 255, 255))
    rewards = [r.reward for r in explanation.records]
    peak = max(1e-9, max(abs(v) for v in rewards))
    for row in range(rows):
        y = 20 + row * 18
        label = explanation.subtasks[row][0] if row < len(explanation.subtasks) else ("progress" if row == len(explanation.subtasks) else "reward")
        draw.text((4, y + 2), label[:20], fill=(220, 220, 220))
        for record in explanation.records:
            x0 = left + record.t * cell
            x1 = max(x0 + 1, left + (record.t + 1) * cell - 1)
            if row < len(explanation.subtasks):
                done = record.done[row]
                colour = (60, 190, 60) if done else ((230, 200, 40) if record.predicates[row] else (60, 60, 60))
                draw.rectangle([x0, y, x1, y + 14], fill=colour)
                if record.event == row or (record.t > 0 and done and not explanation.records[record.t - 1].done[row]):
                    draw.rectangle([x0, y - 2, x0 + 1, y + 16], fill=(255, 255, 255))
            elif row == len(explanation.subtasks):
                h = 14 * record.progress / max(1, explanation.stages)
                draw.rectangle([x0, y + 14 - h, x1, y + 14], fill=(90, 140, 255))
            else:
                h = 7 * abs(record.reward) / peak
                top, bottom = (y + 7 - h, y + 7) if record.reward >= 0 else (y + 7, y + 7 + h)
                draw.rectangle([x0, top, x1, bottom], fill=(90, 230, 90) if record.reward >= 0 else (230, 90, 90))
    return image


def contact_sheet(explanation: Explanation) -> Image.Image:
    """A grid of annotated frames (captioned with step, reward and progress) over the timeline."""
    steps = sheet_steps(explanation)
    pictures = [annotate(explanation, t) for t in steps]
    w, h = pictures[0].width, pictures[0].height + LINE + 4
    columns = min(SHEET_COLUMNS, len(pictures))
    grid_rows = math.ceil(len(pictures) / columns)
    width = max(columns * (w + 4), 480)
    timeline = _timeline(explanation, width)
    sheet = Image.new("RGB", (width, grid_rows * (h + 4) + timeline.height), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for i, (t, picture) in enumerate(zip(steps, pictures)):
        x, y = (i % columns) * (w + 4), (i // columns) * (h + 4)
        record = explanation.records[t]
        event = f" +{explanation.subtasks[record.event][0]}" if record.event >= 0 else ""
        draw.text((x + 2, y + 2), f"t={t} r={record.reward:+.2f} p={record.progress}{event}", fill=(255, 255, 255))
        sheet.paste(picture, (x, y + LINE + 4))
    sheet.paste(timeline, (0, grid_rows * (h + 4)))
    return sheet


def _png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _gif(explanation: Explanation) -> bytes:
    import io

    last = len(explanation.records) - 1
    steps = sorted(set(np.linspace(0, last, min(GIF_FRAMES, last + 1)).round().astype(int).tolist()))
    frames = [annotated_with_panel(explanation, t) for t in steps]
    size = (max(f.width for f in frames), max(f.height for f in frames))
    frames = [f if f.size == size else _padded(f, size) for f in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=GIF_MS, loop=0)
    return buffer.getvalue()


def _padded(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size, (24, 24, 24))
    canvas.paste(image, (0, 0))
    return canvas


def write_explanation(explanation: Explanation, out: Path, stem: str = "") -> dict[str, Path]:
    """Write ``contact_sheet.png``, ``episode.gif`` and ``explain.json`` (each atomically) into ``out``,
    every name prefixed with ``stem``; returns the paths."""
    paths = {"contact_sheet": out / f"{stem}contact_sheet.png", "gif": out / f"{stem}episode.gif", "json": out / f"{stem}explain.json"}
    write_bytes_atomic(paths["contact_sheet"], _png(contact_sheet(explanation)))
    write_bytes_atomic(paths["gif"], _gif(explanation))
    write_text_atomic(paths["json"], json.dumps(explanation.to_json(), indent=1) + "\n")
    return paths


# ---- the episodes a verification fails on ----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FailedEpisode:
    """An episode that holds a verification back: an expert episode (solved by the env) that the
    program does not complete, or whose goal check is false where the env reports success; or a
    random episode that the program completes."""

    policy: str
    index: int
    episode: Episode


def failed_episodes(program: ir.Program, config: Any, limit: int = 3) -> list[FailedEpisode]:
    """The first ``limit`` failing expert and random episodes of a verification with ``config``
    (a ``VerifyConfig``): its episode folders, or the same seeds ``verify`` records on the fly."""
    from carc.backend.kernel import compile_program
    from carc.verify.scoring import goal_probe, score_episodes, verification_episodes

    kernel, probe = compile_program(program), compile_program(goal_probe(program))
    found: list[FailedEpisode] = []
    for policy in ("expert", "random"):
        episodes = verification_episodes(program, config, policy)  # the episodes verify scored (its folders, or the cache)
        usable = [(i, ep) for i, ep in enumerate(episodes) if not (ep.env_success and ep.steps <= 1) and (policy == "random" or ep.env_success)]
        scores = score_episodes(program, kernel, probe, [ep for _, ep in usable])
        failing = [(i, ep) for (i, ep), score in zip(usable, scores) if _fails(score, policy)]
        failing.sort(key=lambda f: f[1].env_success)  # random: the ones the env calls failures first
        found += [FailedEpisode(policy, i, ep.unpack()) for i, ep in failing[:limit]]
    return found


def _fails(score: Any, policy: str) -> bool:
    if policy == "random":
        return bool(score.complete)
    missed_goal = any(success and not goal for goal, success in zip(score.goal_steps, score.env_success_steps))
    return not score.complete or missed_goal
