"""The two images a model is shown: the start of the task and its goal, from the env or from PNG files.

From the env: the reset frame for a seed, and the last frame of the built-in expert's episode for
the same seed. Small frames are enlarged by a whole factor (nearest neighbour: every pixel becomes a
square block, no colour is invented) before PNG encoding. An image is named by the SHA-256 of its
pixels, so a transcript stores it once and a request's hash does not depend on the PNG encoder.

>>> import numpy as np
>>> upscale(np.zeros((40, 40, 3), np.uint8)).shape
(480, 480, 3)
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from carc.core.files import write_bytes_atomic

TARGET_SIDE = 512  # enlarge until the longer side is about this many pixels
MAX_PNG_BYTES = 16 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MAX_EXPERT_STEPS = 10_000


class ImageError(Exception):
    """An image that cannot be used (unreadable, not RGB, too large), with the file and reason."""


@dataclass(frozen=True, eq=False)
class TaskImage:
    """One image as the model sees it (already enlarged), and the size of the frame it shows."""

    role: str  # "start" or "goal"
    pixels: np.ndarray  # (H, W, 3) uint8
    frame_shape: tuple[int, int]  # the env's frame (H, W) before enlarging

    @property
    def digest(self) -> str:
        return pixel_digest(self.pixels)

    @property
    def scale(self) -> int:
        return self.pixels.shape[0] // max(1, self.frame_shape[0])

    def png(self) -> bytes:
        return encode_png(self.pixels)

    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png()).decode("ascii")


def pixel_digest(pixels: np.ndarray) -> str:
    """SHA-256 of an image's shape and pixel bytes."""
    h, w = pixels.shape[:2]
    return hashlib.sha256(f"{h}x{w}x3:".encode() + np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def upscale(frame: np.ndarray, target: int = TARGET_SIDE) -> np.ndarray:
    """Enlarge by the whole factor that brings the longer side closest to `target` from below (>= 1)."""
    factor = max(1, target // max(frame.shape[0], frame.shape[1], 1))
    return np.repeat(np.repeat(frame, factor, axis=0), factor, axis=1) if factor > 1 else frame


def encode_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), "RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def decode_png(data: bytes, name: str) -> np.ndarray:
    """Pixels of a PNG file, as (H, W, 3) uint8; any other content is an ImageError."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_PNG_BYTES:
        raise ImageError(f"{name}: image file larger than {MAX_PNG_BYTES // (1024 * 1024)} MB")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ImageError(f"{name}: not a PNG file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{name}: image of {image.width}x{image.height} pixels is too large (at most {MAX_PIXELS})")
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageError(f"{name}: unreadable PNG ({err})") from None
    if pixels.ndim != 3 or min(pixels.shape[:2]) < 1:
        raise ImageError(f"{name}: empty image")
    return pixels


def read_png(path: str | Path) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror or err})") from None
    return decode_png(data, str(path))


def write_png(pixels: np.ndarray, path: Path) -> None:
    """Write atomically (temp file in the same folder, then os.replace)."""
    write_atomic(path, encode_png(pixels))


def write_atomic(path: Path, data: bytes) -> None:
    """Write a run's file atomically (carc.core.files), making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)


def task_image(role: str, frame: np.ndarray) -> TaskImage:
    return TaskImage(role, upscale(frame), (int(frame.shape[0]), int(frame.shape[1])))


@dataclass(frozen=True)
class EnvTask:
    """What the env says about the task: its start and goal frames and its own mission text."""

    start: np.ndarray
    goal: np.ndarray
    mission: str | None
    expert_success: bool
    tile: int | None


def env_task(env_id: str, seed: int) -> EnvTask:
    """Reset frame and the expert's final frame for `seed` (MiniGrid at its default tile of 8)."""
    from carc.envs.base import env_succeeded, frame_of
    from carc.envs.registry import make_env, make_expert

    env = make_env(env_id)
    try:
        obs, _ = env.reset(seed=seed)
        start = np.array(frame_of(env, obs))
        mission = getattr(env.unwrapped, "mission", None)
        expert = make_expert(env)
        expert.reset(obs)
        success, last = False, start
        for _ in range(MAX_EXPERT_STEPS):
            obs, reward, terminated, truncated, info = env.step(expert.act(obs))
            last = np.array(frame_of(env, obs))
            if terminated or truncated:
                success = env_succeeded(float(reward), bool(terminated), info)
                break
        tile = _tile_of(env)
    finally:
        env.close()
    return EnvTask(start, last, mission if isinstance(mission, str) else None, success, tile)


def _tile_of(env: Any) -> int | None:
    try:
        return int(env.get_wrapper_attr("tile_size"))
    except AttributeError:
        return None
