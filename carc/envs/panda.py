"""Panda-Gym family: envs rendered from a fixed camera, and scripted experts.

>>> env = make_panda_env("PandaPush-v3")              # render() -> (84, 84, 3) uint8
>>> obs, _ = env.reset(seed=0); expert = PandaExpert(env); expert.reset(obs)
>>> action = expert.act(obs)

The camera looks at the table from the side at 45 degrees. pybullet's CPU renderer draws the
translucent target opaque, in the cube's own green, and where the cube sits on the target the two
coincide and z-fight. carc recolours the target marker red and lowers it until only a flat square
shows on the table (``TargetMarker``): a cube on the target hides it. The target is a ghost body,
so neither change touches the physics or the task's goal.

The experts control the end effector by displacement (panda-gym moves it 0.05 m per unit of
action): Reach goes straight to the goal; Push comes down behind the cube on the line from the
goal through the cube and pushes along it, backing off to re-align when the cube drifts sideways;
PickAndPlace descends open, grasps, lifts and carries the cube to the goal.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import RecordConstructorArgs

CAMERA = {"render_distance": 0.8, "render_yaw": 0.0, "render_pitch": -45.0, "render_roll": 0.0}
TARGET_RGBA = (0.9, 0.1, 0.1, 1.0)
MARKER_SINK = 0.0395  # metres: the 4 cm target box sinks until its top is 0.5 mm above the table
CAMERA_TARGET = (0.0, 0.0, 0.0)
GAIN = 10.0
TABLE_Z = 0.02  # the cube's centre height when it rests on the table
ABOVE_Z = 0.08
BEHIND = 0.05  # how far behind the cube's centre the fingertips start a push
ALIGNED = 0.012  # lateral error (m) beyond which a push is re-aligned


class TargetMarker(gym.Wrapper, RecordConstructorArgs):
    """Draw the target as a red square flush with the table (visual only: the target is a ghost)."""

    def __init__(self, env: gym.Env, sink: float = MARKER_SINK) -> None:
        RecordConstructorArgs.__init__(self, sink=sink)
        gym.Wrapper.__init__(self, env)
        self.sink = sink
        sim = env.unwrapped.sim
        sim.physics_client.changeVisualShape(sim._bodies_idx["target"], -1, rgbaColor=list(TARGET_RGBA))

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        task = self.env.unwrapped.task
        task.sim.set_base_pose("target", task.goal - np.array([0.0, 0.0, self.sink]), np.array([0.0, 0.0, 0.0, 1.0]))
        return obs, info


def make_panda_env(env_id: str, render_size: int = 84, render: bool = True, **kwargs: Any) -> gym.Env:
    """A Panda-Gym env whose ``render()`` is the fixed-camera RGB frame carc's palette was measured on."""
    import panda_gym  # noqa: F401  (registers the ids)

    if not render:
        return gym.make(env_id, **kwargs)
    env = gym.make(
        env_id, render_mode="rgb_array", render_width=render_size, render_height=render_size,
        render_target_position=np.array(CAMERA_TARGET), **CAMERA, **kwargs,
    )
    return TargetMarker(env) if "target" in env.unwrapped.sim._bodies_idx else env


def _toward(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.clip(GAIN * (target - position), -1.0, 1.0)


class PandaExpert:
    """Scripted controller for PandaReach, PandaPush, PandaSlide and PandaPickAndPlace."""

    def __init__(self, env: gym.Env) -> None:
        spec = env.spec or env.unwrapped.spec
        self.task = (spec.id if spec else "").removeprefix("Panda").split("-")[0].removesuffix("Dense")
        if self.task not in ("Reach", "Push", "Slide", "PickAndPlace"):
            raise ValueError(f"no scripted Panda expert for {spec.id if spec else env!r}")
        self.pushing = False
        self.grasped = False

    def reset(self, obs: Any) -> None:
        self.pushing = False
        self.grasped = False

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        ee = obs["observation"][:3]
        goal = obs["desired_goal"]
        if self.task == "Reach":
            return _toward(ee, goal).astype(np.float32)
        cube = obs["achieved_goal"]
        if self.task == "PickAndPlace":
            return self._pick_and_place(ee, cube, goal, obs["observation"][6]).astype(np.float32)
        return self._push(ee, cube, goal).astype(np.float32)

    def _push(self, ee: np.ndarray, cube: np.ndarray, goal: np.ndarray) -> np.ndarray:
        along = goal[:2] - cube[:2]
        distance = float(np.linalg.norm(along))
        if distance < 0.01:
            return np.zeros(3)
        direction = along / distance
        normal = np.array([-direction[1], direction[0]])
        offset = ee[:2] - cube[:2]
        lateral = float(offset @ normal)
        start = np.array([*(cube[:2] - BEHIND * direction), TABLE_Z])
        if self.pushing and (abs(lateral) > 2 * ALIGNED or float(offset @ direction) > 0.0):
            self.pushing = False
        if not self.pushing:
            far = float(np.linalg.norm(ee[:2] - start[:2])) > ALIGNED
            if far and ee[2] < ABOVE_Z - 0.02:
                return _toward(ee, np.array([*ee[:2], ABOVE_Z]))  # rise before travelling
            if far:
                return _toward(ee, np.array([*start[:2], ABOVE_Z]))
            if ee[2] > TABLE_Z + 0.01:
                return _toward(ee, start)
            self.pushing = True
        # Push along the line, steering the contact back onto it, and slow down near the goal.
        target = np.array([*(cube[:2] + (min(distance, 0.04) - BEHIND + 0.02) * direction - lateral * normal), TABLE_Z])
        return _toward(ee, target)

    def _pick_and_place(self, ee: np.ndarray, cube: np.ndarray, goal: np.ndarray, width: float) -> np.ndarray:
        above = np.array([cube[0], cube[1], cube[2] + 0.06])
        if not self.grasped:
            if np.linalg.norm(ee[:2] - cube[:2]) > 0.01:
                return np.array([*_toward(ee, np.array([*cube[:2], max(ee[2], above[2])])), 1.0])
            if ee[2] - cube[2] > 0.005:
                return np.array([*_toward(ee, cube), 1.0])
            self.grasped = width < 0.045
            return np.array([0.0, 0.0, 0.0, -1.0])
        if np.linalg.norm(ee - cube) > 0.03:
            self.grasped = False
        return np.array([*_toward(ee, goal), -1.0])


def expert_success_rate(env_id: str, seeds: range) -> float:
    """Fraction of seeds on which the expert succeeds (``info["is_success"]`` at the end)."""
    env = make_panda_env(env_id, render=False)
    expert = PandaExpert(env)
    wins = 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        expert.reset(obs)
        info: dict[str, Any] = {}
        terminated = truncated = False
        while not (terminated or truncated):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
        wins += bool(info.get("is_success"))
    env.close()
    return wins / len(seeds)
