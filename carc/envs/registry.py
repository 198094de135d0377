"""One door to every environment family: build an env, its expert, and its metadata extras.

>>> env = make_env("MiniGrid-DoorKey-5x5-v0")     # family chosen from the id
>>> expert = make_expert(env)                       # EnvError for a family without an expert
>>> success_rule("CartPole-v1")                     # no success signal carc knows of
'unknown'
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import gymnasium as gym

from carc.envs.base import PANDA_EXPERT_TASKS, Expert
from carc.envs.base import EnvError as EnvError  # raised here; defined in base, which panda imports too

ENV_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}")


class HasTile(Protocol):
    @property
    def tile(self) -> int: ...

MINIGRID_PREFIXES = ("MiniGrid-", "BabyAI-")
PANDA_PREFIX = "Panda"
# The ids of the Panda-Gym tasks carc's scripted expert plays (not Stack, Flip or the *Joints* variants).
PANDA_EXPERT_ID = re.compile(rf"Panda({'|'.join(PANDA_EXPERT_TASKS)})(Dense)?-v\d+")


FAMILY_TITLES = {"minigrid": "MiniGrid", "panda": "Panda-Gym"}  # the families a stdlib palette was measured on


def env_family(env_id: str) -> str:
    """The family of an env id: "minigrid", "panda" or "gym"."""
    if env_id.startswith(MINIGRID_PREFIXES):
        return "minigrid"
    if env_id.startswith(PANDA_PREFIX):
        return "panda"
    return "gym"


def palette_mismatch(used_modules: tuple[str, ...], env_id: str) -> str | None:
    """Why a program's palette cannot fit an env's frames, or None: it uses the stdlib module of one
    env family (its colours measured on that family's frames) and the env is of another.

    >>> palette_mismatch(("minigrid",), "CartPole-v1")
    "the program says `use minigrid`, a palette measured on MiniGrid's frames, but CartPole-v1 is not a MiniGrid env: its colours will not match"
    """
    family = env_family(env_id)
    for module in used_modules:
        if module in FAMILY_TITLES and module != family:
            title = FAMILY_TITLES[module]
            return (f"the program says `use {module}`, a palette measured on {title}'s frames, but {env_id} is not a {title} "
                    "env: its colours will not match")
    return None


def success_rule(env_id: str) -> str:
    """How the env itself tells success (carc.envs.base.SUCCESS_RULES): MiniGrid's reward on
    termination, Panda-Gym's ``info["is_success"]``, and for any other env "unknown"."""
    return {"minigrid": "minigrid", "panda": "is_success"}.get(env_family(env_id), "unknown")


def has_expert(env_id: str) -> bool:
    """Whether carc has a built-in expert for the env: every MiniGrid and BabyAI env, and the
    Panda-Gym tasks of PANDA_EXPERT_ID."""
    family = env_family(env_id)
    return family == "minigrid" or (family == "panda" and PANDA_EXPERT_ID.fullmatch(env_id) is not None)


def require_expert(env_id: str) -> None:
    """An EnvError unless carc has a built-in expert for ``env_id`` (saying so when the id is unknown)."""
    if not has_expert(env_id):
        require_registered(env_id)
        raise _no_expert(env_id)


def require_registered(env_id: str) -> None:
    """An EnvError unless ``env_id`` is an id Gymnasium knows (MiniGrid's and Panda-Gym's registered
    first), without making the env."""
    check_env_id(env_id)
    family = env_family(env_id)
    try:
        if family == "minigrid":
            import minigrid  # noqa: F401  (registers the MiniGrid and BabyAI ids)
        if family == "panda":
            import panda_gym  # noqa: F401  (registers the Panda*-v3 ids)
        gym.spec(env_id)
    except (gym.error.Error, ImportError) as err:
        raise EnvError(f"unknown environment {env_id!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def _no_expert(env_id: str) -> EnvError:
    return EnvError(f"no built-in expert for {env_id!r}: experts exist for MiniGrid-*, BabyAI-* and "
                    f"Panda{{{','.join(PANDA_EXPERT_TASKS)}}}[Dense]-v3 envs "
                    f"(carc verify --expert DIR takes expert episodes recorded another way)")


def check_env_id(env_id: object) -> str:
    """The id itself when it looks like a Gymnasium id, else an EnvError."""
    if not isinstance(env_id, str) or not ENV_ID.fullmatch(env_id):
        raise EnvError(f"not an environment id: {env_id!r}")
    return env_id


def env_kwargs_for(program: HasTile, env_id: str) -> dict[str, Any]:
    """A MiniGrid env renders at the tile size the program declares (`observe rgb tile N`)."""
    return {"tile_size": program.tile} if env_family(env_id) == "minigrid" else {}


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """An env that renders the RGB frames its family's palette was measured on; an id Gymnasium does
    not know, or whose module cannot be imported, is an EnvError."""
    check_env_id(env_id)
    try:
        return _make_env(env_id, **kwargs)
    except gym.error.Error as err:
        raise EnvError(f"unknown environment {env_id!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    except ImportError as err:
        raise EnvError(f"cannot make environment {env_id!r}: {err}") from None


def _make_env(env_id: str, **kwargs: Any) -> gym.Env:
    family = env_family(env_id)
    if family == "minigrid":
        from carc.envs.minigrid import make_minigrid_env

        return make_minigrid_env(env_id, **kwargs)
    if family == "panda":
        from carc.envs.panda import make_panda_env

        return make_panda_env(env_id, **kwargs)
    return gym.make(env_id, render_mode="rgb_array", **kwargs)


def env_id_of(env: gym.Env) -> str:
    """The registered id of an env made by ``gym.make`` (wrapped or not)."""
    spec = env.spec or env.unwrapped.spec
    if spec is None:
        raise ValueError("environment has no spec: make it with carc.envs.registry.make_env")
    return spec.id


def make_expert(env: gym.Env) -> Expert:
    """The built-in expert for the env's family."""
    env_id = env_id_of(env)
    family = env_family(env_id)
    if family == "minigrid":
        from carc.envs.minigrid_expert import MiniGridExpert

        return MiniGridExpert(env)
    if has_expert(env_id):
        from carc.envs.panda import PandaExpert

        return PandaExpert(env)
    raise _no_expert(env_id)


def env_extras(env: gym.Env) -> dict[str, Any]:
    """Family-specific facts to store in an episode's metadata (e.g. MiniGrid's tile size)."""
    if env_family(env_id_of(env)) == "minigrid":
        return {"tile_size": int(env.get_wrapper_attr("tile_size"))}
    return {}
