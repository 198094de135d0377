"""Measure the colours and blobs of carc's Panda-Gym frames (84x84, ``carc.envs.panda`` camera).

    /work/venv/bin/python scripts/measure_panda_palette.py --seeds 6 --random 2 > panda-palette.md

Frames come from expert episodes (every step, the final one included: the gripper touching, pushing
and holding the cube, the cube on the target) and from uniform random episodes (every 5th step) of
PandaReach, PandaPush, PandaPickAndPlace and PandaSlide. Every pixel is labelled from pybullet's
segmentation mask, rendered with the same camera in the same call as the colours (the script checks
that those colours equal ``env.render()``): cube (the task's object), target, fingers, robot (the
rest of the arm), table, floor, background.

Prints markdown: (1) the stock look, without carc's marker colours; (2) the shades of each thing;
(3) a proposed palette entry per thing (centres and a Chebyshev tolerance) with its pixel precision
and recall over all frames, and a tolerance sweep; (4) connected components (8-connectivity) of the
cube and the target under the proposed entries: area, bounding box, centre, and the distance from
the cube's centre to the target's first-frame centre at the end of expert and during random episodes;
(5) how well that distance, and the overlap of the two boxes, tell the env's own success, per frame.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from carc.envs.panda import FINGER_LINKS, PandaExpert, camera_for, make_panda_env  # noqa: E402

ENVS = ("PandaReach-v3", "PandaPush-v3", "PandaPickAndPlace-v3", "PandaSlide-v3")
LABELS = ("cube", "target", "fingers", "robot", "table", "floor", "background")
MARKED = ("cube", "target", "fingers")  # the things reward programs find by colour
TOLERANCES = (6, 10, 14, 20, 28, 40)
MIN_PRECISION = 0.99
MIN_RECALL = 0.995
MAX_CENTRES = 6
RANDOM_EVERY = 5
EIGHT = np.ones((3, 3), dtype=bool)
DISTANCES = (3, 4, 5, 6, 8)


@dataclass(frozen=True)
class Frame:
    """One labelled render."""

    env_id: str
    policy: str  # "expert" or "random"
    step: int
    final: bool
    success: bool  # the task's own success test holds in this state
    rgb: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) index into LABELS


def labelled_render(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    """The env's frame and its per-pixel labels, from one pybullet camera call."""
    base = env.unwrapped
    client = base.sim.physics_client
    view = client.computeViewMatrixFromYawPitchRoll(
        cameraTargetPosition=base.render_target_position, distance=base.render_distance,
        yaw=base.render_yaw, pitch=base.render_pitch, roll=base.render_roll, upAxisIndex=2,
    )
    width, height = base.render_width, base.render_height
    projection = client.computeProjectionMatrixFOV(fov=60, aspect=width / height, nearVal=0.1, farVal=100.0)
    _, _, rgba, _, seg = client.getCameraImage(
        width=width, height=height, viewMatrix=view, projectionMatrix=projection, shadow=True,
        renderer=client.ER_BULLET_HARDWARE_OPENGL, flags=client.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX,
    )
    rgb = np.array(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3]
    if not np.array_equal(rgb, env.render()):
        raise RuntimeError("the labelled render differs from env.render(): camera settings out of step")
    return rgb, label_map(np.array(seg, dtype=np.int64).reshape(height, width), base.sim._bodies_idx)


def label_map(seg: np.ndarray, bodies: dict[str, int]) -> np.ndarray:
    """LABELS index per pixel from pybullet's object-and-link segmentation."""
    uid = np.where(seg >= 0, seg & ((1 << 24) - 1), -1)
    link = np.where(seg >= 0, (seg >> 24) - 1, -2)
    labels = np.full(seg.shape, LABELS.index("background"), dtype=np.uint8)
    by_body = {"object": "cube", "target": "target", "panda": "robot", "table": "table", "plane": "floor"}
    for body, label in by_body.items():
        if body in bodies:
            labels[uid == bodies[body]] = LABELS.index(label)
    fingers = (uid == bodies["panda"]) & np.isin(link, FINGER_LINKS)
    labels[fingers] = LABELS.index("fingers")
    return labels


def succeeded(env: gym.Env) -> bool:
    """The task's own success test on the current state."""
    task = env.unwrapped.task
    return bool(task.is_success(task.get_achieved_goal(), task.get_goal()))


def episode(env: gym.Env, env_id: str, seed: int, policy: str) -> Iterator[Frame]:
    """Labelled frames of one expert or random episode."""
    obs, _ = env.reset(seed=seed)
    expert = PandaExpert(env)
    expert.reset(obs)
    env.action_space.seed(seed)
    every = 1 if policy == "expert" else RANDOM_EVERY
    for step in range(10_000):
        if step % every == 0:
            yield Frame(env_id, policy, step, False, succeeded(env), *labelled_render(env))
        action = expert.act(obs) if policy == "expert" else env.action_space.sample()
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            yield Frame(env_id, policy, step + 1, True, succeeded(env), *labelled_render(env))
            return


def collect(seeds: int, randoms: int) -> list[list[Frame]]:
    """Episodes (lists of frames) of every env: ``seeds`` expert and ``randoms`` random ones."""
    episodes = []
    for env_id in ENVS:
        env = make_panda_env(env_id)
        episodes += [list(episode(env, env_id, s, "expert")) for s in range(seeds)]
        episodes += [list(episode(env, env_id, 1000 + s, "random")) for s in range(randoms)]
        env.close()
    return episodes


def colour_table(frames: list[Frame]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours (n, 3) and their pixel counts per label (n, len(LABELS))."""
    rgb = np.concatenate([f.rgb.reshape(-1, 3) for f in frames]).astype(np.int64)
    labels = np.concatenate([f.labels.ravel() for f in frames]).astype(np.int64)
    key = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    keys, inverse = np.unique(key, return_inverse=True)
    counts = np.zeros((len(keys), len(LABELS)), dtype=np.int64)
    np.add.at(counts, (inverse, labels), 1)
    colours = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1)
    return colours, counts


def within(colours: np.ndarray, centres: list[np.ndarray], tol: int) -> np.ndarray:
    """Mask of colours within ``tol`` (Chebyshev) of any centre."""
    mask = np.zeros(len(colours), dtype=bool)
    for centre in centres:
        mask |= np.abs(colours - centre).max(axis=1) <= tol
    return mask


def scores(mask: np.ndarray, counts: np.ndarray, label: int) -> tuple[float, float]:
    """(precision, recall) of a colour mask for one label, over pixels."""
    hit = counts[mask].sum(axis=0)
    precision = hit[label] / hit.sum() if hit.sum() else 0.0
    return float(precision), float(hit[label] / counts[:, label].sum())


def greedy_centres(colours: np.ndarray, counts: np.ndarray, label: int, tol: int) -> list[np.ndarray]:
    """Centres at the label's commonest shades: each next one the commonest not yet covered."""
    centres: list[np.ndarray] = []
    column = counts[:, label]
    while len(centres) < MAX_CENTRES:
        uncovered = np.where(within(colours, centres, tol), 0, column)
        if uncovered.sum() <= (1 - MIN_RECALL) * column.sum():
            break
        centres.append(colours[int(np.argmax(uncovered))])
    return centres


def separation(colours: np.ndarray, counts: np.ndarray, label: int, centres: list[np.ndarray]) -> int:
    """Chebyshev distance from the nearest centre to the nearest colour of anything else."""
    others = colours[(counts.sum(axis=1) - counts[:, label]) > 0]
    return int(min(np.abs(others - c).max(axis=1).min() for c in centres))


@dataclass(frozen=True)
class Entry:
    """A proposed palette entry and how it does on the frames."""

    tol: int
    centres: list[np.ndarray]
    precision: float
    recall: float
    separation: int


def sweep(colours: np.ndarray, counts: np.ndarray, label: int) -> list[Entry]:
    """One entry per tolerance in TOLERANCES."""
    entries = []
    for tol in TOLERANCES:
        centres = greedy_centres(colours, counts, label, tol)
        precision, recall = scores(within(colours, centres, tol), counts, label)
        entries.append(Entry(tol, centres, precision, recall, separation(colours, counts, label, centres)))
    return entries


def proposal(entries: list[Entry]) -> Entry:
    """Fewest centres, then smallest tolerance, among entries with precision MIN_PRECISION, recall
    MIN_RECALL and a tolerance at most half the separation; else the best recall at that precision."""
    good = [e for e in entries if e.precision >= MIN_PRECISION]
    robust = [e for e in good if e.recall >= MIN_RECALL and 2 * e.tol <= e.separation]
    if robust:
        return min(robust, key=lambda e: (len(e.centres), e.tol))
    if good:
        return max(good, key=lambda e: e.recall)
    return max(entries, key=lambda e: e.precision)


def rgb_text(colour: np.ndarray) -> str:
    return f"rgb({colour[0]}, {colour[1]}, {colour[2]})"


def report_stock() -> None:
    """Shades of cube, target, fingers and arm in panda-gym's own colours (carc's camera, no Markers)."""
    print("## 1. Stock look (panda-gym's own colours, carc's camera)\n")
    env = gym.make("PandaPush-v3", render_mode="rgb_array", render_width=84, render_height=84,
                   **camera_for("PandaPush-v3"))
    frames = []
    for seed in range(3):
        env.reset(seed=seed)
        frames.append(Frame("PandaPush-v3", "stock", 0, False, False, *labelled_render(env)))
    env.close()
    colours, counts = colour_table(frames)
    for label in ("cube", "target", "fingers", "robot"):
        column = counts[:, LABELS.index(label)]
        top = [i for i in np.argsort(-column)[:5] if column[i]]
        print(f"- {label}: " + ", ".join(f"{rgb_text(colours[i])} x{column[i]}" for i in top))
    print()


def report_shades(colours: np.ndarray, counts: np.ndarray) -> None:
    """Per label: pixel count, commonest shades, channel range and spread."""
    print("## 2. Shades per thing (all frames)\n")
    print("| thing | pixels | commonest shades (share) | min..max per channel | std per channel |")
    print("| --- | --- | --- | --- | --- |")
    for index, label in enumerate(LABELS):
        column = counts[:, index]
        total = column.sum()
        if not total:
            continue
        top = [i for i in np.argsort(-column)[:4] if column[i]]
        shades = "; ".join(f"{tuple(int(v) for v in colours[i])} {column[i] / total:.0%}" for i in top)
        present = colours[column > 0]
        weights = column[column > 0] / total
        mean = (present * weights[:, None]).sum(axis=0)
        std = np.sqrt(((present - mean) ** 2 * weights[:, None]).sum(axis=0))
        span = " ".join(f"{lo}..{hi}" for lo, hi in zip(present.min(axis=0), present.max(axis=0)))
        print(f"| {label} | {total} | {shades} | {span} | {' '.join(f'{s:.0f}' for s in std)} |")
    print()


def report_proposals(colours: np.ndarray, counts: np.ndarray) -> dict[str, Entry]:
    """Palette entries per label with precision and recall; returns them for the blob section."""
    print("## 3. Proposed palette entries (Chebyshev tolerance; pixel precision and recall over all frames)\n")
    print("Separation: Chebyshev distance from the nearest centre to the nearest colour of anything else")
    print("(a tolerance below it keeps precision at 1).\n")
    print("| thing | entry | precision | recall | separation |")
    print("| --- | --- | --- | --- | --- |")
    chosen, rows = {}, []
    for index, label in enumerate(LABELS):
        entries = sweep(colours, counts, index)
        entry = chosen[label] = proposal(entries)
        text = " \\| ".join(rgb_text(c) for c in entry.centres) + f" tol {entry.tol}"
        print(f"| {label} | `{text}` | {entry.precision:.4f} | {entry.recall:.4f} | {entry.separation} |")
        rows.append(f"- {label}: " + "; ".join(
            f"tol {e.tol}: {len(e.centres)} centres, P {e.precision:.3f} R {e.recall:.3f}" for e in entries))
    print("\nTolerance sweep (centres re-chosen per tolerance, at most 6):\n")
    print("\n".join(rows) + "\n")
    return chosen


@dataclass(frozen=True)
class Blob:
    """The largest 8-connected component of a colour mask."""

    area: int
    box: tuple[int, int, int, int]  # row0, col0, row1, col1 (inclusive)
    centre: np.ndarray  # (row, col)


def largest_blob(mask: np.ndarray) -> Blob | None:
    """The largest component, or None when the mask is empty."""
    components, count = ndimage.label(mask, structure=EIGHT)
    if not count:
        return None
    areas = np.bincount(components.ravel())[1:]
    rows, cols = np.nonzero(components == int(np.argmax(areas)) + 1)
    box = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
    return Blob(int(areas.max()), box, np.array([rows.mean(), cols.mean()]))


def colour_mask(frame: Frame, entry: Entry) -> np.ndarray:
    """Pixels of the frame within the entry's tolerance of one of its centres."""
    pixels = frame.rgb.astype(np.int64)
    mask = np.zeros(frame.rgb.shape[:2], dtype=bool)
    for centre in entry.centres:
        mask |= np.abs(pixels - centre).max(axis=2) <= entry.tol
    return mask


def spread(values: list[float]) -> str:
    """min / median / max of a list, or a dash."""
    if not values:
        return "-"
    return f"{min(values):.1f} / {float(np.median(values)):.1f} / {max(values):.1f}"


def report_blobs(episodes: list[list[Frame]], entries: dict[str, Entry]) -> None:
    """Cube and target blobs at the start and end; cube-to-target-start distances."""
    print("## 4. Blobs of the cube and target entries (8-connectivity; min / median / max)\n")
    print("| env | policy | cube area start | cube area end | cube box h x w end | target area start "
          "| end: cube centre to target's start centre (px) | end: boxes overlap |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for env_id in ENVS[1:]:
        for policy in ("expert", "random"):
            runs = [e for e in episodes if e[0].env_id == env_id and e[0].policy == policy]
            report_blob_row(env_id, policy, runs, entries)
    print("\n(random: distance and overlap over every recorded frame, the closest frame per episode)\n")


def report_blob_row(env_id: str, policy: str, runs: list[list[Frame]], entries: dict[str, Entry]) -> None:
    """One table row: blob statistics over episodes of one env and policy."""
    area0, area1, box1, target0, distance, overlap = [], [], [], [], [], 0
    for frames in runs:
        cube0 = largest_blob(colour_mask(frames[0], entries["cube"]))
        spot = largest_blob(colour_mask(frames[0], entries["target"]))
        area0 += [cube0.area] if cube0 else [0]
        target0 += [spot.area] if spot else [0]
        ends = [frames[-1]] if policy == "expert" else frames
        cubes = [largest_blob(colour_mask(f, entries["cube"])) for f in ends]
        seen = [c for c in cubes if c is not None]
        if frames[-1] in ends and cubes[-1] is not None:
            area1.append(cubes[-1].area)
            box1.append(f"{cubes[-1].box[2] - cubes[-1].box[0] + 1}x{cubes[-1].box[3] - cubes[-1].box[1] + 1}")
        if spot and seen:
            distance.append(min(float(np.linalg.norm(c.centre - spot.centre)) for c in seen))
            overlap += any(boxes_overlap(c.box, spot.box) for c in seen)
    boxes = ", ".join(sorted(set(box1))[:6]) or "-"
    print(f"| {env_id} | {policy} | {spread(area0)} | {spread(area1)} | {boxes} | {spread(target0)} "
          f"| {spread(distance)} | {overlap}/{len(runs)} |")


def report_on_target(episodes: list[list[Frame]], entries: dict[str, Entry]) -> None:
    """How well "cube centre within D px of the target's first-frame centre" matches the env's success."""
    print("## 5. Cube on target: distance test against the env's own success (all frames)\n")
    print("| env | frames (successes) | " + " | ".join(f"d <= {d}: P / R" for d in DISTANCES)
          + " | boxes overlap: P / R | d <= 6 and target under half its start area: P / R |")
    print("| --- | --- | " + " | ".join("---" for _ in DISTANCES) + " | --- | --- |")
    for env_id in ENVS[1:]:
        pairs = [p for e in episodes if e[0].env_id == env_id for p in on_target_pairs(e, entries)]
        truth = np.array([p.success for p in pairs])
        cells = [precision_recall(np.array([p.distance <= limit for p in pairs]), truth) for limit in DISTANCES]
        cells.append(precision_recall(np.array([p.overlap for p in pairs]), truth))
        cells.append(precision_recall(np.array([p.distance <= 6 and p.covered for p in pairs]), truth))
        print(f"| {env_id} | {len(pairs)} ({truth.sum()}) | " + " | ".join(cells) + " |")
    print("\n(frames where the cube entry finds no blob count as not on target)\n")


@dataclass(frozen=True)
class OnTarget:
    """What one frame says about the cube and the target's first-frame spot."""

    success: bool  # the env's own test
    distance: float  # px from the cube's centre to the target's first-frame centre (inf: no cube)
    overlap: bool  # the cube's box meets the target's first-frame box
    covered: bool  # the target shows less than half its first-frame area


def on_target_pairs(frames: list[Frame], entries: dict[str, Entry]) -> list[OnTarget]:
    """One OnTarget per frame of an episode (none when the first frame shows no target)."""
    spot = largest_blob(colour_mask(frames[0], entries["target"]))
    if spot is None:
        return []
    pairs = []
    for frame in frames:
        cube = largest_blob(colour_mask(frame, entries["cube"]))
        covered = int(colour_mask(frame, entries["target"]).sum()) < spot.area / 2
        if cube is None:
            pairs.append(OnTarget(frame.success, np.inf, False, covered))
        else:
            distance = float(np.linalg.norm(cube.centre - spot.centre))
            pairs.append(OnTarget(frame.success, distance, boxes_overlap(cube.box, spot.box), covered))
    return pairs


def precision_recall(predicted: np.ndarray, truth: np.ndarray) -> str:
    """"P / R" of a boolean prediction against the truth."""
    hits = int((predicted & truth).sum())
    precision = hits / predicted.sum() if predicted.sum() else 0.0
    recall = hits / truth.sum() if truth.sum() else 0.0
    return f"{precision:.2f} / {recall:.2f}"


def boxes_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two inclusive (row0, col0, row1, col1) boxes share a pixel."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="expert episodes per env (seeds 0..N-1)")
    parser.add_argument("--random", type=int, default=2, help="random episodes per env (seeds 1000..)")
    args = parser.parse_args()
    episodes = collect(args.seeds, args.random)
    frames = [f for e in episodes for f in e]
    print(f"{len(frames)} frames of 84x84 from {len(episodes)} episodes; "
          f"command: scripts/measure_panda_palette.py --seeds {args.seeds} --random {args.random}\n")
    report_stock()
    colours, counts = colour_table(frames)
    report_shades(colours, counts)
    entries = report_proposals(colours, counts)
    report_blobs(episodes, entries)
    report_on_target(episodes, entries)


if __name__ == "__main__":
    main()
