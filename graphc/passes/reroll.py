"""Rerolling: a Python loop that tracing unrolled becomes a ``scan`` again.

A ``for`` loop in a traced function leaves one copy of its body in the trace per iteration:
the same ops, in the same order, each reading the previous iteration's values (the carry),
the same weights, and the next row of the data (``xs[t]``). Compiled as it is, that costs
compile time in proportion to the length: Numba and LLVM take long over a very long entry
function (an unrolled 50-step RNN spent 25 of its 31 s there), and every step is code
of its own. This pass finds such a run of equal iterations in the forward trace and replaces
it with one ``scan`` node whose body is one iteration (``graphc.scan`` does the same for a
loop written with it), before the adjoint pass runs, so the backward is a scan too.

How a run is found, on the forward nodes in trace order:

1. Each node gets a signature: its op, params, shape and dtype (a slice's integer indices
   left out: they are what changes from step to step). A period ``P`` is a gap that often
   separates equal signatures; a region is a stretch where every signature equals the one
   ``P`` places later.
2. Where a period starts inside that region decides what crosses from one period to the next:
   the cut is put where the fewest values cross (the carries), so an RNN step is cut at its
   start (carries h and the running loss), not after its ``tanh``.
3. Each input of each node in a period is classed: a value of the same period, of the
   previous one (a carry), or of a node outside (a weight, captured). Consecutive periods
   with equal classes form a run; the first period of a run may take its carries from
   anywhere (their initial values), and a slice whose integer index moves by the same amount
   each period (``xs[t]``) becomes a scanned input (``xs[a:a + n*s:s]``).
4. A run long enough to pay (``MIN_STEPS`` periods and ``MIN_NODES`` nodes: a short loop
   compiles and runs faster unrolled) becomes a scan. Values used after it are read from the
   scan's results: the last carry, a saved carry (the carry at the start of a step) or a
   stacked output.

The pass repeats until no run is left (a function with two loops gets two scans). Every
step stays exact: the body is the very ops of one iteration, so results equal the unrolled
loop's up to the order of floating-point sums that fusion may change anyway.
"""

from __future__ import annotations

import os
from collections import Counter

from ..ir import Graph, Node, _freeze, rebuild, toposort

MIN_STEPS = 4  # a run needs at least this many periods ...
MIN_NODES = 150  # ... and this many nodes (shorter ones compile about as fast unrolled, and
# run faster: bench/SCAN.md)
CANDIDATES = 8  # periods tried per round: the most frequent gaps between equal signatures,
# and as many of those covering the most nodes (gap times count)


def enabled() -> bool:
    return os.environ.get("GRAPHC_REROLL", "1") != "0"


def _sig(n: Node):
    params = n.params
    if n.op == "slice":  # the integer indices may step from period to period
        params = {"index": tuple(i if isinstance(i, tuple) else None for i in params["index"])}
    try:
        frozen = _freeze(params)
        hash(frozen)
    except TypeError:  # an unhashable parameter: this node matches nothing
        return ("unique", n.id)
    return (n.op, frozen, n.shape, n.dtype.str, len(n.inputs), n.adjoint)


def _ints(n: Node) -> tuple[int, ...]:
    return tuple(i for i in n.params["index"] if isinstance(i, int)) if n.op == "slice" else ()


def reroll(outputs: list[Node], since: int = 0) -> list[Node]:
    """``outputs`` with every long enough run of equal loop iterations replaced by a scan.
    Only nodes from id ``since`` on are rolled or rebuilt: a transform nested in an enclosing
    trace (a gradient called in a loop) leaves the enclosing trace's nodes, which its own
    inputs were made from, as they are; that trace rolls its loop itself."""
    if not enabled():
        return outputs
    nodes = toposort(outputs, since)
    while True:
        for run in _candidates(nodes):
            rolled = _roll(run, outputs)
            if rolled is None:
                continue
            # A roll must leave fewer nodes: the values read after the loop are slices of the
            # scan's results, and rolling a run of nothing but such slices again would never end.
            after = toposort(rolled, since)
            if len(after) < len(nodes):
                outputs, nodes = rolled, after
                break
        else:
            return outputs


# ----------------------------------------------------------------------------- finding
class _Run:
    """Periods ``first .. first + length - 1`` of period ``P`` starting at node ``lo``."""

    def __init__(self, nodes, lo, P, keys, first, length):
        self.nodes, self.lo, self.P = nodes, lo, P
        self.keys, self.first, self.length = keys, first, length

    def node(self, r: int, j: int) -> Node:
        return self.nodes[self.lo + r * self.P + j]

    @property
    def size(self) -> int:
        return self.length * self.P


def _candidates(nodes: list[Node]) -> list[_Run]:
    """Runs of equal periods, the largest first."""
    sigs = [_sig(n) for n in nodes]
    last: dict = {}
    gaps: Counter = Counter()
    for i, s in enumerate(sigs):
        if s in last:
            gaps[i - last[s]] += 1
        last[s] = i
    at = {n.id: i for i, n in enumerate(nodes)}
    found: list[_Run] = []
    # the most frequent gaps, and those covering the most nodes (an RK4 step: its four calls
    # of f repeat more often than the whole step does)
    periods = dict(gaps.most_common(CANDIDATES))
    periods.update(sorted(gaps.items(), key=lambda g: -g[0] * g[1])[:CANDIDATES])
    for P, count in periods.items():
        if count < MIN_STEPS - 1 or P * MIN_STEPS > len(nodes):
            continue
        i = 0
        while i + P < len(nodes):
            if sigs[i] != sigs[i + P]:
                i += 1
                continue
            a = i
            while i + P < len(nodes) and sigs[i] == sigs[i + P]:
                i += 1
            b = i + P  # nodes a .. b - 1 repeat with period P
            if b - a >= max(P * MIN_STEPS, MIN_NODES):
                found += _runs(nodes, at, a, b, P)
    return sorted(found, key=lambda run: -run.size)


def _phase(nodes: list[Node], at: dict, a: int, b: int, P: int) -> int:
    """Where in [a, a + P) to cut periods: the fewest values crossing a cut (ties: the most
    whole periods, then the earliest)."""
    reach: dict[int, int] = {}  # producer -> its last reader, inside [a, b)
    for q in range(a, b):
        for u in nodes[q].inputs:
            p = at.get(u.id, -1)  # (-1: older than the nodes rolled)
            if a <= p:
                reach[p] = max(reach.get(p, p), q)
    diff = [0] * (P + 1)
    for p, q in reach.items():
        if q - p >= P:  # crosses every cut
            diff[0] += 1
            diff[P] -= 1
            continue
        lo, hi = (p + 1) % P, q % P  # cuts at positions p+1 .. q, modulo P
        if lo <= hi:
            diff[lo] += 1
            diff[hi + 1] -= 1
        else:
            diff[lo] += 1
            diff[P] -= 1
            diff[0] += 1
            diff[hi + 1] -= 1
    cost, running = [], 0
    for c in range(P):
        running += diff[c]
        cost.append(running)
    return min(range(a, a + P), key=lambda s: (cost[s % P], -((b - s) // P), s))


def _runs(nodes, at, a, b, P):
    """The runs of equally wired periods in the repeating region [a, b)."""
    lo = _phase(nodes, at, a, b, P)
    R = (b - lo) // P
    hi = lo + R * P

    def classify(r: int) -> list[tuple]:
        out = []
        for j in range(P):
            for u in nodes[lo + r * P + j].inputs:
                q = at.get(u.id, -1)
                out.append(("in", r - (q - lo) // P, (q - lo) % P) if lo <= q < hi
                           else ("out", u.id))
        return out

    keys = [classify(r) for r in range(R)]
    ints = [[_ints(nodes[lo + r * P + j]) for j in range(P)] for r in range(R)]

    def steps_evenly(r: int) -> bool:  # slice indices of r-2, r-1, r: equal differences
        return all(tuple(z - y for y, z in zip(i1, i2)) == tuple(y - x for x, y in zip(i0, i1))
                   for i0, i1, i2 in zip(ints[r - 2], ints[r - 1], ints[r]))

    def starts(s: int) -> bool:
        """Period s can begin a run that period s + 1 continues."""
        if any(k[0] == "in" and k[1] > 2 for k in keys[s + 1]):
            return False
        return all(x == y or (y[0] == "in" and y[1] >= 1 and (x[0] == "out" or x[1] >= 1))
                   for x, y in zip(keys[s], keys[s + 1]))

    s = 0
    while s < R - 1:
        if not starts(s):
            s += 1
            continue
        e = s + 2  # periods s .. e - 1
        while e < R and keys[e] == keys[e - 1] and steps_evenly(e):
            e += 1
        if e - s >= MIN_STEPS and (e - s) * P >= MIN_NODES:
            yield _Run(nodes, lo, P, keys, s, e - s)
        s = e


# ----------------------------------------------------------------------------- rolling
def _roll(run: _Run, outputs: list[Node]) -> list[Node] | None:
    """``outputs`` with ``run`` replaced by a scan, or None where a scan cannot express it."""
    from ..loops import Body, _node, _spec_node

    P, s, T, keys = run.P, run.first, run.length, run.keys
    steady = keys[s + 1]
    first, second = [run.node(s, j) for j in range(P)], [run.node(s + 1, j) for j in range(P)]
    loc = first[0].loc

    # Inputs of the body: carries (by producer offset), scanned slices, captured values. A
    # value read two periods later (u_prev in a leapfrog step) is a carry too, and the carry's
    # value at the start of the step is passed on as a second, delayed carry.
    carries: list[int] = []
    init: dict[int, Node] = {}
    delayed: dict[int, Node] = {}  # offset -> the value two periods before the run's first
    slots = iter(steady)
    for j in range(P):
        for u, v in zip(first[j].inputs, second[j].inputs):
            k = next(slots)
            if k[0] != "in" or k[1] == 0:
                continue
            # (the value one period before the first: read by the first at lag 1, by the
            # second at lag 2)
            before, two = (u, None) if k[1] == 1 else (v, u)
            if k[2] not in init:
                carries.append(k[2])
                init[k[2]] = before
            elif init[k[2]] is not before:
                return None
            if two is not None and delayed.setdefault(k[2], two) is not two:
                return None
    scanned: dict[int, tuple[Node, int]] = {}  # offset -> (xs node, its axis position)
    for j in range(P):
        a, b = _ints(first[j]), _ints(second[j])
        if a != b:
            moved = [k for k, (x, y) in enumerate(zip(a, b)) if x != y]
            if len(moved) != 1 or _slots(steady, second, j)[0][0] != "out":
                return None  # x[t, t] (not one scanned axis), or a slice of a step's value
            scanned[j] = (first[j].inputs[0], moved[0])
    if not carries and not scanned:  # the same values each time: nothing to scan
        return None
    for j in carries:
        if any((x.shape, x.dtype) != (second[j].shape, second[j].dtype)
               for x in (init[j], delayed.get(j, init[j]))):
            return None

    # What is read after the run: (period, offset) of each node read there.
    end = run.lo + (s + T) * P
    lo_run = run.lo + s * P
    inside = {n.id: divmod(i - run.lo, P) for i, n in enumerate(run.nodes[lo_run:end], lo_run)}
    later = run.nodes[end:]
    read = {u.id for n in later for u in n.inputs if u.id in inside}
    read |= {o.id for o in outputs if o.id in inside}
    read_at = {inside[i] for i in read}
    summed = _accumulators(steady, second, [j for j in carries if j not in delayed], read_at,
                           s + T - 1)
    carries = [j for j in carries if j not in summed]
    ys = sorted({j for _, j in read_at} - set(carries) - set(summed) | set(summed.values()))

    inputs = [_spec_node(k, second[j].shape, second[j].dtype)
              for k, j in enumerate(carries + list(delayed))]
    carry_in = dict(zip(carries, inputs))
    delay_in = dict(zip(delayed, inputs[len(carries):]))
    x_in = {}
    for j in scanned:
        x_in[j] = _spec_node(len(inputs), second[j].shape, second[j].dtype)
        inputs.append(x_in[j])
    cap_in: dict[int, Node] = {}  # outer node id -> its body input
    captured: list[Node] = []
    body: dict[int, Node] = {}
    for j in range(P):
        n = second[j]
        if j in scanned:
            body[j] = x_in[j]
            continue
        if j in summed:
            continue
        ins = []
        for u, k in zip(n.inputs, _slots(steady, second, j)):
            if k[0] == "out":
                if u.op != "const" and u.id not in cap_in:
                    cap_in[u.id] = _spec_node(len(inputs), u.shape, u.dtype)
                    inputs.append(cap_in[u.id])
                    captured.append(u)
                ins.append(u if u.op == "const" else cap_in[u.id])
            elif k[1] == 0:
                ins.append(body[k[2]])
            else:
                ins.append(carry_in[k[2]] if k[1] == 1 else delay_in[k[2]])
        body[j] = n if n.op == "const" else rebuild(n, tuple(ins))

    outs = [body[j] for j in carries] + [carry_in[j] for j in delayed] + [body[j] for j in ys]
    graph = Graph(inputs, outs, f"loop_{loc.line}" if loc else "loop")
    xs = [_scanned(node, axis, first[j], second[j], T, loc) for j, (node, axis) in scanned.items()]
    nc = len(carries) + len(delayed)
    items = _node(Body(graph, nc, len(scanned), len(ys)),
                  [init[j] for j in carries] + list(delayed.values()) + xs + captured, T, False,
                  loc)

    made: dict[int, Node] = {}

    def value(i: int) -> Node:  # the scan's result that stands for node id i of the run
        if i not in made:
            r, j = inside[i]
            t = r - s
            if j in summed:  # the last value of a running sum
                total = _make("sum", items[2 * nc + ys.index(summed[j])], loc, axes=(0,),
                              keepdims=False)
                made[i] = _make("add", [init[j], total], loc)
            elif j in carries:
                c = carries.index(j)
                made[i] = items[c] if t == T - 1 else _make("slice", items[nc + c], loc,
                                                            index=(t + 1,))
            else:
                made[i] = _make("slice", items[2 * nc + ys.index(j)], loc, index=(t,))
        return made[i]

    # Everything after the run is built anew, in its order, so that trace order keeps each
    # later loop's iterations together (a node kept as it was would stay before the scan).
    new: dict[int, Node] = {}
    for n in later:
        new[n.id] = rebuild(n, tuple(new.get(u.id) or (value(u.id) if u.id in inside else u)
                                     for u in n.inputs))
    return [new.get(o.id) or (value(o.id) if o.id in inside else o) for o in outputs]


def _accumulators(steady: list[tuple], period: list[Node], carries: list[int],
                  read_at: set[tuple[int, int]], last: int) -> dict[int, int]:
    """Carries that only sum: ``total = total + v`` where ``v`` does not depend on ``total``,
    nothing else reads ``total`` in the step, and only its last value is read after the
    loop. Each becomes a stacked output ``v`` summed after the loop (offset -> v's offset),
    so the loop no longer waits on it: the scan can compute all the ``v`` at once."""
    deps: list[set[int]] = []  # the carries each offset's value depends on, in the step
    reads: Counter = Counter()
    for j, n in enumerate(period):
        d: set[int] = set()
        for k in _slots(steady, period, j):
            if k[0] == "in":
                d |= deps[k[2]] if k[1] == 0 else {k[2]}
                reads[k] += 1
        deps.append(d)
    out = {}
    for j in carries:
        n, ks = period[j], _slots(steady, period, j)
        if n.op != "add" or reads[("in", 1, j)] != 1 or reads[("in", 0, j)] or any(
                r != last and o == j for r, o in read_at):
            continue
        other = [k for k in ks if k != ("in", 1, j)]
        if len(other) != 1 or other[0][:2] != ("in", 0) or j in deps[other[0][2]]:
            continue
        v = period[other[0][2]]
        if v.shape == n.shape and v.dtype == n.dtype:
            out[j] = other[0][2]
    return out


def _slots(keys: list[tuple], period: list[Node], j: int) -> list[tuple]:
    """The classes of node j's inputs in a period's key list."""
    k = sum(len(n.inputs) for n in period[:j])
    return keys[k:k + len(period[j].inputs)]


def _make(op: str, inputs: Node | list[Node], loc, **params) -> Node:
    """A new node of ``op``, attributed to the loop's source line."""
    from ..trace import make_node

    n = make_node(op, inputs if isinstance(inputs, list) else [inputs], **params)
    n.loc = loc
    return n


def _scanned(x: Node, axis: int, first: Node, second: Node, T: int, loc) -> Node:
    """``x`` sliced as ``first`` and ``second`` are, with the moving index as a strided range
    over T steps, moved to the front."""
    index, k, out_axis = [], 0, 0
    for dim, i in enumerate(first.params["index"]):
        if not isinstance(i, int):
            index.append(i)
            continue
        if k == axis:
            step = _ints(second)[k] - i
            stop = i + T * step
            index.append(slice(i, None if stop < 0 else stop, step).indices(x.shape[dim]))
            out_axis = sum(1 for v in index[:-1] if not isinstance(v, int))
        else:
            index.append(i)
        k += 1
    if all(not isinstance(i, int) and i == (0, x.shape[d], 1) for d, i in enumerate(index)):
        n = x  # every row, in order
    else:
        n = _make("slice", x, loc, index=tuple(index))
    if out_axis:
        n = _make("transpose", n, loc,
                  axes=(out_axis,) + tuple(a for a in range(n.ndim) if a != out_axis))
    return n
