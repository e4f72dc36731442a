"""What every backend's emitter shares: type names, literals, and the scalar body of a group.

The body of a fusion group is one assignment per node, built from the op table's scalar
templates, so the CPU loop nest and the CUDA kernel compute exactly the same expressions.
"""

from __future__ import annotations

import ast
import math
from typing import Callable

import numpy as np

from ..errors import BackendError
from ..ir import Node
from ..ops import OPS, _boolean
from ..passes.fuse import Group


def type_name(dtype: np.dtype) -> str:
    return "np.bool_" if dtype.kind == "b" else f"np.{np.dtype(dtype).name}"


def literal(value, dtype: np.dtype) -> str:
    """A scalar constant spelled with its dtype, so it never promotes a float32 loop."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return repr(bool(value))
    if dtype.kind in "iu":
        return f"{type_name(dtype)}({int(value)})"
    v = float(value)
    text = "np.nan" if math.isnan(v) else ("np.inf" if v > 0 else "-np.inf") if math.isinf(v) \
        else repr(v)
    return f"{type_name(dtype)}({text})"


def scalar_const(node: Node) -> str | None:
    """The literal for a one-element constant (inlined into kernels), else None."""
    if node.op == "const" and node.params["value"].size == 1:
        return literal(node.params["value"].reshape(()), node.dtype)
    return None


def where(node: Node) -> str:
    loc = f"  {node.loc.short()}" if node.loc else ""
    return f"{node.op}{' (bwd)' if node.adjoint else ''}{loc}"


def scalar_expr(node: Node, operands: list[str], backend: str) -> str:
    op = OPS[node.op]
    if op.scalar is None:
        raise BackendError(f"op {node.op!r} has no scalar template for the {backend} backend",
                           node.loc)
    tname = type_name(node.dtype)
    # Operands are cast to the result type as NumPy does; bools mix with any type unpromoted.
    args = [a if i.dtype == node.dtype or "b" in (node.dtype.kind, i.dtype.kind)
            else f"{tname}({a})" for a, i in zip(operands, node.inputs)]
    # {T}: the result type's constructor; {t}: its name; and the op's parameters by name
    expr = op.scalar.format(*args, T=tname, t=node.dtype.name, **node.params)
    # Numba does bool arithmetic in integers (True + True == 2); NumPy's stays boolean.
    return f"np.bool_({expr})" if node.dtype.kind == "b" and op.dtype is not _boolean else expr


def group_body(group: Group, load: Callable[[Node], str], backend: str, prefix: str = ""
               ) -> tuple[list[str], dict]:
    """Lines computing every member of ``group`` into locals ``t0, t1, ...`` (each name
    after ``prefix``).

    ``load(node)`` spells the read of an external input at the current index. Returns the
    lines and the map node id -> local name.
    """
    local: dict[int, str] = {}
    lines: list[str] = []
    for i, x in enumerate(group.inputs):
        lit = scalar_const(x)
        if lit is not None:
            local[x.id] = lit
        else:
            local[x.id] = f"{prefix}a{i}"
            lines.append(f"{prefix}a{i} = {load(x)}")
    for k, m in enumerate(group.members):
        local[m.id] = f"{prefix}t{k}"
        expr = scalar_expr(m, [local[i.id] for i in m.inputs], backend)
        lines.append(f"{prefix}t{k} = {expr}  # {where(m)}")
    return lines, local


def combine_expr(red: Node, acc: str, value: str) -> str:
    op = OPS[red.op]
    return OPS[op.combine].scalar.format(acc, value, T=type_name(red.dtype))


def reduce_identity(red: Node) -> str:
    return literal(OPS[red.op].identity(red.dtype), red.dtype)


def unambiguous_locals(source: str) -> str:
    """``source`` with a ``_`` after each function's local names that end in a digit.

    Numba names the temporary that holds a local it loads "$" + the name + the bytecode
    offset + "." + a count (``make_temp`` in numba/core/byteflow.py). Two locals whose names
    differ by a trailing digit can then meet: ``v2`` loaded at offset 3648 and ``v23`` at 648
    both give "$v23648.9" when the counts agree, and Numba loses one of the loads ("Undecided
    type" at the call that reads it). A name that ends in a non-digit makes the split between
    name and offset unique. Globals (kernels, imports) and attributes keep their names.
    """
    edits: set[tuple[int, int]] = set()  # (line, column just after the name)
    todo = [fn for fn in ast.parse(source).body if isinstance(fn, ast.FunctionDef)]
    while todo:  # (each function's tree is walked once: long entries have 10^6 nodes)
        fn = todo.pop()
        nodes = list(ast.walk(fn))
        todo += [n for n in nodes[1:] if isinstance(n, ast.FunctionDef)]
        names = {a.arg for a in fn.args.args} | {
            n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        renamed = {x for x in names if x[-1].isdigit()}
        clash = {x + "_" for x in renamed} & (names | {n.id for n in nodes
                                                       if isinstance(n, ast.Name)})
        if clash:
            raise BackendError(f"graphc internal: generated names {sorted(clash)} clash")
        for n in nodes:
            name = n.id if isinstance(n, ast.Name) else n.arg if isinstance(n, ast.arg) \
                else None
            if name in renamed:
                edits.add((n.lineno, n.col_offset + len(name)))
    lines = source.split("\n")
    for line, end in sorted(edits, reverse=True):
        text = lines[line - 1]
        lines[line - 1] = text[:end] + "_" + text[end:]
    return "\n".join(lines)
