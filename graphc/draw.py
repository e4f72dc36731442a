"""Pictures of the joint graph: forward nodes, adjoint nodes, and the fusion groups they run in.

``to_dot`` always works (Graphviz DOT text); ``draw`` also renders SVG or PNG when Graphviz's
``dot`` program is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from .errors import BackendError
from .ir import Graph, Node
from .passes.fuse import Group, Step

_FWD, _BWD, _SRC = "#dbe9f6", "#fbe3d6", "#eeeeee"


def _label(n: Node) -> str:
    if n.op == "const" and n.params["value"].size == 1:
        return repr(n.params["value"].item())
    if n.op == "input":
        return f"arg {n.params['index']}"
    return n.op


def to_dot(graph: Graph, steps: list[Step] | None = None) -> str:
    """DOT text: forward nodes blue, adjoint (backward) nodes orange, edges labelled with the
    shape they carry, each node's source line in its tooltip, fusion groups as boxes."""
    nodes = graph.nodes()
    names = {n.id: f"n{k}" for k, n in enumerate(nodes)}
    outputs = {o.id: k for k, o in enumerate(graph.outputs)}
    lines = [f'digraph "{graph.name}" {{', "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8, color="#555555"];']

    def node_line(n: Node) -> str:
        color = _SRC if n.op in ("input", "const") else _BWD if n.adjoint else _FWD
        where = str(n.loc) if n.loc else ""
        peri = ", peripheries=2" if n.id in outputs else ""
        return (f'{names[n.id]} [label="{_label(n)}\\n{n.dtype.name}{list(n.shape)}", '
                f'fillcolor="{color}", tooltip="{where}"{peri}];')

    grouped: set[int] = set()
    for k, step in enumerate(steps or []):
        if isinstance(step, Group):
            lines.append(f'  subgraph cluster_{k} {{ label="group {k}"; style=dashed; '
                         'color="#888888"; fontsize=9;')
            for n in step.nodes:
                lines.append("    " + node_line(n))
                grouped.add(n.id)
            lines.append("  }")
    for n in nodes:
        if n.id not in grouped:
            lines.append("  " + node_line(n))
    for n in nodes:
        for i in n.inputs:
            lines.append(f'  {names[i.id]} -> {names[n.id]} [label="{list(i.shape)}"];')
    for o, k in outputs.items():
        lines.append(f'  out{k} [label="result {k}", shape=plaintext, style=""];')
        lines.append(f"  {names[o]} -> out{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(fn: Any, *args: Any, path: str = "graph.svg", optimized: bool = True) -> str:
    """Render the graph ``fn`` (a graphc transform) builds for ``args`` to ``path``.

    ``.dot`` writes DOT text; ``.svg``/``.png``/``.pdf`` need Graphviz's ``dot`` program.
    Returns the path written.
    """
    from .api import Function

    if not isinstance(fn, Function):
        raise BackendError("graphc.draw takes a graphc transform (grad, value_and_grad, jit)")
    entry = fn._lookup(args)
    graph = entry.optimized if optimized else entry.graph
    steps = entry.steps if optimized else None
    text = to_dot(graph, steps)
    ext = os.path.splitext(path)[1].lstrip(".").lower() or "dot"
    if ext == "dot":
        with open(path, "w") as f:
            f.write(text)
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise BackendError(f"rendering {ext.upper()} needs Graphviz's `dot` program (e.g. "
                           "`apt-get install graphviz`); use path='graph.dot' for DOT text")
    subprocess.run([exe, f"-T{ext}", "-o", path], input=text.encode(), check=True,
                   timeout=120)
    return path
