"""The MiniGrid expert: a planner over the privileged state (``env.unwrapped``), replanned every step.

>>> from carc.envs.minigrid import make_minigrid_env
>>> env = make_minigrid_env("MiniGrid-DoorKey-5x5-v0", tile_size=8)
>>> obs, _ = env.reset(seed=0)
>>> expert = MiniGridExpert(env); expert.reset(obs)
>>> action = expert.act(obs)

It takes the mission's final target (``_final_target``: the object to pick up, the goal or cell to
reach, the door to open, the object to stand at and say done, where to drop the object to move),
searches the cheapest way there over poses ``(x, y, dir)`` with MiniGrid's action semantics, and when
the way is barred it switches to the sub-goal that clears the first bar: the key of a locked door's
colour (toggling open the box that hides it), or the object that stands in the way. Whatever it
carries and no longer needs it drops on a free cell that leaves every cell it still needs within
reach.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from minigrid.core.world_object import Box, Door, Key, WorldObj
from minigrid.envs import FetchEnv, GoToDoorEnv, GoToObjectEnv, MemoryEnv, PutNearEnv, RedBlueDoorEnv
from minigrid.minigrid_env import MiniGridEnv

from carc.envs.base import run_expert
from carc.envs.minigrid import make_minigrid_env

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
DROP_NEAR = 7  # not a MiniGrid action: a Target's "drop on a free cell next to it, diagonals included"
DIR_VECS = ((1, 0), (0, 1), (-1, 0), (0, -1))
BARRIER_COST = 1000
MAX_SUBGOALS = 6

Cell = tuple[int, int]
Pose = tuple[int, int, int]


@dataclass(frozen=True)
class Target:
    """Face ``cell`` and do ``action`` (pickup, toggle, forward onto a goal, or drop), or with
    ``DROP_NEAR``, drop what is carried on a free cell next to ``cell``."""

    cell: Cell
    action: int


def _front(pose: Pose) -> Cell:
    x, y, d = pose
    dx, dy = DIR_VECS[d]
    return x + dx, y + dy


def _get(u: MiniGridEnv, cell: Cell) -> WorldObj | None:
    return u.grid.get(*cell)


def _in_grid(u: MiniGridEnv, cell: Cell) -> bool:
    return 0 <= cell[0] < u.grid.width and 0 <= cell[1] < u.grid.height


def _cells(u: MiniGridEnv) -> Iterator[tuple[Cell, WorldObj]]:
    for y in range(u.grid.height):
        for x in range(u.grid.width):
            obj = u.grid.get(x, y)
            if obj is not None:
                yield (x, y), obj


def _find(u: MiniGridEnv, match: Callable[[WorldObj], bool]) -> Cell | None:
    return next((cell for cell, obj in _cells(u) if match(obj)), None)


def _opens(door: WorldObj, carrying: WorldObj | None) -> bool:
    """True when a toggle opens this locked door."""
    return isinstance(carrying, Key) and carrying.color == door.color


def _is_barrier(obj: WorldObj | None, carrying: WorldObj | None) -> bool:
    """A locked door without its key, or an object lying in the way."""
    if obj is None:
        return False
    if isinstance(obj, Door):
        return obj.is_locked and not _opens(obj, carrying)
    return obj.can_pickup()


def _enter_cost(obj: WorldObj | None, carrying: WorldObj | None, relaxed: bool) -> int | None:
    """Cost of moving forward into a cell; None when impossible. ``relaxed`` prices barriers."""
    if obj is None:
        return 1
    if obj.type in ("goal", "lava"):
        return None  # entering ends the episode: only ever a final target
    if isinstance(obj, Door) and not obj.is_open:
        if not obj.is_locked or _opens(obj, carrying):
            return 2  # toggle, then forward
    elif obj.can_overlap():
        return 1
    if relaxed and _is_barrier(obj, carrying):
        return BARRIER_COST
    return None


def _moves(
    u: MiniGridEnv, pose: Pose, carrying: WorldObj | None, relaxed: bool
) -> Iterator[tuple[int, Pose, int]]:
    """(action, next pose, cost) for each possible move from a pose."""
    x, y, d = pose
    yield LEFT, (x, y, (d - 1) % 4), 1
    yield RIGHT, (x, y, (d + 1) % 4), 1
    front = _front(pose)
    if _in_grid(u, front):
        cost = _enter_cost(_get(u, front), carrying, relaxed)
        if cost is not None:
            yield FORWARD, (*front, d), cost


def _agent_pose(u: MiniGridEnv) -> Pose:
    return int(u.agent_pos[0]), int(u.agent_pos[1]), int(u.agent_dir)


def _search(
    u: MiniGridEnv, carrying: WorldObj | None, relaxed: bool, done: Callable[[Pose], bool]
) -> list[tuple[int, Pose]] | None:
    """Cheapest moves (action, pose after) from the agent to a pose where ``done`` holds."""
    start = _agent_pose(u)
    parent: dict[Pose, tuple[Pose, int] | None] = {start: None}
    best = {start: 0}
    heap = [(0, 0, start)]
    tie = 0
    while heap:
        cost, _, pose = heapq.heappop(heap)
        if cost > best[pose]:
            continue
        if done(pose):
            return _path_to(parent, pose)
        for action, nxt, step in _moves(u, pose, carrying, relaxed):
            if cost + step < best.get(nxt, cost + step + 1):
                best[nxt] = cost + step
                parent[nxt] = (pose, action)
                tie += 1
                heapq.heappush(heap, (cost + step, tie, nxt))
    return None


def _path_to(parent: dict[Pose, tuple[Pose, int] | None], pose: Pose) -> list[tuple[int, Pose]]:
    path = []
    while (link := parent[pose]) is not None:
        path.append((link[1], pose))
        pose = link[0]
    return path[::-1]


def _facing(cell: Cell) -> Callable[[Pose], bool]:
    return lambda pose: _front(pose) == cell


def _first_barrier(
    u: MiniGridEnv, path: list[tuple[int, Pose]], target: Target, carrying: WorldObj | None
) -> Cell | None:
    """The first barrier the path walks into, or the target door itself when it is locked (a box to
    open is no barrier)."""
    for action, pose in path:
        if action == FORWARD and _is_barrier(_get(u, pose[:2]), carrying):
            return pose[:2]
    obj = _get(u, target.cell)
    if target.action == TOGGLE and isinstance(obj, Door) and _is_barrier(obj, carrying):
        return target.cell
    return None


def _first_action(u: MiniGridEnv, path: list[tuple[int, Pose]], target: Target) -> int:
    """The next action along a barrier-free path: a closed door in front is toggled first."""
    if not path:
        return target.action
    action, pose = path[0]
    obj = _get(u, pose[:2])
    if action == FORWARD and isinstance(obj, Door) and not obj.is_open:
        return TOGGLE
    return action


def _final_target(u: MiniGridEnv) -> Target | None:
    """The mission's last step: one of the missions below, else pick up ``u.obj``, step onto the
    goal, or open ``u.door``."""
    for kind, target in _MISSIONS:
        if isinstance(u, kind):
            return target(u)
    obj = getattr(u, "obj", None)
    if isinstance(obj, WorldObj) and obj.can_pickup():
        return _target_at(u, lambda o: o is obj, PICKUP)
    goal = _find(u, lambda o: o.type == "goal")
    if goal is not None:
        return Target(goal, FORWARD)
    door = getattr(u, "door", None)
    if isinstance(door, Door) and not door.is_open:
        return _target_at(u, lambda o: o is door, TOGGLE)
    return None


def _target_at(u: MiniGridEnv, match: Callable[[WorldObj], bool], action: int) -> Target | None:
    cell = _find(u, match)
    return None if cell is None else Target(cell, action)


def _fetch(u: Any) -> Target | None:
    """Fetch: pick up the object of the mission's type and colour (picking up any other fails)."""
    return _target_at(u, lambda o: o.type == u.targetType and o.color == u.targetColor, PICKUP)


def _go_to(u: Any) -> Target | None:
    """GoToDoor, GoToObject: face the target (so stand next to it) and say done."""
    return Target(_cell_of(u.target_pos), DONE)


def _red_then_blue(u: Any) -> Target | None:
    """RedBlueDoors: open the red door, then the blue one (blue first fails)."""
    door = u.blue_door if u.red_door.is_open else u.red_door
    return _target_at(u, lambda o: o is door, TOGGLE)


def _memory(u: Any) -> Target | None:
    """Memory: step onto the cell beside the object that matches the one seen at the start."""
    return Target(_cell_of(u.success_pos), FORWARD)


def _put_near(u: Any) -> Target | None:
    """PutNear: pick up the object to move (any other fails); carrying it, drop it next to the target."""
    carrying = u.carrying
    if carrying is not None and carrying.type == u.move_type and carrying.color == u.moveColor:
        return Target(_cell_of(u.target_pos), DROP_NEAR)
    return _target_at(u, lambda o: o.type == u.move_type and o.color == u.moveColor, PICKUP)


def _cell_of(position: Any) -> Cell:
    return int(position[0]), int(position[1])


_MISSIONS: tuple[tuple[type, Callable[[Any], Target | None]], ...] = (
    (FetchEnv, _fetch), (GoToDoorEnv, _go_to), (GoToObjectEnv, _go_to), (RedBlueDoorEnv, _red_then_blue),
    (MemoryEnv, _memory), (PutNearEnv, _put_near),
)


def _clearing_target(u: MiniGridEnv, barrier: Cell) -> Target | None:
    """What clears a barrier: for a locked door, picking up its key, or opening the box that hides
    it (ObstructedMaze); a box in the way that holds something is opened (a key carried inside a
    box cannot open a door); anything else in the way is picked up."""
    obj = _get(u, barrier)
    if obj is not None and obj.type == "door":
        fits = lambda o: isinstance(o, Key) and o.color == obj.color  # noqa: E731
        return _target_at(u, fits, PICKUP) or _target_at(u, lambda o: isinstance(o, Box) and fits(o.contains), TOGGLE)
    if isinstance(obj, Box) and obj.contains is not None:
        return Target(barrier, TOGGLE)
    return Target(barrier, PICKUP)


def _reachable(u: MiniGridEnv, start: Cell, blocked: Cell, cleared: set[Cell]) -> set[Cell]:
    """Cells reachable on foot from ``start`` if every door opened, the objects on ``cleared`` were
    picked up and ``blocked`` were a wall."""
    seen = {start}
    queue = deque([start])
    while queue:
        x, y = queue.popleft()
        for dx, dy in DIR_VECS:
            cell = (x + dx, y + dy)
            if cell in seen or cell == blocked or not _in_grid(u, cell):
                continue
            obj = _get(u, cell)
            if obj is None or obj.type == "door" or cell in cleared or (obj.can_overlap() and obj.type != "lava"):
                seen.add(cell)
                queue.append(cell)
    return seen


def _drop_keeps_access(u: MiniGridEnv, pose: Pose, needed: set[Cell]) -> bool:
    """True when dropping from ``pose`` leaves every needed cell next to a reachable cell (the
    needed objects themselves will be picked up or opened on the way)."""
    reach = _reachable(u, pose[:2], _front(pose), needed)
    return all(
        any((cell[0] + dx, cell[1] + dy) in reach for dx, dy in DIR_VECS) for cell in needed
    )


def _drop_action(u: MiniGridEnv, needed: list[Cell], taken_from: Cell | None) -> int:
    """Drop what the agent carries where it is harmless: every needed cell stays within reach, and
    not on ``taken_from`` (where the object was picked up to clear the way: dropped back there, it
    would be picked up again, for ever)."""
    cells = set(needed)
    return _drop_where(u, lambda front, pose: front != taken_from and _drop_keeps_access(u, pose, cells))


def _drop_where(u: MiniGridEnv, fits: Callable[[Cell, Pose], bool]) -> int:
    """Walk to the nearest pose whose front cell is free and ``fits`` (front cell, pose), then drop."""

    def good(pose: Pose) -> bool:
        front = _front(pose)
        return _in_grid(u, front) and _get(u, front) is None and fits(front, pose)

    path = _search(u, u.carrying, relaxed=False, done=good)
    if path is None:
        return DONE
    return _first_action(u, path, Target(_front(_agent_pose(u)), DROP))


def _plan(u: MiniGridEnv, taken_from: Cell | None = None) -> int:
    """One action towards the mission, replanned from the current state (``taken_from``: where what
    the agent carries was picked up, if the expert saw it)."""
    target = _final_target(u)
    if target is not None and target.action == DROP_NEAR:
        return _drop_near(u, target.cell)
    needed: list[Cell] = []
    for _ in range(MAX_SUBGOALS):
        if target is None:
            return DONE
        needed.append(target.cell)
        path = _search(u, u.carrying, relaxed=True, done=_facing(target.cell))
        if path is None:
            return DONE
        barrier = _first_barrier(u, path, target, u.carrying)
        if barrier is None:
            if target.action == PICKUP and u.carrying is not None and _free_hands_ok(u, target):
                return _drop_action(u, needed, taken_from)
            return _first_action(u, path, target)
        needed.append(barrier)
        target = _clearing_target(u, barrier)
    return DONE


def _drop_near(u: MiniGridEnv, near: Cell) -> int:
    """Drop what the agent carries on a free cell next to ``near`` (diagonals included)."""
    return _drop_where(u, lambda front, _: max(abs(front[0] - near[0]), abs(front[1] - near[1])) <= 1)


def _free_hands_ok(u: MiniGridEnv, target: Target) -> bool:
    """True when the target is still reachable without what the agent carries."""
    path = _search(u, None, relaxed=True, done=_facing(target.cell))
    return path is not None and _first_barrier(u, path, target, None) is None


class MiniGridExpert:
    """Planning expert for MiniGrid missions (reads ``env.unwrapped``). It remembers one thing: the
    cell it last picked an object up from, where it will not drop that object again."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self.taken_from: Cell | None = None

    def reset(self, obs: Any) -> None:
        """A new episode: nothing is carried."""
        self.taken_from = None

    def act(self, obs: Any) -> int:
        """The next MiniGrid action (0..6)."""
        unwrapped = self.env.unwrapped
        if not isinstance(unwrapped, MiniGridEnv):
            raise TypeError(f"the MiniGrid expert needs a MiniGrid env, not {type(unwrapped).__name__}")
        action = _plan(unwrapped, self.taken_from if unwrapped.carrying is not None else None)
        if action == PICKUP:
            self.taken_from = _front(_agent_pose(unwrapped))
        return action


def run_expert_episode(env: gym.Env, seed: int) -> bool:
    """Run the expert for one episode; True when it ends with the env's success reward."""
    return run_expert(env, MiniGridExpert(env), seed)


def expert_success_rate(env_id: str, seeds: range) -> float:
    """Fraction of ``seeds`` on which the expert solves ``env_id``."""
    env = make_minigrid_env(env_id)
    try:
        wins = sum(run_expert_episode(env, seed) for seed in seeds)
    finally:
        env.close()
    return wins / len(seeds) if len(seeds) else 0.0
