"""From a model's reply to a program, and from every failure to the next message for the model.

The reply is only ever parsed: `extract_program` finds the fenced ```carc block (a reply without one,
or with Python instead, is feedback too). The verification report becomes words as precise as the
checker's diagnostics: which sub-task failed on expert or on random play and at what rate, how the
goal check agrees with the environment's own success, which property failed and how.

>>> extract_program("Analysis.\\n```carc\\nprogram p \\"d\\"\\n```\\n").text
'program p "d"\\n'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carc.verify.report import Agreement, VerifyReport

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+.-]*)[^\n]*$")
CLOSING = "Reply with a short analysis, then the whole corrected program in one ```carc block."


@dataclass(frozen=True)
class Block:
    info: str
    text: str


@dataclass(frozen=True)
class Extraction:
    """The program found in a reply, or why there is none (`problem`, in words for the model)."""

    text: str | None
    problem: str | None = None


def fenced_blocks(reply: str) -> list[Block]:
    """Fenced code blocks in order; an unclosed last block runs to the end of the reply."""
    blocks, lines = [], reply.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i].rstrip("\r\n"))
        if not opened:
            i += 1
            continue
        fence, info = opened.group(1), opened.group(2).lower()
        body, i = [], i + 1
        while i < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", lines[i].rstrip("\r\n")):
            body.append(lines[i])
            i += 1
        blocks.append(Block(info, "".join(body)))
        i += 1
    return blocks


def _looks_like_program(text: str) -> bool:
    code = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(code) and code[0].lstrip().startswith("program ")


def extract_program(reply: str) -> Extraction:
    """The last ```carc block; else the last untagged block that starts like a program; else a bare program."""
    blocks = fenced_blocks(reply)
    tagged = [b for b in blocks if b.info == "carc"]
    if tagged:
        return Extraction(tagged[-1].text)
    untagged = [b for b in blocks if b.info == "" and _looks_like_program(b.text)]
    if untagged:
        return Extraction(untagged[-1].text)
    if not blocks and _looks_like_program(reply):
        return Extraction(reply.strip() + "\n")
    other = sorted({b.info or "untagged" for b in blocks})
    if other:
        return Extraction(None, f"Your reply has no ```carc block (it has {', '.join(other)} code). carc accepts only a "
                                "program in the carc language; it never runs Python or any other code.")
    if not reply.strip():
        return Extraction(None, "Your reply was empty.")
    return Extraction(None, "Your reply has no fenced ```carc block with a program.")


# ---- failures as messages -----------------------------------------------------------------------


def no_program_message(problem: str) -> str:
    return f"{problem}\n\n{CLOSING}"


def diagnostics_message(rendered: list[str], lints: list[str]) -> str:
    count = len(rendered)
    head = f"carc rejected the program: {count} error{'s' if count != 1 else ''}. Fix every one and send the whole program."
    return "\n\n".join([head, "\n".join(rendered), *lint_section(lints), CLOSING])


def audit_message(rendered: list[str]) -> str:
    return "\n\n".join(["The program passed the checker, but the safety audit refused it:", "\n".join(rendered), CLOSING])


def compile_message(error: str) -> str:
    return "\n\n".join([f"The program checked, but compiling it failed: {error}", CLOSING])


def unverifiable_message(reason: str) -> str:
    return "\n\n".join([f"The program checked and compiled, but carc cannot verify it: {reason}.", CLOSING])


def lint_section(lints: list[str]) -> list[str]:
    if not lints:
        return []
    return ["Warnings (they often explain a failure):\n" + "\n".join(lints)]


def verification_message(report: VerifyReport, lints: list[str]) -> str:
    return "\n\n".join([verification_feedback(report), *lint_section(lints), CLOSING])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _step(value: float | None) -> str:
    return "" if value is None else f", on average at step {value:.1f}"


def _agreement_words(kind: str, a: Agreement) -> str:
    held, success = a.true_positive + a.false_positive, a.true_positive + a.false_negative
    precision = (f"precision {_pct(a.precision)}: of the {held} {kind} where your goal held, {a.true_positive} "
                 f"{'was' if a.true_positive == 1 else 'were'} ones the environment calls solved" if held else
                 f"precision n/a: your goal never held on any of the {kind}")
    recall = (f"recall {_pct(a.recall)}: of the {success} {kind} the environment calls solved, your goal held on "
              f"{a.true_positive}" if success else f"recall n/a: the environment solved none of the {kind}")
    return f"{precision}; {recall}."


def verification_feedback(report: VerifyReport) -> str:
    """The report in words for the model: every failure, each sub-task's rates, goal agreement, properties."""
    cfg = report.config
    lines = [
        f"Verification {'PASSED' if report.passed else 'FAILED'} on {report.env_id}: {report.expert_episodes} expert episodes "
        f"(a planner that solves the task) and {report.random_episodes} random-action episodes.",
    ]
    if report.failed_demos or report.trivial_episodes:
        lines.append(f"(Left out: {report.failed_demos} expert episodes the environment calls failures, "
                     f"{report.trivial_episodes} episodes solved on their first step.)")
    if report.failures:
        lines += ["", "What failed:", *(f"- {failure}" for failure in report.failures)]
    lines += [
        "",
        "Sub-tasks in order (share of episodes in which each completed, in order):",
        *(f"- {row.name} \"{row.description}\": expert {_pct(row.expert_rate)}{_step(row.expert_mean_step)}; "
          f"random {_pct(row.random_rate)}{_step(row.random_mean_step)}" for row in report.subtasks),
        f"Whole task: expert {_pct(report.expert_complete_rate)} (need at least {_pct(cfg.expert_threshold)}); "
        + (f"random {_pct(report.random_complete_rate)} (must stay under {_pct(cfg.random_threshold)})."
           if report.random_criterion is None else report.random_criterion.describe() + "."),
        "",
        "Your goal check (the last sub-task's condition, tested alone on each frame) against the environment's own success:",
        "- per frame: " + _agreement_words("frames", report.step_agreement),
        "- per episode (whole task complete vs solved): " + _agreement_words("episodes", report.episode_agreement),
    ]
    failed = [p for p in report.properties if not p.passed]
    if failed:
        lines += ["", "Properties of the compiled reward that failed (on recorded frames, some perturbed):",
                  *(f"- {p.name}: {p.detail}" for p in failed)]
    elif report.properties:
        lines.append(f"Properties ({', '.join(p.name for p in report.properties)}): all hold.")
    hints = _hints(report)
    if hints:
        lines += ["", "What to change:", *(f"- {hint}" for hint in hints)]
    return "\n".join(lines)


def _hints(report: VerifyReport) -> list[str]:
    cfg, hints = report.config, []
    short = [row for row in report.subtasks if row.expert_rate < cfg.expert_threshold]
    if short:
        first = short[0]
        hints.append(f"'{first.name}' is the first sub-task that expert play does not always complete "
                     f"({_pct(first.expert_rate)}): its condition misses what the expert does, or it comes in the wrong order.")
    recall = report.step_agreement.recall
    if recall is not None and recall < cfg.expert_threshold:
        hints.append("The goal condition must hold on the frame where the task is solved (like the GOAL image): "
                     "test what is true there, not something that happens on the way.")
    random_failed = (report.random_complete_rate >= cfg.random_threshold if report.random_criterion is None
                     else not report.random_criterion.passed)
    if report.random_episodes and random_failed:
        easy = max(report.subtasks, key=lambda row: row.random_rate, default=None)
        hints.append("Random play completes the task too often: make the goal (and the steps before it) require what only "
                     "a solved episode shows" + (f"; '{easy.name}' completes in {_pct(easy.random_rate)} of random episodes."
                                                 if easy is not None else "."))
    return hints
