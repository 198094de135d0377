"""Env steps/s of one PPO run without evaluation: python speed.py MODE ENV_ID STEPS PROGRAM."""

import json
import sys

from carc.train.config import TrainConfig
from carc.train.runner import train_one

mode, env_id, steps, program = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
result = train_one(TrainConfig(program=program, env_id=env_id, steps=steps, mode=mode, seed=0, out="/tmp/train-speed", eval_every=10**9, eval_episodes=1))
print(json.dumps({"mode": mode, "env": env_id, "steps": result.steps, "wall_s": result.wall_s, "steps_per_s": result.steps_per_s}))
