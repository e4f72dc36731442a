"""Row writes merged: a run of ``x[t] = v`` on one array becomes one concatenate of the rows.

``x[i] = v`` traces as ``where(mask, unslice(v), x)`` (see "in-place updates" in trace.py):
right for any index, but a loop that fills an array row by row (``out[t] = h``,
``h[:, t, :] = ...``) then passes the whole array from step to step, with a constant mask of
its own in each, so it cannot roll back into a scan, and every step is a kernel over the whole
array. When such updates each write one position along the same axis, and nothing reads the
array between them, the last value is the rows in order: the written ones (the last write to
a position winning) and, between them, slices of the array before the first update, joined
by one concatenate. That is the graph ``np.stack`` of the rows makes, and it rolls. Reads of
rows already written do not count: the tracer takes them from the rows (``forwarded_read``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..ir import Node, rebuild, toposort
from ..ops import pyindex


def _row_write(n: Node) -> tuple[int, int, Node, Node] | None:
    """(axis, position, row, previous array) when ``n`` writes one position along an axis."""
    if n.op != "where":
        return None
    mask, placed, prev = n.inputs
    if mask.op != "const" or placed.op != "unslice" or placed.shape != n.shape or \
            prev.shape != n.shape or placed.dtype != n.dtype or prev.dtype != n.dtype:
        return None
    index = placed.params["index"]
    ints = [d for d, i in enumerate(index) if isinstance(i, int)]
    if len(ints) != 1 or any(not isinstance(i, int) and tuple(i) != (0, n.shape[d], 1)
                             for d, i in enumerate(index)):
        return None
    inside = np.zeros(n.shape, bool)
    inside[pyindex(index)] = True
    if not np.array_equal(np.broadcast_to(mask.params["value"], n.shape), inside):
        return None
    return ints[0], index[ints[0]], placed.inputs[0], prev


def forwarded_read(read: Node) -> Node | None:
    """What ``read``, a slice, reads when its array comes from row writes: the row a write
    stored when the slice is that whole row, or, when the slice leaves the written position
    out, the same slice of the array before the write (in turn). None if neither applies.
    The tracer reads rows this way (``Tracer.__getitem__``), so that a loop reading back
    a row of the array it fills (``h[:, t] = f(h[:, t - 1])``) has no reads between its
    writes, and they merge."""
    source, index, moved = read.inputs[0], read.params["index"], False
    while (w := _row_write(source)) is not None:
        axis, pos, row, prev = w
        at = index[axis] if axis < len(index) else (0, source.shape[axis], 1)
        if at == pos:  # the written row, whole, or a part of it (left as it is)
            whole = all(d == axis or not isinstance(i, int) and tuple(i) == (0, n, 1)
                        for d, (i, n) in enumerate(zip(index, source.shape)))
            if whole and row.shape == read.shape:
                return row
            break
        if isinstance(at, int) or pos not in range(*at):  # the write is left out
            source, moved = prev, True
            continue
        break
    return Node("slice", (source,), read.params, read.shape, read.dtype, read.loc,
                read.adjoint) if moved else None


def merge_row_writes(outputs: list[Node], since: int = 0) -> list[Node]:
    """``outputs`` with every run of two or more row writes on one array merged; only nodes
    from id ``since`` on change (see ``reroll``)."""
    nodes = toposort(outputs, since)
    users = Counter(i.id for n in nodes for i in n.inputs)
    users.update(o.id for o in outputs)
    writes = {n.id: w for n in nodes if (w := _row_write(n)) is not None}
    chains: dict[int, list[Node]] = {}  # node id -> the row writes ending at it, in order
    extended: set[int] = set()
    for n in nodes:
        if n.id in writes:
            axis, _, _, prev = writes[n.id]
            if prev.id in chains and users[prev.id] == 1 and writes[prev.id][0] == axis:
                chains[n.id] = chains[prev.id] + [n]
                extended.add(prev.id)
            else:
                chains[n.id] = [n]
    ends = {i: c for i, c in chains.items() if len(c) > 1 and i not in extended}
    if not ends:
        return outputs
    new: dict[int, Node] = {}

    def get(x: Node) -> Node:
        return new.get(x.id, x)

    for n in nodes:
        if n.id in ends:
            new[n.id] = _joined(n, ends[n.id], writes, get)
        elif any(get(i) is not i for i in n.inputs):
            new[n.id] = rebuild(n, tuple(get(i) for i in n.inputs))
    return [get(o) for o in outputs]


def _joined(end: Node, chain: list[Node], writes: dict, get) -> Node:
    """The value of ``end``: its rows in order, joined along the written axis."""
    axis = writes[end.id][0]
    base = get(writes[chain[0].id][3])
    rows = {}
    for w in chain:  # later writes to a position replace earlier ones, as in NumPy
        rows[writes[w.id][1]] = get(writes[w.id][2])
    shape, pieces, start = end.shape, [], 0

    def part(x: Node, op: str, params: dict, length: int) -> Node:
        s = shape[:axis] + (length,) + shape[axis + 1:]
        return Node(op, (x,), params, s, end.dtype, end.loc, end.adjoint)

    for t in sorted(rows) + [shape[axis]]:
        if t > start:  # positions no update writes keep the array's values
            index = tuple((0, s, 1) for s in shape[:axis]) + ((start, t, 1),)
            pieces.append(part(base, "slice", {"index": index}, t - start))
        if t < shape[axis]:
            row = shape[:axis] + (1,) + shape[axis + 1:]
            pieces.append(part(rows[t], "reshape", {"shape": row}, 1))
        start = t + 1
    if len(pieces) == 1:
        return pieces[0]
    return Node("concatenate", tuple(pieces), {"axis": axis}, shape, end.dtype, end.loc,
                end.adjoint)
