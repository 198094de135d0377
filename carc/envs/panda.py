"""Panda-Gym family: envs rendered from a fixed camera with marker colours, and scripted experts.

>>> env = make_panda_env("PandaPush-v3")              # render() -> (84, 84, 3) uint8
>>> obs, _ = env.reset(seed=0); expert = PandaExpert(env); expert.reset(obs)
>>> action = expert.act(obs)

Frames. The camera (``CAMERA``; ``SLIDE_CAMERA`` for Slide's longer table) looks at the table from
the front, opposite the robot's base, 35 degrees down: the hand stays above and behind the fingers,
so the cube, the target and the fingertips all show while the robot pushes or grasps.
pybullet's CPU renderer draws panda-gym's translucent target opaque, in the cube's own green, and
the fingers are the arm's white and grey. ``Markers`` therefore recolours, visually only (the
target is a ghost body; collision shapes and the task's goal are untouched): the target red, drawn
flat on the table when the goal lies on the table (a cube on it then covers it instead of
z-fighting with it), and the fingers blue. ``docs/panda-palette.md`` has the measured palette.

Experts. Actions move the end effector by ``0.05 m`` per unit (panda-gym's displacement control)
and change the finger width by ``0.2 m`` per unit. Reach goes straight to the goal. Push comes
down behind the cube on the line from the goal through the cube and pushes along that line,
slowing near the goal, and goes round again when the cube slips sideways. PickAndPlace descends
open, closes, and carries the cube to the goal. Slide strikes the puck once: the closed fingers are
flat-faced, so a strike sends the puck along the normal at the contact point; the lateral offset
that makes that normal point at the goal was measured per strike angle (``STRIKE_OFFSET_M``).
An episode ends, successfully, as soon as the object (the end effector, for Reach) is within
0.05 m of the goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import panda_gym  # noqa: F401  (registers the Panda*-v3 ids)
from gymnasium.utils import RecordConstructorArgs
from pybullet import GEOM_BOX, GEOM_CYLINDER, GEOM_SPHERE
from pybullet import error as PybulletError

from carc.envs.base import PANDA_EXPERT_TASKS, EnvError, run_expert

CAMERA: dict[str, Any] = {
    "render_target_position": np.array([0.0, 0.0, 0.0]),
    "render_distance": 0.6,
    "render_yaw": 90.0,
    "render_pitch": -35.0,
    "render_roll": 0.0,
}
SLIDE_CAMERA: dict[str, Any] = {
    **CAMERA,
    "render_target_position": np.array([0.2, 0.0, 0.0]),
    "render_distance": 0.85,
}
TARGET_RGBA = (0.9, 0.1, 0.1, 1.0)
FINGER_RGBA = (0.1, 0.1, 0.9, 1.0)
FINGER_LINKS = (9, 10)
MARKER_LIFT = 0.0005  # metres of a flat marker above the table top

MAX_STEP = 0.05  # metres of end-effector displacement per unit of action
CUBE_HALF = 0.02
HOVER = 0.06  # height above the object at which the end effector travels
PUSH_BEHIND = 0.06  # ee distance behind the cube's centre where a push starts
PUSH_STEP = 0.03  # metres per step at most while pushing
PUSH_LOST = 0.02  # lateral ee offset (m) beyond which a push starts over
STRIKE_BEHIND = 0.06
STRIKE_SPEED = 0.8  # action units along the strike
STRIKE_AIM = 0.002  # metres of lateral aim error allowed before a strike
STRIKE_DONE = 0.075  # puck ahead of the ee by this much: the strike is over
# Lateral offset of the strike path (left of the strike direction, metres) that sends the puck
# along the strike direction, per angle of the strike (degrees from +x). Measured by bisection on
# single strikes (seeds 1000-1002); between -2 and 2 degrees the flat face is used (offset 0).
STRIKE_ANGLE_DEG = np.arange(-75.0, 76.0, 5.0)
STRIKE_OFFSET_M = np.array([-0.0059, -0.0045, -0.0024, -0.0004, 0.0019, 0.0054, 0.0085, 0.0103, 0.0122,
                            0.0151, 0.0163, 0.0197, 0.0216, 0.0223, 0.0220, 0.0, -0.0240, -0.0224,
                            -0.0213, -0.0193, -0.0152, -0.0132, -0.0111, -0.0090, -0.0065, -0.0039,
                            -0.0013, 0.0009, 0.0029, 0.0047, 0.0059])
FACE_DEG = 2.0


def camera_for(env_id: str) -> dict[str, Any]:
    """The fixed camera keyword arguments for a Panda-Gym env id."""
    return SLIDE_CAMERA if "Slide" in env_id else CAMERA


def panda_task_env(env: gym.Env) -> Any:
    """The panda-gym `RobotTaskEnv` under the wrappers (panda-gym has no type hints: `Any`)."""
    unwrapped = env.unwrapped
    if not all(hasattr(unwrapped, part) for part in ("sim", "task", "robot")):
        raise TypeError(f"not a panda-gym env: {type(unwrapped).__name__}")
    return unwrapped


class Markers(gym.Wrapper, RecordConstructorArgs):
    """Draw the target red (flat on the table when the goal lies on it) and the fingers blue."""

    def __init__(self, env: gym.Env) -> None:
        RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        sim = panda_task_env(env).sim
        body = sim._bodies_idx
        for name in body:
            if name.startswith("target"):  # Stack has two, target1 and target2
                sim.physics_client.changeVisualShape(body[name], -1, rgbaColor=list(TARGET_RGBA))
        for link in FINGER_LINKS:
            sim.physics_client.changeVisualShape(body["panda"], link, rgbaColor=list(FINGER_RGBA))

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        unwrapped = panda_task_env(self.env)
        sim = unwrapped.sim
        goal = unwrapped.task.get_goal()
        if _one_target_position(sim, goal) and goal[2] <= marker_height(sim) + 1e-6:
            flat = np.array([goal[0], goal[1], MARKER_LIFT - marker_height(sim) / 2])
            sim.set_base_pose("target", flat, np.array([0.0, 0.0, 0.0, 1.0]))
        return obs, info


def _one_target_position(sim: Any, goal: np.ndarray) -> bool:
    """Whether the task's goal is the position of its one object's one target (Push, Slide,
    PickAndPlace; not Reach, which has no object, Stack's two targets or Flip's orientation)."""
    bodies = sim._bodies_idx
    return "object" in bodies and "target" in bodies and goal.shape == (3,)


def marker_height(sim: Any) -> float:
    """Height of the target's visual shape (a box, a cylinder or a sphere), metres."""
    _, _, geometry, dims, *_ = sim.physics_client.getVisualShapeData(sim._bodies_idx["target"])[0]
    return float({GEOM_BOX: dims[2], GEOM_CYLINDER: dims[0], GEOM_SPHERE: 2 * dims[0]}[geometry])


def make_panda_env(env_id: str, render_size: int = 84, **kwargs: Any) -> gym.Env:
    """A Panda-Gym env whose ``render()`` is the fixed-camera frame carc's palette was measured on.

    ``kwargs`` go to ``gym.make`` and may override the camera.
    """
    options = {**camera_for(env_id), **kwargs}
    try:
        env = gym.make(env_id, render_mode="rgb_array", render_width=render_size, render_height=render_size, **options)
    except PybulletError as err:  # e.g. PandaFlip when panda-gym's wheel lacks its texture
        raise EnvError(f"cannot make environment {env_id!r}: pybullet: {err}") from None
    return Markers(env)


@dataclass(frozen=True)
class Scene:
    """What the expert reads from one dict observation (metres, m/s)."""

    ee: np.ndarray
    obj: np.ndarray
    obj_velocity: np.ndarray
    goal: np.ndarray

    @staticmethod
    def of(obs: dict[str, np.ndarray]) -> Scene:
        """Robot state first, the object's position, rotation, velocity, spin last."""
        state = np.asarray(obs["observation"], dtype=np.float64)
        return Scene(
            ee=state[:3],
            obj=np.asarray(obs["achieved_goal"], dtype=np.float64),
            obj_velocity=state[-6:-3],
            goal=np.asarray(obs["desired_goal"], dtype=np.float64),
        )


def move_to(ee: np.ndarray, target: np.ndarray) -> np.ndarray:
    """End-effector action toward ``target``, at most one unit long."""
    delta = (target - ee) / MAX_STEP
    norm = float(np.linalg.norm(delta))
    return delta / norm if norm > 1.0 else delta


def flat_direction(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Unit vector in the table plane from ``start`` toward ``end`` (+x when they coincide)."""
    flat = np.array([end[0] - start[0], end[1] - start[1], 0.0])
    norm = float(np.linalg.norm(flat))
    return flat / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])


def left_of(direction: np.ndarray) -> np.ndarray:
    """The table-plane unit vector 90 degrees left of ``direction``."""
    return np.array([-direction[1], direction[0], 0.0])


def strike_offset(direction: np.ndarray) -> float:
    """Lateral offset of the strike path that sends the puck along ``direction``."""
    angle = float(np.degrees(np.arctan2(direction[1], direction[0])))
    if abs(angle) < FACE_DEG:
        return 0.0
    return float(np.interp(angle, STRIKE_ANGLE_DEG, STRIKE_OFFSET_M))


@dataclass(frozen=True)
class Strike:
    """Where a strike starts and where it goes."""

    start: np.ndarray
    direction: np.ndarray

    @staticmethod
    def toward_goal(scene: Scene) -> Strike:
        """The strike that sends the puck from where it lies to the goal."""
        direction = flat_direction(scene.obj, scene.goal)
        start = scene.obj - direction * STRIKE_BEHIND + left_of(direction) * strike_offset(direction)
        start[2] = scene.obj[2]
        return Strike(start, direction)


class PandaExpert:
    """Scripted controller for PandaReach, PandaPush, PandaPickAndPlace and PandaSlide (-v3, ee control)."""

    def __init__(self, env: gym.Env) -> None:
        unwrapped = panda_task_env(env)
        task = type(unwrapped.task).__name__
        if task not in PANDA_EXPERT_TASKS:
            raise EnvError(f"no scripted Panda expert for task {task!r}")
        if unwrapped.robot.control_type != "ee":
            raise EnvError("the Panda expert needs end-effector control, not a *Joints* env")
        self.policy = getattr(self, "_" + {"PickAndPlace": "pick_and_place"}.get(task, task.lower()))
        self.has_fingers = not unwrapped.robot.block_gripper
        self.phase = "approach"
        self.strike: Strike | None = None

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        """Start a new episode."""
        self.phase = "approach"
        self.strike = None

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The action for this observation: float32 in [-1, 1]."""
        move, fingers = self.policy(Scene.of(obs))
        action = np.append(move, fingers) if self.has_fingers else move
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _reach(self, scene: Scene) -> tuple[np.ndarray, float]:
        """Straight to the goal."""
        return move_to(scene.ee, scene.goal), 0.0

    def _come_down_at(self, scene: Scene, start: np.ndarray, near: float) -> np.ndarray:
        """Travel to above ``start`` (rising first when low beside the object), then lower onto it."""
        if self.phase == "approach":
            beside = np.linalg.norm(scene.ee[:2] - scene.obj[:2]) < 0.08
            if beside and scene.ee[2] < scene.obj[2] + HOVER - 0.02:
                return move_to(scene.ee, np.array([*scene.ee[:2], scene.obj[2] + HOVER]))
            if np.linalg.norm(scene.ee[:2] - start[:2]) < near:
                self.phase = "lower"
            return move_to(scene.ee, start + np.array([0.0, 0.0, HOVER]))
        if scene.ee[2] - start[2] < 0.01:
            self.phase = "push"
        return move_to(scene.ee, start)

    def _push(self, scene: Scene) -> tuple[np.ndarray, float]:
        """Come down behind the cube, then push it along the line to the goal, slowing near it."""
        direction = flat_direction(scene.obj, scene.goal)
        offset = scene.ee - scene.obj
        along = float(offset @ direction)
        if self.phase == "push" and (abs(float(offset @ left_of(direction))) > PUSH_LOST or along > -CUBE_HALF):
            self.phase = "approach"  # the cube slipped aside: go round again
        if self.phase != "push":
            start = np.array([*(scene.obj - direction * PUSH_BEHIND)[:2], scene.obj[2]])
            return self._come_down_at(scene, start, near=0.025), 0.0
        remaining = float(np.linalg.norm(scene.goal[:2] - scene.obj[:2]))
        step = float(np.clip(0.5 * remaining, 0.005, PUSH_STEP))
        target = scene.obj + direction * (along + step)  # advance along the line, back onto it
        return move_to(scene.ee, np.array([*target[:2], scene.obj[2]])), 0.0

    def _pick_and_place(self, scene: Scene) -> tuple[np.ndarray, float]:
        """Above the cube, descend open, close, carry it to the goal."""
        if self.phase == "carry" and np.linalg.norm(scene.ee - scene.obj) > 0.03:
            self.phase = "approach"  # dropped it
        if self.phase == "approach":
            if np.linalg.norm(scene.ee[:2] - scene.obj[:2]) < 0.01:
                self.phase = "descend"
            return move_to(scene.ee, scene.obj + np.array([0.0, 0.0, HOVER])), 1.0
        if self.phase == "descend":
            if np.linalg.norm(scene.ee - scene.obj) < 0.01:
                self.phase = "grasp"
            return move_to(scene.ee, scene.obj), 1.0
        if self.phase == "grasp":
            self.phase = "carry"
            return np.zeros(3), -1.0
        return move_to(scene.ee, scene.goal), -1.0

    def _slide(self, scene: Scene) -> tuple[np.ndarray, float]:
        """Aim the strike, lower, strike once, lift away."""
        if self.phase == "approach" or self.strike is None:
            self.strike = Strike.toward_goal(scene)  # the puck may still be settling
        start, direction = self.strike.start, self.strike.direction
        if self.phase == "strike" and float((scene.obj - scene.ee) @ direction) > STRIKE_DONE:
            self.phase = "release"
        if self.phase == "release":
            return np.array([0.0, 0.0, 1.0]), 0.0
        if self.phase == "approach":
            hover = start + np.array([0.0, 0.0, 0.05])
            if np.linalg.norm(scene.ee - hover) < 0.01:
                self.phase = "lower"
            return move_to(scene.ee, hover), 0.0
        if self.phase == "lower":
            aimed = np.linalg.norm(scene.ee[:2] - start[:2]) < STRIKE_AIM
            if aimed and abs(scene.ee[2] - start[2]) < 0.004:
                self.phase = "strike"
            return move_to(scene.ee, start), 0.0
        left = left_of(direction)
        action = direction * STRIKE_SPEED - left * float((scene.ee - start) @ left) / MAX_STEP
        action[2] = (start[2] - scene.ee[2]) / MAX_STEP
        return action, 0.0


def expert_succeeds(env: gym.Env, seed: int) -> bool:
    """Run one expert episode; True when the env reports success."""
    return run_expert(env, PandaExpert(env), seed)


def expert_success_rate(env_id: str, seeds: range) -> float:
    """Fraction of ``seeds`` on which the expert solves ``env_id`` (made without rendering)."""
    env = gym.make(env_id)
    try:
        return sum(expert_succeeds(env, seed) for seed in seeds) / len(seeds)
    finally:
        env.close()
