"""The IR: a static DAG of ``Node``s, each with an op name, inputs, params, shape and dtype.

A node is immutable once built. Creation order is a topological order (inputs exist before
their users), so a graph is just its input and output nodes; ``Graph.nodes()`` recovers the
reachable nodes in order.
"""

from __future__ import annotations

import itertools
import os
import sys
import sysconfig
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

_ids = itertools.count()


def next_id() -> int:
    """An id above every node built so far (nodes built later get larger ones)."""
    return next(_ids)


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class SourceLoc:
    file: str
    line: int
    func: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} (in {self.func})"

    def short(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"


# Libraries' code (the standard library, installed packages): never the user's own.
INSTALLED = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib",
                                                      "platlib")})


def _ours(fname: str) -> bool:
    """Code of graphc, NumPy or generated text: no frame of it is the user's."""
    return fname.startswith(_PKG_DIR) or "numpy" in fname or fname.startswith("<")


def _users(fname: str) -> bool:
    """Code of the user's: neither ours nor a library's."""
    return not (_ours(fname) or fname.startswith(INSTALLED))


def user_loc() -> SourceLoc | None:
    """The innermost stack frame that is the user's: not graphc's own code, NumPy's dispatch,
    nor a library the user's code called."""
    frame = sys._getframe(1)
    while frame is not None:
        fname = frame.f_code.co_filename
        if _users(fname):
            return SourceLoc(fname, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


def raised_at(tb: Any) -> SourceLoc | None:
    """The innermost frame of traceback ``tb`` that is the user's (see user_loc)."""
    loc = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if _users(code.co_filename):
            loc = SourceLoc(code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    return loc


def library_call() -> str | None:
    """``module.function`` of the library (outside NumPy and graphc) through which the user's
    code reached the caller, or None when it called NumPy itself."""
    frame, name = sys._getframe(2), None
    while frame is not None:
        fname = frame.f_code.co_filename
        if not _ours(fname):
            if not fname.startswith(INSTALLED):
                return name
            name = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"
        frame = frame.f_back
    return name


# While the adjoint pass emits the cotangent nodes of a forward node, they are attributed to
# that node's source line and marked as backward nodes.
_adjoint_of: ContextVar["Node | None"] = ContextVar("graphc_adjoint_of", default=None)


class Node:
    # constant: made from constants alone while tracing (trace.make_node sets it), so that
    # its value is known then
    __slots__ = ("op", "inputs", "params", "shape", "dtype", "loc", "id", "adjoint", "constant")

    def __init__(self, op: str, inputs: tuple["Node", ...], params: dict[str, Any],
                 shape: tuple[int, ...], dtype: np.dtype, loc: SourceLoc | None,
                 adjoint: bool | None = None):
        self.op = op
        self.inputs = inputs
        self.params = params
        self.shape = shape
        self.dtype = np.dtype(dtype)
        fwd = _adjoint_of.get()
        self.adjoint = fwd is not None if adjoint is None else adjoint
        self.loc = fwd.loc if fwd is not None and adjoint is None else loc
        self.id = next(_ids)
        self.constant = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def key(self) -> tuple:
        """Structural identity used by CSE: same op, same inputs, same params."""
        return (self.op, tuple(i.id for i in self.inputs), _freeze(self.params))

    def __repr__(self) -> str:
        return f"%{self.id}:{self.op}{list(self.shape)}{self.dtype}"


def rebuild(like: Node, inputs: tuple[Node, ...], op: str | None = None,
            params: dict[str, Any] | None = None) -> Node:
    """A new node computing the same value as ``like`` (same shape, dtype, source line)."""
    return Node(op or like.op, tuple(inputs), like.params if params is None else params,
                like.shape, like.dtype, like.loc, like.adjoint)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.dtype):
        return value.str
    return value


def toposort(outputs: Iterable[Node], since: int = 0) -> list[Node]:
    """Every node reachable from ``outputs``, inputs before users; from id ``since`` on only
    (older nodes, an enclosing trace's, are neither listed nor walked through)."""
    seen: dict[int, Node] = {}
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n.id in seen or n.id < since:
            continue
        seen[n.id] = n
        stack.extend(n.inputs)
    return [seen[k] for k in sorted(seen)]


@dataclass
class Graph:
    """A traced program: its parameter nodes (op ``input``) and its result nodes."""

    inputs: list[Node]
    outputs: list[Node]
    name: str = "f"

    def nodes(self) -> list[Node]:
        return toposort(self.outputs + self.inputs)

    def users(self) -> dict[int, list[Node]]:
        users: dict[int, list[Node]] = {n.id: [] for n in self.nodes()}
        for n in self.nodes():
            for i in n.inputs:
                users[i.id].append(n)
        return users

    def text(self) -> str:
        """One line per node: name, op, inputs, params, shape, dtype, source line."""
        names = {n.id: f"%{k}" for k, n in enumerate(self.nodes())}
        out = [f"graph {self.name}({', '.join(names[i.id] for i in self.inputs)}):"]
        for n in self.nodes():
            args = ", ".join(names[i.id] for i in n.inputs)
            params = ", ".join(f"{k}={_show(v)}" for k, v in n.params.items())
            call = f"{n.op}({args}{', ' if args and params else ''}{params})"
            side = "bwd" if n.adjoint else "fwd"
            where = n.loc.short() if n.loc else ""
            out.append(f"  {names[n.id]:>5} = {call:<44} : {_type(n):<18} {side} {where}")
        out.append(f"  return {', '.join(names[o.id] for o in self.outputs)}")
        return "\n".join(out)


def _type(n: Node) -> str:
    return f"{n.dtype.name}[{','.join(map(str, n.shape))}]"


def _show(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return repr(v.item()) if v.size == 1 else f"<array {v.dtype}{list(v.shape)}>"
    if isinstance(v, np.dtype):
        return v.name
    return repr(v)
