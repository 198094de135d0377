"""Redraw one comparison from several `carc compare` folders: python merge.py OUT TITLE DIR...

Reads each DIR/runs.json and writes OUT/curves.png, curves.csv, table.md and runs.json.
"""

import json
import sys
from pathlib import Path

from carc.core.files import write_text_atomic
from carc.train.curves import write_comparison
from carc.train.runner import RunResult

out, title, folders = Path(sys.argv[1]), sys.argv[2], [Path(p) for p in sys.argv[3:]]
results = [RunResult.from_json(r) for folder in folders for r in json.loads((folder / "runs.json").read_text())]
print(write_comparison(out, results, title))
write_text_atomic(out / "runs.json", json.dumps([r.to_json() for r in results], indent=1) + "\n")
