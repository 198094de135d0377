"""The input gate: the bytes of a program are checked before any parser sees them.

Valid UTF-8; ASCII outside string literals; no control, bidirectional or zero-width characters
anywhere (strings included); a cap on size. Every refusal points at the offending character.

>>> admit(b"program p \\"ok\\"", "p.car").text
'program p "ok"'
"""

from __future__ import annotations

import unicodedata

from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.core.limits import LIMITS

_BIDI_AND_INVISIBLE = {
    0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF,
    0x061C, 0x00AD, 0x180E, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
}


def _character_problem(ch: str, in_string: bool) -> tuple[str, str] | None:
    code = ord(ch)
    if ch in "\n\t\r":
        return None
    if code < 0x20 or code == 0x7F or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
        return "E103", f"control character U+{code:04X} is not allowed"
    if code in _BIDI_AND_INVISIBLE or unicodedata.category(ch) == "Cf":
        return "E103", f"invisible or bidirectional character U+{code:04X} is not allowed"
    if code > 0x7E and not in_string:
        return "E102", f"non-ASCII character U+{code:04X} outside a string literal"
    return None


def admit(data: bytes | str, name: str = "<string>") -> Source:
    """Check raw program bytes (or text) and return the source, or raise a CarcError."""
    cap = int(LIMITS["max_bytes"].cap)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > cap:
        source = Source(name, "")
        raise CarcError([Diagnostic("E104", f"program is {len(raw)} bytes; the limit is {cap}", Span(source, 0, 0))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        good = raw[: err.start].decode("utf-8")
        source = Source(name, good + "\ufffd")
        raise CarcError(
            [Diagnostic("E101", f"invalid UTF-8 byte 0x{raw[err.start]:02x}", Span(source, len(good), len(good) + 1))]
        ) from None
    source = Source(name, text)
    problems = []
    in_string = in_comment = False
    for offset, ch in enumerate(text):
        if ch == "\n":
            in_string = in_comment = False
        elif ch == '"' and not in_comment:
            in_string = not in_string
        elif ch == "#" and not in_string:
            in_comment = True
        problem = _character_problem(ch, in_string)
        if problem:
            problems.append(Diagnostic(problem[0], problem[1], Span(source, offset, offset + 1)))
            if len(problems) >= 20:
                break
    if problems:
        raise CarcError(problems)
    return source
