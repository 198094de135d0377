"""Generation (DESIGN section 9): from start and goal images to a verified reward program, through
any OpenAI-compatible VLM or a recorded transcript, with the paper's repair loop.

>>> from carc.generate import replay_bundled                     # doctest: +SKIP
>>> replay_bundled(Path("out")).outcome.verified                 # doctest: +SKIP
True
"""

from carc.generate.run import Inputs, Result, bundled_transcript, dry_run, env_inputs, generate, replay, replay_bundled
from carc.generate.settings import GenerateSettings

__all__ = ["GenerateSettings", "Inputs", "Result", "bundled_transcript", "dry_run", "env_inputs", "generate", "replay", "replay_bundled"]
