"""One door to every environment family: build an env, its expert, and its metadata extras.

>>> env = make_env("MiniGrid-DoorKey-5x5-v0")     # family chosen from the id
>>> expert = make_expert(env)                       # ValueError for a family without an expert
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym

from carc.envs.base import Expert


class HasTile(Protocol):
    @property
    def tile(self) -> int: ...

MINIGRID_PREFIXES = ("MiniGrid-", "BabyAI-")
PANDA_PREFIX = "Panda"


def env_family(env_id: str) -> str:
    """The family of an env id: "minigrid", "panda" or "gym"."""
    if env_id.startswith(MINIGRID_PREFIXES):
        return "minigrid"
    if env_id.startswith(PANDA_PREFIX):
        return "panda"
    return "gym"


def env_kwargs_for(program: HasTile, env_id: str) -> dict[str, Any]:
    """A MiniGrid env renders at the tile size the program declares (`observe rgb tile N`)."""
    return {"tile_size": program.tile} if env_family(env_id) == "minigrid" else {}


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """An env that renders the RGB frames its family's palette was measured on."""
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
        from carc.envs.minigrid import MiniGridExpert

        return MiniGridExpert(env)
    if family == "panda":
        from carc.envs.panda import PandaExpert

        return PandaExpert(env)
    raise ValueError(f"no built-in expert for {env_id!r}: experts exist for MiniGrid-*, BabyAI-*, Panda*")


def env_extras(env: gym.Env) -> dict[str, Any]:
    """Family-specific facts to store in an episode's metadata (e.g. MiniGrid's tile size)."""
    if env_family(env_id_of(env)) == "minigrid":
        return {"tile_size": int(env.get_wrapper_attr("tile_size"))}
    return {}
