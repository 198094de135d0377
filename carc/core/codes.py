"""Every diagnostic code carc emits, with a one-line title.

Codes group by stage: E1xx input gate and size/shape limits, E2xx syntax, E3xx names, E4xx types,
E5xx program structure (these are FRONT_END_CODES: gate, parser, checker); W6xx lints (warnings,
carc/analysis/lints.py) and E7xx the auditor (carc/audit/).
docs/errors.md shows an example program and its exact error for each front-end code; it is
generated from tests/fixtures/errors/ by scripts/make_error_docs.py, and tests check that every
front-end code has a fixture.

>>> CODES["E207"]
"'=' where '==' was meant"
"""

from __future__ import annotations

FRONT_END_CODES: dict[str, str] = {
    # input gate and limits
    "E101": "invalid UTF-8",
    "E102": "non-ASCII character outside a string literal",
    "E103": "control, bidirectional or zero-width character",
    "E104": "program text too large",
    "E105": "too many tokens",
    "E106": "expression nested too deeply",
    "E107": "too many syntax nodes",
    "E108": "program too big once helpers are inlined",
    "E109": "too many sub-tasks",
    "E110": "too many colours or colour shades",
    "E112": "numeric literal out of range or too long",
    "E113": "string literal too long",
    "E114": "name too long",
    "E115": "helper has too many parameters",
    "E116": "helpers nested too deeply",
    # syntax
    "E201": "unexpected character",
    "E202": "unexpected token",
    "E203": "unexpected end of input",
    "E204": "unterminated string",
    "E205": "missing program header",
    "E206": "sub-task without a bonus",
    "E207": "'=' where '==' was meant",
    "E208": "reserved word used as a name",
    "E209": "attribute access",
    "E210": "name beginning with '__'",
    # names
    "E301": "undefined name",
    "E302": "name defined twice",
    "E304": "unknown module",
    # types
    "E401": "type mismatch",
    "E402": "wrong number of arguments",
    "E403": "unknown type",
    "E405": "start(...) inside start(...)",
    # program structure
    "E502": "missing 'observe'",
    "E503": "unknown observation kind",
    "E504": "program without sub-tasks",
    "E505": "item that a program may have only once",
    "E506": "number out of its allowed range (bonus, gamma, tile)",
    "E507": "reward bounds not low < high",
    "E508": "bad colour channel or tolerance",
    "E509": "module where a program was expected, or a program item in a module",
}


LINT_CODES: dict[str, str] = {
    "W601": "constant reward",
    "W602": "reward ignores the observation",
    "W603": "sub-task that can never fire",
    "W604": "sub-task that is always true",
    "W605": "duplicated sub-task",
    "W606": "tautology or contradiction",
    "W607": "sub-task that reads no perception",
    "W608": "colour not in the palette of the declared environment",
}

AUDIT_CODES: dict[str, str] = {
    "E701": "generated source failed the whitelist",
    "E702": "numba compile failed or exceeded its time budget",
    "E703": "a value cannot be proved finite",
    "E799": "internal error in the auditor (the program is refused)",
}


CODES: dict[str, str] = {**FRONT_END_CODES, **LINT_CODES, **AUDIT_CODES}


def stage(code: str) -> str:
    """Which part of carc reports a code."""
    if code in LINT_CODES:
        return "lint"
    if code in AUDIT_CODES:
        return "audit"
    return {"1": "gate and limits", "2": "syntax", "3": "names", "4": "types", "5": "structure"}.get(code[1:2], "other")
