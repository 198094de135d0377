"""The first two messages of every conversation: the system prompt and the task with its images.

System: what the job is, the language card, the stdlib module of the env's family (its palette
measured on these frames), worked examples from other tasks, and the answer format. User: the task
text, the frame geometry, and the start and goal images.

>>> [path for path, _ in worked_examples("MiniGrid-DoorKey-8x8-v0")]
['minigrid/unlock.car', 'minigrid/unlockpickup.car']
"""

from __future__ import annotations

from dataclasses import dataclass

from carc.core.resources import example_path, stdlib_path
from carc.generate.card import language_card
from carc.generate.images import TaskImage
from carc.generate.messages import Message

# Each bundled example and the env ids of its task, in order of preference: an example is never
# shown for its own task (DoorKey-8x8 gets no DoorKey program, at any size).
EXAMPLE_TASKS: tuple[tuple[str, str], ...] = (
    ("minigrid/doorkey.car", "MiniGrid-DoorKey-"),
    ("minigrid/unlock.car", "MiniGrid-Unlock-"),
    ("minigrid/unlockpickup.car", "MiniGrid-UnlockPickup-"),
    ("minigrid/keycorridor.car", "MiniGrid-KeyCorridor"),
    ("minigrid/blockedunlockpickup.car", "MiniGrid-BlockedUnlockPickup-"),
    ("minigrid/redbluedoors.car", "MiniGrid-RedBlueDoors-"),
    ("minigrid/obstructedmaze.car", "MiniGrid-ObstructedMaze-"),
    ("panda/push.car", "PandaPush-"),
    ("panda/reach.car", "PandaReach-"),
    ("panda/pickandplace.car", "PandaPickAndPlace-"),
    ("panda/slide.car", "PandaSlide-"),
)
MAX_EXAMPLES = 2

def role_text(expert_threshold: float, random_threshold: float) -> str:
    """What the job is, and the rule the program is judged by (the run's own thresholds)."""
    expert = "on every expert episode" if expert_threshold >= 1.0 else f"on at least {expert_threshold:.0%} of expert episodes"
    return f"""\
You write reward programs for reinforcement learning, in the carc language (described below).
You are shown two images of an environment: the START of an episode and the GOAL (the last frame of
an episode solved by an expert). Work out what changes between them, break the task into ordered
sub-tasks, and write ONE carc program whose sub-tasks detect each step from the pixels of a frame.
The last sub-task is the goal. carc checks the program, compiles it, and verifies it: every sub-task
must complete, in order, {expert}; random play must complete the task in under {random_threshold:.0%}
of episodes; the goal must hold when the environment reports success. You will be told exactly what
failed, and may then send a corrected program."""


ANSWER_FORMAT = """\
## Answer format

1. Analysis: what you see in each image; which objects matter and their colours in the palette;
   the sub-tasks in order and how each is detected from pixels.
2. The program: exactly ONE fenced block tagged carc, holding the whole program, and nothing after it:

```carc
program NAME "what the reward is for"
observe rgb
...
```

Write only the carc language. Your reply is parsed, never executed: Python, OpenCV or any other
language is rejected."""


def family_of(env_id: str) -> str:
    from carc.envs.registry import env_family

    return env_family(env_id)


def worked_examples(env_id: str, limit: int = MAX_EXAMPLES) -> list[tuple[str, str]]:
    """Bundled example programs for OTHER tasks: the env's own family first, at most `limit`."""
    family = family_of(env_id)
    allowed = [(path, prefix) for path, prefix in EXAMPLE_TASKS if not env_id.startswith(prefix)]
    allowed.sort(key=lambda item: family_of(item[1]) != family)
    return [(path, example_path(path).read_text(encoding="utf-8").strip()) for path, _ in allowed[:limit]]


def stdlib_section(env_id: str) -> str:
    family = family_of(env_id)
    path = stdlib_path(family)
    if path is None:
        return f"## Standard library\n\nThere is no stdlib module for this environment ({env_id}): declare your own colours."
    return "\n".join([
        f"## The `{family}` module (write `use {family}`)",
        "",
        "Its colours are measured on this environment's frames; its lets and defs are ready to use.",
        "",
        "```carc",
        path.read_text(encoding="utf-8").strip(),
        "```",
    ])


def examples_section(env_id: str) -> str:
    blocks = [f"### {path}\n\n```carc\n{text}\n```" for path, text in worked_examples(env_id)]
    return "## Worked examples (for other tasks)\n\n" + "\n\n".join(blocks)


@dataclass(frozen=True)
class TaskFacts:
    """What the prompt says about the task besides the images, and the rule it is judged by."""

    env_id: str
    task: str | None
    tile: int | None
    expert_threshold: float = 1.0
    random_threshold: float = 0.1


def system_text(facts: TaskFacts) -> str:
    env_id = facts.env_id
    role = role_text(facts.expert_threshold, facts.random_threshold)
    return "\n\n".join([role, language_card(), stdlib_section(env_id), examples_section(env_id), ANSWER_FORMAT]) + "\n"


def user_text(facts: TaskFacts, start: TaskImage, goal: TaskImage) -> str:
    h, w = start.frame_shape
    geometry = f"Frames are {w}x{h} pixels (width x height), RGB."
    if facts.tile:
        geometry += (f" The grid's cells are {facts.tile}x{facts.tile} pixels: write `observe rgb tile {facts.tile}`"
                     f" (the grid is {w // facts.tile} cells wide and {h // facts.tile} tall).")
    shown = (f"The images are enlarged {start.scale}x for you ({start.pixels.shape[1]}x{start.pixels.shape[0]}); "
             "your program reads the frames at their real size.") if start.scale > 1 else ""
    task = f"Task: {facts.task}" if facts.task else "Task: not given in words; infer it from the images."
    return "\n".join(filter(None, [
        f"Environment: {facts.env_id}.",
        task,
        geometry,
        shown,
        "Image 1 is the START (the frame after reset). Image 2 is the GOAL (the last frame of an expert's successful episode).",
        "Write the reward program.",
    ]))


def first_messages(facts: TaskFacts, start: TaskImage, goal: TaskImage) -> tuple[Message, Message]:
    return Message("system", system_text(facts)), Message("user", user_text(facts, start, goal), (start, goal))
