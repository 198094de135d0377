"""The adversarial corpus: the big generated cases, the frames runtime cases run on, and a runner.

The small cases are files beside this script (`<category>/<case>.car`); the big ones (1 MB, 10,000
levels deep, 100,000-term chains) are built here rather than committed. `manifest.json` lists every
case with its class and expected code:

- malformed: the gate or the parser refuses it (E1xx gate, E2xx syntax);
- invalid: it parses but does not check, or the audit cannot prove it safe (E3xx-E5xx, E7xx);
- exhaustion: it is over a named limit (carc/limits.py);
- runtime-defined: it is accepted, and on the listed frames gives the documented (reward, event).

    python tests/corpus/make_corpus.py --out DIR     # write the generated cases into DIR
    python tests/corpus/make_corpus.py --run         # audit every case, print a table with times

tests/test_corpus.py runs the same cases through `carc.audit.certificate.audit_source`, the entry point of
`carc audit`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"

_HEAD = 'program p "generated adversarial case"\nobserve rgb tile 8\nuse minigrid\n'
_SUB = 'subtask s "go" bonus 1 : '


def _parens(n: int) -> str:
    return _HEAD + _SUB + "(" * n + "exists(agent)" + ")" * n + "\n"


def _fill_to(size: int) -> str:
    body = _HEAD + _SUB + "exists(agent)\n"
    return body + "#" * (size - len(body) - 1) + "\n"


GENERATORS: dict[str, Callable[[], str | bytes]] = {
    "deep_nesting/parens_10000": lambda: _parens(10_000),
    "deep_nesting/not_10000": lambda: _HEAD + _SUB + "not " * 10_000 + "exists(agent)\n",
    "deep_nesting/calls_10000": lambda: _HEAD + _SUB + "abs(" * 10_000 + "area(agent)" + ")" * 10_000 + " > 0\n",
    "deep_nesting/negation_10000": lambda: _HEAD + _SUB + "-" * 10_000 + "area(agent) < 0\n",
    "deep_nesting/arith_parens_10000": lambda: _HEAD + _SUB + "(1 + " * 10_000 + "area(agent)" + ")" * 10_000 + " > 0\n",
    "deep_nesting/if_1500": lambda: _HEAD + _SUB + "if exists(goal) then " * 1_500 + "exists(agent)" + " else false" * 1_500 + "\n",
    "deep_nesting/helper_calls_5000": lambda: _HEAD + _SUB + "on(agent, " * 5_000 + "goal" + ")" * 5_000 + "\n",
    "flat_chains/plus_100000": lambda: _HEAD + _SUB + " + ".join(["area(agent)"] * 100_000) + " > 0\n",
    "flat_chains/and_100000": lambda: _HEAD + _SUB + " and ".join(["exists(agent)"] * 100_000) + "\n",
    "flat_chains/plus_15000_within_bytes": lambda: _HEAD + _SUB + "+".join(["1"] * 15_000) + " > area(agent)\n",
    "flat_chains/not_and_4500_within_bytes": lambda: _HEAD + _SUB + " and ".join(["not true"] * 4_500) + "\n",
    "big_programs/one_megabyte_comment": lambda: _fill_to(1 << 20),
    "big_programs/one_megabyte_of_subtasks": lambda: _HEAD + "".join(
        f'subtask s{i} "step {i}" bonus 0.1 : exists(agent)\n' for i in range(22_000)),
    "big_programs/one_byte_over_the_cap": lambda: _fill_to(65_537),
    "big_programs/exactly_at_the_cap": lambda: _fill_to(65_536),
}


def generate(case: str) -> bytes:
    """The bytes of a generated case (`category/name`, as in the manifest)."""
    data = GENERATORS[case]()
    return data.encode("utf-8") if isinstance(data, str) else data


def load_manifest() -> list[dict[str, Any]]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))["cases"]


def case_bytes(case: dict[str, Any]) -> bytes:
    if case.get("generated"):
        return generate(case["case"])
    return (HERE / f"{case['case']}.car").read_bytes()


# ---- frames the runtime-defined cases run on -------------------------------------------------------

_FILLS = {"black": (0, 0, 0), "red": (255, 0, 0), "white": (255, 255, 255)}


def frame(spec: str) -> np.ndarray:
    """`HxW` (black), `HxW:red`, `HxW:white`, `HxW:dots-N` (N isolated red pixels), `HxW:noise`."""
    size, _, fill = spec.partition(":")
    h, w = (int(v) for v in size.split("x"))
    out = np.zeros((h, w, 3), dtype=np.uint8)
    if fill in _FILLS:
        out[:, :] = _FILLS[fill]
    elif fill.startswith("dots-"):
        spots = [(y, x) for y in range(0, h, 2) for x in range(0, w, 2)]
        count = int(fill.removeprefix("dots-"))
        if count > len(spots):
            raise ValueError(f"{spec}: room for {len(spots)} isolated dots")
        for y, x in spots[:count]:
            out[y, x] = _FILLS["red"]
    elif fill == "noise":
        out[:] = np.random.default_rng(0).integers(0, 256, out.shape, dtype=np.uint8)
    elif fill:
        raise ValueError(f"unknown frame fill {fill!r}")
    return out


def run_on(stepper: Any, spec: str) -> tuple[float, int]:
    """reset on the frame, then one step on the same frame: (reward, event)."""
    state = stepper.new_state(1)
    image = frame(spec)
    stepper.reset(image, state[0])
    reward, event = stepper.step(image, state[0])
    return float(reward), int(event)


# ---- the runner ------------------------------------------------------------------------------------


def audit_case(case: dict[str, Any]) -> tuple[Any, float]:
    """The certificate of a case (through the entry point of `carc audit`) and the seconds it took."""
    from carc.audit.certificate import audit_source

    data = case_bytes(case)
    started = time.perf_counter()
    certificate = audit_source(data, f"tests/corpus/{case['case']}.car", compile_check=False)
    return certificate, time.perf_counter() - started


def problems(case: dict[str, Any], certificate: Any) -> list[str]:
    """How a certificate differs from what the manifest expects of the case (empty: as expected)."""
    codes = sorted({d["code"] for d in certificate.diagnostics})
    if "E799" in codes:
        return ["internal error in the auditor"]
    if case["code"] == "ok":
        found = []
        if certificate.verdict != "safe":
            found.append(f"expected safe, got {codes}")
        lints = [d["code"] for d in certificate.lints]
        if lints != case.get("warnings", []):
            found.append(f"expected warnings {case.get('warnings', [])}, got {lints}")
        return found
    expected = sorted(case.get("codes", [case["code"]]))
    return [] if certificate.verdict == "rejected" and codes == expected else [f"expected {expected}, got {codes or certificate.verdict}"]


def _run_all() -> int:
    rows, worst, bad = [], 0.0, 0
    for case in load_manifest():
        certificate, seconds = audit_case(case)
        found = problems(case, certificate)
        bad += bool(found)
        worst = max(worst, seconds)
        rows.append(f"{case['case']:<55} {case['class']:<16} {case['code']:<5} {'BAD' if found else 'ok '} {seconds * 1000:8.1f} ms"
                    + (f"  {'; '.join(found)}" if found else ""))
    print("\n".join(rows))
    print(f"{len(rows)} cases, {bad} not as expected; slowest {worst * 1000:.1f} ms")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the generated cases under this directory")
    parser.add_argument("--run", action="store_true", help="audit every case and print the table with times")
    args = parser.parse_args(argv)
    if args.out:
        for case in GENERATORS:
            path = args.out / f"{case}.car"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(generate(case))
        print(f"wrote {len(GENERATORS)} generated cases under {args.out}")
    if args.run:
        return _run_all()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent.parent))  # run from a checkout: import carc from it
    sys.exit(main())
