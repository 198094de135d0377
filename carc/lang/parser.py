"""Parse carc program text into an AST, with every failure a carc error at a line and column.

>>> unit = parse_text('program p "demo" observe rgb subtask s "go" bonus 1 : true')
>>> unit.items[1].name.id
's'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer_NonRecursive, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.core.limits import LIMITS
from carc.core.resources import grammar_text
from carc.lang import ast
from carc.lang.gate import admit

RESERVED = frozenset(
    "program module observe use color tol let def subtask bonus group shaping gamma reward "
    "in if then else and or not true false".split()
)

_TERMINAL_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "COMPARE_OP": "a comparison",
    "ADD_OP": "'+' or '-'", "MUL_OP": "'*' or '/'", "MINUS": "'-'", "LPAR": "'('", "RPAR": "')'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['",
    "RSQB": "']'", "VBAR": "'|'", "$END": "end of input",
}

# Named syntax errors: lark's match_examples maps the parser state of a failure to these.
_EXAMPLES: dict[tuple[str, str], list[str]] = {
    ("E205", "a program starts with: program NAME \"description\""): [
        "observe rgb", "let x = 1", "subtask s \"d\" bonus 1 : true", "use minigrid",
    ],
    ("E206", "a subtask needs 'bonus NUMBER' before ':'"): [
        'program p "d" subtask s "d" : true', 'program p "d" subtask s "d" 1 : true',
    ],
    ("E207", "'=' defines a name; compare with '=='"): [
        'program p "d" subtask s "d" bonus 1 : a = b', 'program p "d" let x = a = b',
    ],
}

_EXAMPLES_BY_CODE = {code: message for code, message in _EXAMPLES}


@cache
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of input"
    return f"'{token.value}'"


def _expected(accepts: set[str]) -> str:
    names = sorted({_TERMINAL_NAMES.get(t, f"'{t.lower()}'") for t in accepts if not t.startswith("__")})
    if not names:
        return ""
    return "expected " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1])


def _syntax_error(source: Source, err: UnexpectedInput) -> CarcError:
    offset = getattr(err, "pos_in_stream", None)
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        offset = err.token.start_pos
    if offset is None or isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        offset = len(source.text.rstrip())
    span = Span(source, offset, offset + 1)
    if not source.text.strip():
        return CarcError([Diagnostic("E205", 'empty program: it starts with program NAME "description"', span)])
    if isinstance(err, UnexpectedCharacters):
        ch = source.text[offset]
        if ch == '"':
            return CarcError([Diagnostic("E204", "unterminated string", span, note="a string ends on its own line")])
        if ch == ".":
            return CarcError([Diagnostic("E209", "carc has no attribute access: use a function, e.g. x(center(a))", span)])
        if ch != "=":
            return CarcError([Diagnostic("E201", f"unexpected character '{ch}'", span)])
    if isinstance(err, UnexpectedToken):
        # match_examples compares parser stacks, whose depth varies with the items and nesting before
        # the error; these two are recognised from the token and what the parser would accept.
        accepts = set(err.accepts or err.expected)
        if err.token.type == "EQUAL" and accepts & {"COMPARE_OP", "ADD_OP", "MUL_OP"}:
            return CarcError([Diagnostic("E207", _EXAMPLES_BY_CODE["E207"], span)])
        if accepts == {"BONUS"}:
            return CarcError([Diagnostic("E206", _EXAMPLES_BY_CODE["E206"], span)])
    try:
        named = err.match_examples(_lark().parse, _EXAMPLES, use_accepts=True)  # type: ignore[arg-type]
    except TypeError:  # lark 1.x formats a debug message with %d over a ParserState, eagerly
        named = None
    if named is not None:
        return CarcError([Diagnostic(named[0], named[1], span)])
    if isinstance(err, UnexpectedCharacters):
        return CarcError([Diagnostic("E201", "unexpected character '='", span)])
    token = getattr(err, "token", None)
    expected: set[str] = set(getattr(err, "accepts", None) or getattr(err, "expected", None) or ())
    if token is None or token.type == "$END" or isinstance(err, UnexpectedEOF):
        at_end = getattr(err, "expected", None) or getattr(err, "accepts", None) or ()
        return CarcError([Diagnostic("E203", "unexpected end of input", span, note=_expected(set(at_end)) or None)])
    return CarcError([Diagnostic("E202", f"unexpected {_describe(token)}", _token_span(source, token), note=_expected(expected) or None)])


def _token_span(source: Source, token: Token) -> Span:
    """A token's span (lark types its positions as optional; tokens from a parse always have them)."""
    start = token.start_pos or 0
    return Span(source, start, token.end_pos if token.end_pos is not None else start)


class _ToAst(Transformer_NonRecursive):
    """Lark tree to AST, bottom up and without recursion; collects literal-limit diagnostics."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.problems: list[Diagnostic] = []

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.source, 0, 0)
        return Span(self.source, meta.start_pos, meta.end_pos)

    def _tok_span(self, token: Token) -> Span:
        return _token_span(self.source, token)

    def _name(self, token: Token) -> ast.Name:
        span = self._tok_span(token)
        if token.value in RESERVED:
            self.problems.append(Diagnostic("E208", f"'{token.value}' is a reserved word and cannot be a name", span))
        elif token.value.startswith("__"):
            self.problems.append(Diagnostic("E210", f"names beginning with '__' are not allowed: '{token.value}'", span))
        elif len(token.value) > LIMITS["max_name_chars"].cap:
            self.problems.append(Diagnostic("E114", f"name is {len(token.value)} characters; the limit is {int(LIMITS['max_name_chars'].cap)}", span))
        return ast.Name(token.value, span)

    def _number(self, token: Token, negative: bool = False) -> ast.Number:
        span = self._tok_span(token)
        text = token.value
        if len(text) > LIMITS["max_literal_chars"].cap:
            self.problems.append(Diagnostic("E112", f"numeric literal has {len(text)} characters; the limit is {int(LIMITS['max_literal_chars'].cap)}", span))
            return ast.Number(0.0, span)
        value = float(text)
        if value > LIMITS["max_number"].cap or (0 < value < LIMITS["min_number"].cap):
            self.problems.append(Diagnostic("E112", f"numeric literal {text} is outside the allowed magnitudes [{LIMITS['min_number'].cap:g}, {LIMITS['max_number'].cap:g}]", span))
            return ast.Number(0.0, span)
        return ast.Number(-value if negative else value, span)

    def _string(self, token: Token) -> str:
        text = token.value[1:-1]
        if len(text) > LIMITS["max_string_chars"].cap:
            self.problems.append(Diagnostic("E113", f"string has {len(text)} characters; the limit is {int(LIMITS['max_string_chars'].cap)}", self._tok_span(token)))
        return text

    # ---- header and items ----
    @v_args(meta=True)
    def start(self, meta: Any, children: list[Any]) -> ast.Unit:
        kind, name, description = children[0]
        return ast.Unit(kind, name, description, tuple(children[1:]), self._span(meta))

    def program_header(self, children: list[Token]) -> tuple[str, ast.Name, str]:
        return ("program", self._name(children[0]), self._string(children[1]))

    def module_header(self, children: list[Token]) -> tuple[str, ast.Name, str]:
        return ("module", self._name(children[0]), self._string(children[1]))

    @v_args(meta=True)
    def observe(self, meta: Any, children: list[Any]) -> ast.Observe:
        kind, tile = children
        return ast.Observe(self._name(kind), None if tile is None else self._number(tile), self._span(meta))

    @v_args(meta=True)
    def use(self, meta: Any, children: list[Token]) -> ast.Use:
        return ast.Use(self._name(children[0]), self._span(meta))

    @v_args(meta=True)
    def shade(self, meta: Any, children: list[Token]) -> ast.Shade:
        r, g, b = (self._number(t) for t in children)
        return ast.Shade((r, g, b), self._span(meta))

    @v_args(meta=True)
    def color_def(self, meta: Any, children: list[Any]) -> ast.ColorDef:
        return ast.ColorDef(self._name(children[0]), tuple(children[1:-1]), self._number(children[-1]), self._span(meta))

    @v_args(meta=True)
    def let_def(self, meta: Any, children: list[Any]) -> ast.Let:
        return ast.Let(self._name(children[0]), children[1], self._span(meta))

    @v_args(meta=True)
    def param(self, meta: Any, children: list[Token]) -> ast.Param:
        return ast.Param(self._name(children[0]), ast.Name(children[1].value, self._tok_span(children[1])), self._span(meta))

    @v_args(meta=True)
    def def_def(self, meta: Any, children: list[Any]) -> ast.Def:
        name, *listed, result, body = children
        params = tuple(p for p in listed if p is not None)
        return ast.Def(self._name(name), params, ast.Name(result.value, self._tok_span(result)), body, self._span(meta))

    @v_args(meta=True)
    def subtask(self, meta: Any, children: list[Any]) -> ast.Subtask:
        name, description, bonus, predicate = children
        return ast.Subtask(self._name(name), self._string(description), self._number(bonus), predicate, self._span(meta))

    @v_args(meta=True)
    def group(self, meta: Any, children: list[Any]) -> ast.Group:
        return ast.Group(self._name(children[0]), self._string(children[1]), tuple(children[2:]), self._span(meta))

    @v_args(meta=True)
    def shaping(self, meta: Any, children: list[Any]) -> ast.Shaping:
        return ast.Shaping(self._number(children[0]), children[1], self._span(meta))

    @v_args(meta=True)
    def bounds(self, meta: Any, children: list[ast.Number]) -> ast.Bounds:
        return ast.Bounds(children[0], children[1], self._span(meta))

    def signed_number(self, children: list[Token]) -> ast.Number:
        # `MINUS? NUMBER`: lark leaves out an absent optional token (no placeholder for `?`).
        minus, token = (children[0], children[1]) if len(children) == 2 else (None, children[0])
        number = self._number(token, negative=minus is not None)
        if minus is not None:
            number = ast.Number(number.value, Span(self.source, minus.start_pos or 0, _token_span(self.source, token).end))
        return number

    # ---- expressions ----
    def number(self, children: list[Token]) -> ast.Number:
        return self._number(children[0])

    @v_args(meta=True)
    def true(self, meta: Any, _: list[Any]) -> ast.Bool:
        return ast.Bool(True, self._span(meta))

    @v_args(meta=True)
    def false(self, meta: Any, _: list[Any]) -> ast.Bool:
        return ast.Bool(False, self._span(meta))

    def name(self, children: list[Token]) -> ast.Name:
        return self._name(children[0])

    @v_args(meta=True)
    def call(self, meta: Any, children: list[Any]) -> ast.Call:
        func, *args = children
        return ast.Call(self._name(func), tuple(a for a in args if a is not None), self._span(meta))

    @v_args(meta=True)
    def negate(self, meta: Any, children: list[Any]) -> ast.Negate:
        return ast.Negate(children[1], self._span(meta))

    @v_args(meta=True)
    def not_expr(self, meta: Any, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], self._span(meta))

    @v_args(meta=True)
    def and_expr(self, meta: Any, children: list[Any]) -> ast.Logic:
        return ast.Logic("and", tuple(children), self._span(meta))

    @v_args(meta=True)
    def or_expr(self, meta: Any, children: list[Any]) -> ast.Logic:
        return ast.Logic("or", tuple(children), self._span(meta))

    @v_args(meta=True)
    def compare(self, meta: Any, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(op.value, left, right, self._span(meta))

    @v_args(meta=True)
    def arith(self, meta: Any, children: list[Any]) -> ast.Arith:
        return ast.Arith(tuple(children[0::2]), tuple(t.value for t in children[1::2]), self._span(meta))

    @v_args(meta=True)
    def if_expr(self, meta: Any, children: list[Any]) -> ast.If:
        return ast.If(children[0], children[1], children[2], self._span(meta))


def _check_tokens(source: Source, tree: Tree) -> int:
    """Cap the token count, keywords and punctuation included (the parse tree keeps fewer); returns it."""
    cap = int(LIMITS["max_tokens"].cap)
    count = 0
    try:
        for count, token in enumerate(_lark().lex(source.text), 1):
            if count > cap:
                raise CarcError([Diagnostic("E105", f"program has more than {cap} tokens", _token_span(source, token))])
    except UnexpectedInput:
        # the contextual parser accepted what the plain lexer cannot split: count the tree's tokens
        return sum(1 for _ in tree.scan_values(lambda v: isinstance(v, Token)))
    return count


def _check_shape(source: Source, tree: Tree) -> tuple[int, int]:
    """Node and depth caps on the raw tree, iteratively, before any recursive pass; returns the
    syntax node count and the expression depth."""
    caps = {key: int(LIMITS[key].cap) for key in ("max_nodes", "max_depth")}
    nodes = deepest = 0
    stack: list[tuple[Any, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        nodes += 1
        # Items sit at depth 1 and their own wrappers add one more: depth counts expression levels.
        deepest = max(deepest, depth - 2)
        if depth - 2 > caps["max_depth"]:
            start = node.meta.start_pos if not node.meta.empty else 0
            raise CarcError([Diagnostic("E106", f"expression nesting is deeper than {caps['max_depth']} levels", Span(source, start, start + 1))])
        if nodes > caps["max_nodes"]:
            start = node.meta.start_pos if not node.meta.empty else 0
            raise CarcError([Diagnostic("E107", f"program has more than {caps['max_nodes']} syntax nodes", Span(source, start, start + 1))])
        stack.extend((child, depth + 1) for child in node.children)
    return nodes, deepest


def _check_parentheses(source: Source) -> None:
    """Cap parenthesis nesting before lark runs: `((((x))))` adds no tree node, so no tree depth."""
    cap = int(LIMITS["max_depth"].cap)
    depth = 0
    in_string = in_comment = False
    for offset, ch in enumerate(source.text):
        if ch == "\n":
            in_string = in_comment = False
        elif in_comment:
            continue
        elif ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch == "#":
            in_comment = True
        elif ch == "(":
            depth += 1
            if depth > cap:
                raise CarcError([Diagnostic("E106", f"parentheses nest deeper than {cap} levels", Span(source, offset, offset + 1))])
        elif ch == ")":
            depth = max(0, depth - 1)


@dataclass(frozen=True)
class Shape:
    """The size of a parsed program as the parser's limit checks measure it."""

    tokens: int
    nodes: int
    depth: int


def parse_measured(source: Source) -> tuple[ast.Unit, Shape]:
    """Parse admitted source text into a Unit and its shape, or raise a CarcError."""
    _check_parentheses(source)
    try:
        tree = _lark().parse(source.text)
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None
    nodes, depth = _check_shape(source, tree)
    tokens = _check_tokens(source, tree)
    builder = _ToAst(source)
    unit = builder.transform(tree)
    if builder.problems:
        raise CarcError(builder.problems)
    return unit, Shape(tokens, nodes, depth)


def parse_source(source: Source) -> ast.Unit:
    """Parse admitted source text into a Unit, or raise a CarcError."""
    return parse_measured(source)[0]


def parse_text(text: str | bytes, name: str = "<string>") -> ast.Unit:
    """Gate and parse program text."""
    return parse_source(admit(text, name))
