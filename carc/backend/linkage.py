"""How the shared kernel library reaches a program's own compiled functions: through addresses in
the scratch buffer's header, called with numba's native calling convention.

A program's kernel is two modules (see carc.backend.codegen): the library (carc/backend/library.py,
compiled once per carc version into the trusted cache) and the program's small module (its
classifiers and ``_program``, the predicate / latch / potential code). The library's functions are
compiled without knowing any program, so they cannot call the program's functions by name; they
read each one's address from the header (carc.backend.header: a pass table's ``PASS_CLASSIFY``, ``HEAD_PROGRAM``) and call
it with ``_classify_link`` / ``_program_link``, intrinsics that emit an
indirect call with exactly the arguments, types and error status numba's own calls use (an error the
callee raises, such as an IndexError under NUMBA_BOUNDSCHECK, propagates as in a direct call). The
address is an argument, never a constant, so the library's numba cache stays valid for every program.

The argument types are fixed here (``CLASSIFY_SIGNATURE``, ``PROGRAM_SIGNATURE``): the intrinsics
refuse, at compile time, a call whose types do not convert to them (integers to int64, a contiguous
array to the same array of any layout), and ``native_address`` refuses a function that was
not compiled with exactly that signature, so an address always points at code with the ABI its caller
uses. A standalone artifact has no addresses: the header holds small link numbers instead and the
artifact defines ``_classify_link`` / ``_program_link`` as plain functions that call by name (and
``_as_words``, the scratch buffer as int64 and float64 words, as two plain numba views).
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.core.typing.templates import Signature
from numba.extending import intrinsic

_CLASSIFY_ARGS = (types.Array(types.uint8, 1, "C"), types.Array(types.uint8, 1, "C"), types.Array(types.int64, 1, "C"),
                  types.int64, types.int64, types.int64)
_PROGRAM_ARGS = (types.int64, types.Array(types.float64, 1, "C"), types.Array(types.int64, 1, "C"),
                 types.Array(types.float64, 1, "A"), types.int64, types.int64, types.Array(types.float64, 1, "C"))


def _converts(actual: Any, expected: Any) -> bool:
    """Whether a call site's argument type passes as the agreed one: itself, an integer (a literal
    included) for int64, or a C-contiguous array for the same array of any layout."""
    if actual == expected:
        return True
    if expected == types.int64:
        return isinstance(actual, types.Integer)
    return (isinstance(actual, types.Array) and isinstance(expected, types.Array) and expected.layout == "A"
            and actual.dtype == expected.dtype and actual.ndim == expected.ndim)


def _indirect_call(link: Any, actual: tuple[Any, ...], expected: tuple[Any, ...]) -> tuple[Signature, Any] | None:
    """The signature and code generator of a call through the address ``link`` (None: a typing error)."""
    if not isinstance(link, types.Integer) or len(actual) != len(expected) or not all(map(_converts, actual, expected)):
        return None
    sig = types.int64(link, *actual)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fnty = context.call_conv.get_function_type(types.int64, expected)
        fn = builder.inttoptr(context.cast(builder, args[0], signature.args[0], types.int64), fnty.as_pointer())
        values = [context.cast(builder, v, a, e) for v, a, e in zip(args[1:], signature.args[1:], expected)]
        status, result = context.call_conv.call_function(builder, fn, types.int64, expected, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return result

    return sig, codegen


@intrinsic
def _classify_link(typingctx: Any, link: Any, f: Any, mk: Any, same: Any, h: Any, w: Any, wr: Any) -> Any:
    """``_classify_link(address, flat frame, mask bytes, same, H, W, Wr)``: call a classifier by address."""
    return _indirect_call(link, (f, mk, same, h, w, wr), _CLASSIFY_ARGS)


@intrinsic
def _program_link(typingctx: Any, link: Any, mode: Any, fw: Any, iw: Any, state: Any, h: Any, w: Any, ow: Any) -> Any:
    """``_program_link(address, mode, fw, iw, state, H, W, ow)``: call a program's ``_program`` by address."""
    return _indirect_call(link, (mode, fw, iw, state, h, w, ow), _PROGRAM_ARGS)


@intrinsic
def _as_words(typingctx: Any, sc: Any) -> Any:
    """``_as_words(sc)``: a C-contiguous uint8 buffer as int64 and as float64 words (its length over 8
    of each), sharing its memory: what ``sc.view(np.int64), sc.view(np.float64)`` give, without the
    checks that make a numba view cost more than the rest of a step's bookkeeping. The buffer's length
    is a multiple of 8 by construction (the entry points' ``_scratch``); a shorter tail is not covered."""
    if not (isinstance(sc, types.Array) and sc.dtype == types.uint8 and sc.ndim == 1 and sc.layout == "C"):
        return None
    words = (types.Array(types.int64, 1, "C"), types.Array(types.float64, 1, "C"))
    sig = types.Tuple(words)(sc)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        src = context.make_array(sc)(context, builder, args[0])
        n = builder.lshr(src.nitems, src.nitems.type(3))
        eight = context.get_constant(types.intp, 8)
        views = []
        for ty in words:
            view = context.make_array(ty)(context, builder)
            data = builder.bitcast(src.data, context.get_data_type(ty.dtype).as_pointer())
            context.populate_array(view, data=data, shape=[n], strides=[eight], itemsize=eight, meminfo=src.meminfo, parent=src.parent)
            views.append(view._getvalue())
        return impl_ret_borrowed(context, builder, signature.return_type, context.make_tuple(builder, signature.return_type, views))

    return sig, codegen


def native_address(dispatcher: Any, signature: str) -> int:
    """The address of the native code of ``dispatcher``, compiled for exactly ``signature`` (and nothing else)."""
    from numba.core.sigutils import normalize_signature

    args, _ = normalize_signature(signature)
    compiled = list(dispatcher.overloads.values())
    if len(compiled) != 1 or tuple(compiled[0].signature.args) != tuple(args):
        raise ValueError(f"internal error: {dispatcher.__name__} is not compiled for exactly {signature}")
    return int(compiled[0].library.get_pointer_to_function(compiled[0].fndesc.llvm_func_name))
