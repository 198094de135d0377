"""A whitelist audit of generated kernel source, run before anything compiles it.

The code generator only ever writes a small, fixed subset of Python: straight-line arithmetic,
bounded loops, numpy / math calls from a short list, and ``@njit`` functions. This module parses the
source with :mod:`ast` and refuses anything outside that subset: other node kinds (imports beyond
the header's, classes, lambdas, comprehensions, ``with``, ``yield``...), names that are neither
carc's own identifiers nor a fixed set of builtins, attributes outside a fixed list, dunder names,
and the obvious host-access routes (objmode, ctypes, cffi, print, open, exec, eval, getattr,
globals...). The result is a small report of what the source uses.

>>> check_generated_source("import numpy as np\\nx = np.zeros(3)\\n")["attributes"]
['np.zeros']
>>> check_generated_source("import os\\n")
Traceback (most recent call last):
...
carc.backend.srccheck.GeneratedSourceError: line 1: import of 'os' is not allowed (only math, numpy as np, and njit from numba)
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class GeneratedSourceError(Exception):
    """Generated source uses something outside the whitelist (a codegen bug or tampering)."""


ALLOWED_NODES: frozenset[type] = frozenset({
    ast.Module, ast.Expr, ast.Import, ast.ImportFrom, ast.alias, ast.Assign, ast.AugAssign,
    ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.If, ast.For, ast.While, ast.Break,
    ast.Continue, ast.Try, ast.ExceptHandler, ast.Raise, ast.Global, ast.Pass,
    ast.Call, ast.keyword, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Tuple,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr, ast.BitXor,
    ast.LShift, ast.RShift, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot,
})

# Names carc generates by pattern: node values, per-colour statistics, object fields, module
# constants (upper case), and private helpers / scratch buffers (one leading underscore).
NAME_PATTERNS = (
    re.compile(r"v\d{1,6}(?:_\d)?\Z"),
    re.compile(r"c\d{1,2}_(?:n|sx|sy|x0|y0|x1|y1)\Z"),
    re.compile(r"a[0-6]\Z"),
    re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\Z"),
    re.compile(r"_[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*\Z"),
)

# The fixed local vocabulary of the generated code.
LOCAL_NAMES = frozenset("""
    frame frames state states rewards events rewards_out events_out sc mk0 mk iw fw f m64 H W Wr N
    y x k j i r g b src dst wrow nw acc prev start w d sj v t ln runs parent ob o nr e a p q
    j0 n s cnt m reward event stage complete code result h value what dtype ndim shape nstate tile bigger
    dx dy ax ay bx by lo hi area cover x0 y0 x1 y1 sx sy
    same c ib pix obj pix_at obj_at count_at lanes lane_bits lane_mask lane_shift nrow
    mode ow hd hf si sf at link size nsub nst order bonus low high o0 e0 f0 i0 m0 end L
    n3 wide nfull nseg last changed g0 c0 cur top bottom above tail diff row up span_at cap spans tables keep kept ones live grow scanned
""".split())

BUILTIN_NAMES = frozenset({
    "np", "math", "njit", "range", "min", "max", "abs", "len", "float", "int", "bool", "str", "repr",
    "isinstance", "ValueError", "TypeError",
})
CALLABLE_NAMES = frozenset({
    "range", "min", "max", "abs", "len", "float", "int", "bool", "str", "repr", "isinstance",
    "ValueError", "njit",
})

_PRIVATE = re.compile(r"_[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")

MODULE_ATTRIBUTES = {
    "np": frozenset({"uint8", "uint16", "uint64", "int32", "int64", "float64", "zeros", "empty", "array",
                     "ascontiguousarray", "ndarray", "floor", "dtype"}),
    "math": frozenset({"sqrt", "floor"}),
}
OBJECT_ATTRIBUTES = frozenset({"shape", "dtype", "ndim", "flags", "c_contiguous", "writeable", "reshape", "view", "itemsize"})
CALLABLE_ATTRIBUTES = frozenset({
    "np.zeros", "np.empty", "np.array", "np.ascontiguousarray", "np.floor", "np.uint8", "np.uint16",
    "np.uint64", "np.int32", "np.int64", "np.float64", "np.dtype", "math.sqrt", "math.floor",
    ".reshape", ".view",
})

FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "print", "getattr", "setattr", "delattr", "hasattr", "globals",
    "locals", "vars", "input", "breakpoint", "objmode", "ctypes", "cffi", "type", "object", "super",
    "memoryview", "help", "dir", "id", "exit", "quit", "os", "sys", "subprocess", "importlib",
    "builtins", "literal_unroll", "literally", "register_jitable", "generated_jit", "carray", "farray",
})

IMPORTS = {("math", None), ("numpy", "np")}
IMPORT_FROM = {("numba", "njit", None)}
# The njit options a decorator may give, each with its one allowed value; a call may also say dtype= and order=.
NJIT_OPTIONS = {"_nrt": False, "cache": True, "error_model": "numpy", "no_cpython_wrapper": True}
NJIT_KEYWORDS = {**{key: (value,) for key, value in NJIT_OPTIONS.items()}, "dtype": None, "order": ("C",)}

STRING = re.compile(r"[A-Za-z0-9 _,.:;()\[\]<>=+\-*/'!?#|%]*\Z")
DOCSTRING = re.compile(r"[A-Za-z0-9 _,.:;()\[\]<>=+\-*/'!?#|%`\n@{}]*\Z")
MAX_STRING = 4000


def _fail(node: ast.AST | None, message: str) -> GeneratedSourceError:
    line = getattr(node, "lineno", None)
    return GeneratedSourceError(f"line {line}: {message}" if line else message)


def _name_ok(name: str, defined: set[str]) -> bool:
    if "__" in name or name in FORBIDDEN_NAMES:
        return False
    return name in LOCAL_NAMES or name in BUILTIN_NAMES or name in defined or any(p.match(name) for p in NAME_PATTERNS)


def _dotted(node: ast.AST) -> str | None:
    """`np.zeros` for Attribute(Name np, zeros); `.view` for an attribute of anything else."""
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in MODULE_ATTRIBUTES:
            return f"{node.value.id}.{node.attr}"
        return f".{node.attr}"
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the Constant nodes that are docstrings (first statement of the module or a function)."""
    found = set()
    for body_owner in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]:
        body = body_owner.body  # type: ignore[attr-defined]
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            found.add(id(body[0].value))
    return found


@dataclass
class _Walk:
    """What the whitelist walk knows and collects: top-level functions (callable by name), ids of
    top-level statements, decorators and docstrings, and the kinds, names, attributes and calls seen."""

    defined: set[str]
    top_level: set[int]
    decorators: set[int]
    docstrings: set[int]
    kinds: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)


def check_generated_source(source: str, provided: tuple[str, ...] = ()) -> dict[str, Any]:
    """Refuse generated source that strays outside the whitelist; report what it uses. ``provided``:
    functions the module may call without defining them (a program's module calls its library's)."""
    if not isinstance(source, str):
        raise GeneratedSourceError("generated source must be text")
    if "\x00" in source or any(ord(ch) > 126 or (ord(ch) < 32 and ch not in "\n") for ch in source):
        raise GeneratedSourceError("generated source must be printable ASCII")
    try:
        tree = ast.parse(source, "<generated>")
    except SyntaxError as err:
        raise GeneratedSourceError(f"line {err.lineno}: generated source does not parse: {err.msg}") from None
    walk = _Walk(
        defined={n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {n for n in provided if _PRIVATE.match(n)},
        top_level={id(n) for n in tree.body},
        decorators={id(d) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for d in n.decorator_list},
        docstrings=_docstrings(tree),
    )
    for node in ast.walk(tree):
        kind = type(node)
        if kind not in ALLOWED_NODES:
            raise _fail(node, f"{kind.__name__} is not allowed in generated source")
        walk.kinds.add(kind.__name__)
        rule = _RULES.get(kind)
        if rule is not None:
            rule(node, walk)
    return {"verdict": "ok", "node_kinds": sorted(walk.kinds), "names": sorted(walk.names), "attributes": sorted(walk.attributes),
            "calls": sorted(walk.calls)}


def _import(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Import)
    if id(node) not in walk.top_level:
        raise _fail(node, "imports only at module level")
    for alias in node.names:
        if (alias.name, alias.asname) not in IMPORTS:
            raise _fail(node, f"import of {alias.name!r} is not allowed (only math, numpy as np, and njit from numba)")


def _import_from(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.ImportFrom)
    if id(node) not in walk.top_level or node.level != 0:
        raise _fail(node, "imports only at module level")
    for alias in node.names:
        if (node.module, alias.name, alias.asname) not in IMPORT_FROM:
            raise _fail(node, f"import of {alias.name!r} from {node.module!r} is not allowed")


def _name(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Name)
    if not _name_ok(node.id, walk.defined):
        raise _fail(node, f"name {node.id!r} is not allowed in generated source")
    walk.names.add(node.id)


def _arg(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.arg)
    if not _name_ok(node.arg, walk.defined) or node.annotation is not None:
        raise _fail(node, f"parameter {node.arg!r} is not allowed")


def _arguments(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.arguments)
    if node.vararg or node.kwarg or node.kwonlyargs or node.posonlyargs:
        raise _fail(node, "only plain positional parameters are allowed")
    if any(not isinstance(d, ast.Constant) for d in node.defaults):
        raise _fail(node, "parameter defaults must be constants")


def _function(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.FunctionDef)
    if "__" in node.name or not _name_ok(node.name, walk.defined) or node.returns is not None:
        raise _fail(node, f"function {node.name!r} is not allowed")
    if id(node) not in walk.top_level:
        raise _fail(node, "functions only at module level")
    for d in node.decorator_list:
        _check_decorator(d)


def _global(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Global)
    for name in node.names:
        if not re.fullmatch(r"_[A-Z]+", name):
            raise _fail(node, f"global {name!r} is not allowed")
        walk.names.add(name)


def _attribute(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Attribute)
    if "__" in node.attr:
        raise _fail(node, f"attribute {node.attr!r} is not allowed")
    dotted = _dotted(node)
    assert dotted is not None
    if dotted.startswith("."):
        if node.attr not in OBJECT_ATTRIBUTES:
            raise _fail(node, f"attribute {node.attr!r} is not allowed")
    elif node.attr not in MODULE_ATTRIBUTES[dotted.split(".")[0]]:
        raise _fail(node, f"attribute {dotted!r} is not allowed")
    walk.attributes.add(dotted)


def _call(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Call)
    func = node.func
    if isinstance(func, ast.Name):
        if func.id not in CALLABLE_NAMES and func.id not in walk.defined:
            raise _fail(node, f"call of {func.id!r} is not allowed")
        if func.id == "njit" and id(node) not in walk.decorators:
            raise _fail(node, "njit only as a decorator")
        walk.calls.add(func.id)
    else:
        dotted = _dotted(func)
        if dotted is None or dotted not in CALLABLE_ATTRIBUTES:
            raise _fail(node, f"call of {ast.unparse(func)!r} is not allowed")
        walk.calls.add(dotted)
    for kw in node.keywords:
        if kw.arg is None or kw.arg not in NJIT_KEYWORDS:
            raise _fail(node, f"keyword argument {kw.arg!r} is not allowed")


def _constant(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Constant)
    _check_constant(node, id(node) in walk.docstrings)


def _handler(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.ExceptHandler)
    if not (isinstance(node.type, ast.Name) and node.type.id == "TypeError") or node.name is not None:
        raise _fail(node, "only 'except TypeError:' is allowed")


def _raise(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Raise)
    if node.cause is not None or not (isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "ValueError"):
        raise _fail(node, "only 'raise ValueError(...)' is allowed")


def _try(node: ast.AST, walk: _Walk) -> None:
    assert isinstance(node, ast.Try)
    if node.finalbody or node.orelse:
        raise _fail(node, "try has only 'except TypeError:'")


# The rule for each node kind with more to check than its kind (every other allowed kind is fine as is).
_RULES: dict[type, Callable[[ast.AST, _Walk], None]] = {
    ast.Import: _import, ast.ImportFrom: _import_from, ast.Name: _name, ast.arg: _arg, ast.arguments: _arguments,
    ast.FunctionDef: _function, ast.Global: _global, ast.Attribute: _attribute, ast.Call: _call,
    ast.Constant: _constant, ast.ExceptHandler: _handler, ast.Raise: _raise, ast.Try: _try,
}


def _check_decorator(node: ast.expr) -> None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "njit"):
        raise _fail(node, "the only decorator allowed is njit(...)")
    if len(node.args) > 1 or any(not (isinstance(a, ast.Constant) and isinstance(a.value, str)) for a in node.args):
        raise _fail(node, "njit takes at most one signature string")
    kws = {kw.arg: kw.value for kw in node.keywords}
    if kws.get("cache") is None or not (isinstance(kws["cache"], ast.Constant) and kws["cache"].value is True):
        raise _fail(node, "njit must have cache=True")
    for key, value in kws.items():
        if key not in NJIT_OPTIONS:
            raise _fail(node, f"njit option {key!r} is not allowed (no fastmath, nogil, parallel...)")
        allowed = NJIT_KEYWORDS[key]
        if not (isinstance(value, ast.Constant) and allowed is not None and value.value in allowed and type(value.value) is type(allowed[0])):
            raise _fail(node, f"njit option {key}={ast.unparse(value)} is not allowed")


def _check_constant(node: ast.Constant, docstring: bool) -> None:
    value = node.value
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) >= 1 << 63:
            raise _fail(node, "integer constant out of int64 range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(node, "non-finite float constant")
        return
    if isinstance(value, str):
        pattern = DOCSTRING if docstring else STRING
        if len(value) > MAX_STRING or "__" in value or not pattern.match(value):
            raise _fail(node, f"string constant {value[:40]!r} is not allowed")
        return
    raise _fail(node, f"constant of type {type(value).__name__} is not allowed")
