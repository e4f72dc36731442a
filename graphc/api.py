"""The public transforms: ``grad``, ``value_and_grad``, ``jit``.

Each returns a ``Function`` that specialises on the shapes, dtypes and structure of its
arguments, keeps one compiled entry per signature, and, when called on tracers (inside another
graphc transform), traces itself into the caller's graph instead, so transforms compose.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import threading
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import adjoint, reference
from .complexes import Complex, join as join_complex
from .errors import ArgumentError, GraphcError, ShapeError, TraceError, UnsupportedError
from .ir import Graph, Node, SourceLoc, next_id, raised_at
from .passes import optimize
from .passes.reroll import reroll
from .passes.updates import merge_row_writes
from .trace import Tracer, as_tracer, in_trace, make_node, names_used

# True while a transform traces: a graphc function called then (even on constants, with
# outer tracers in its closure) joins the trace rather than compiling on its own.
_tracing: ContextVar[bool] = ContextVar("graphc_tracing", default=False)

# How many compiled signatures one Function keeps in memory; the least recently used goes first
# (it comes back from the disk cache when called again). ``grad(f, max_entries=...)`` sets it
# for one function.
MAX_ENTRIES = int(os.environ.get("GRAPHC_MAX_ENTRIES", "64"))

# The dtypes compiled code takes (Numba has no float16 or long double on the CPU).
_DTYPES = {np.dtype(c) for c in "?bhilqBHILQfd"}
_INT64 = (-(1 << 63), (1 << 63) - 1)

# ------------------------------------------------------------------------------ pytrees
_LEAF = "*"


def flatten(tree: Any, static: Sequence[int] = ()) -> tuple[list[Any], Any]:
    """Leaves of nested tuples (named ones too)/lists/dicts/dataclass instances, and a
    hashable description of the nesting. Strings, and the items of ``tree`` (a tuple of
    arguments) at the positions ``static``, are no leaves: their values go into the
    description itself."""
    leaves: list[Any] = []

    def walk(t):
        if isinstance(t, tuple):
            if hasattr(t, "_fields"):
                return ("nt", type(t)) + tuple(walk(x) for x in t)
            return ("t",) + tuple(walk(x) for x in t)
        if isinstance(t, list):
            return ("l",) + tuple(walk(x) for x in t)
        if isinstance(t, dict):
            try:
                keys = tuple(sorted(t))
            except TypeError:  # keys of mixed types: in an order of their own still
                keys = tuple(sorted(t, key=lambda k: (type(k).__name__, repr(k))))
            return ("d", keys) + tuple(walk(t[k]) for k in keys)
        if t is None:
            return ("n",)
        if isinstance(t, str):  # never traced: a setting, kept in the description as is
            return ("s", t)
        if dataclasses.is_dataclass(t) and not isinstance(t, type):  # its fields, in order
            names = tuple(f.name for f in dataclasses.fields(t))
            return ("dc", type(t), names) + tuple(walk(getattr(t, n)) for n in names)
        if isinstance(t, Complex):  # a traced complex result: its two real parts
            leaves.extend((t.re, t.im))
            return ("c",)
        leaves.append(t)
        return _LEAF

    try:
        if static:
            return leaves, ("t",) + tuple(_static(k, x) if k in static else walk(x)
                                          for k, x in enumerate(tree))
        return leaves, walk(tree)
    except RecursionError:
        raise ArgumentError("arguments (or results) nested too deeply to take apart") from None


class _Static:
    """A static argument, keyed by a frozen copy of its contents (so that a dict of settings,
    cs231n's conv_param, keys an entry too), given to the function as it is."""

    __slots__ = ("value", "key")

    def __init__(self, value: Any, key: Any):
        self.value, self.key = value, key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: Any) -> bool:
        return type(other) is _Static and self.key == other.key

    def __repr__(self) -> str:
        return repr(self.value)


def _frozen(value: Any) -> Any:
    """A hashable stand-in for ``value``'s contents: dicts, lists and tuples of hashables.
    Values equal in Python but not to the function stay apart: 1, 1.0 and True (by type),
    0.0 and -0.0 (floats by repr, which also makes NaN equal to itself)."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((k, _frozen(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    hash(value)  # TypeError: not hashable
    if isinstance(value, (float, complex)):
        return (type(value), repr(value))
    return (type(value), value)


def _static(k: int, value: Any) -> tuple:
    """A static argument's place in a tree description: its value, which keys the compiled
    entry (by its contents when it is a dict or list) and which the function gets as it is."""
    try:
        return ("s", _Static(value, _frozen(value)))
    except TypeError:
        raise ArgumentError(f"static argument {k} must be hashable, or a dict, list or tuple "
                            f"of hashable values (it keys the compiled entry), got "
                            f"{type(value).__name__}") from None


def _rolled(result: Any, since: int = 0) -> Any:
    """``result`` (a pytree) with the unrolled loops of its trace rolled into scans, before
    the adjoint pass sees it (see ``passes.reroll``); a loop's row writes into one array are
    merged first (``passes.updates``), so that such a loop rolls too. Nodes older than id
    ``since`` (an enclosing trace's) are left as they are."""
    leaves, tree = flatten(result)
    traced = [k for k, x in enumerate(leaves) if isinstance(x, Tracer)]
    nodes = reroll(merge_row_writes([leaves[k].node for k in traced], since), since)
    for k, n in zip(traced, nodes):
        if n is not leaves[k].node:
            leaves[k] = Tracer(n)
    return unflatten(tree, leaves)


def unflatten(treedef: Any, leaves: Sequence[Any]) -> Any:
    it = iter(leaves)

    def build(d):
        if d == _LEAF:
            return next(it)
        tag = d[0]
        if tag == "t":
            return tuple(build(x) for x in d[1:])
        if tag == "nt":
            return d[1](*(build(x) for x in d[2:]))
        if tag == "l":
            return [build(x) for x in d[1:]]
        if tag == "d":
            return {k: build(x) for k, x in zip(d[1], d[2:])}
        if tag == "c":
            return join_complex(next(it), next(it))
        if tag == "dc":
            return _dataclass(d[1], d[2], [build(x) for x in d[3:]])
        if tag == "s":
            return d[1].value if type(d[1]) is _Static else d[1]
        return None

    return build(treedef)


def _dataclass(cls: type, names: tuple, values: list) -> Any:
    """An instance of the dataclass ``cls`` with these field values, made as a copy is (its
    __init__ and __post_init__ not run again; frozen ones too)."""
    obj = object.__new__(cls)
    for name, value in zip(names, values):
        object.__setattr__(obj, name, value)
    return obj


def _quick_key(args: tuple) -> tuple | None:
    """A cheap signature for flat argument lists, or None when the full one is needed."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key.append((a.shape, a.dtype))
        elif t is float or t is bool or (t is int and _INT64[0] <= a <= _INT64[1]):
            key.append(t)
        else:
            return None
    return tuple(key)


def _leaf_spec(x: Any) -> tuple:
    """What a compiled entry specialises on for one leaf: kind, shape, dtype."""
    if isinstance(x, np.ndarray):
        if isinstance(x, (np.ma.MaskedArray, np.matrix)):
            # Their operators mean something else (masks, matrix products): refuse rather
            # than compute plain-array results that differ from NumPy's.
            raise ArgumentError(f"{type(x).__name__} arguments are not supported; pass a plain "
                                "array (np.asarray(x), or x.filled() for a masked array)")
        if x.dtype.newbyteorder("=") not in _DTYPES:
            hint = (" (a complex array: pass its .real and .imag, and write re + 1j * im in "
                    "the function)" if x.dtype.kind == "c" else "")
            raise ArgumentError(f"argument of dtype {x.dtype} is not supported: graphc compiles "
                                f"bool, (unsigned) integer, float32 and float64 arrays{hint}")
        return ("a", x.shape, x.dtype.newbyteorder("=").str)
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is not None:  # a GPU array (Numba, CuPy, PyTorch): the cuda target takes it as is
        return ("d", tuple(cai["shape"]), np.dtype(cai["typestr"]).str)
    if type(x).__name__ == "FakeCUDAArray":  # Numba's CUDA simulator: no interface to read
        return ("d", tuple(x.shape), x.dtype.str)
    if isinstance(x, np.generic) and x.dtype in _DTYPES:  # (np.float64 is a float too)
        return ("s", (), x.dtype.str)
    # Python scalars are weak (NEP 50): they take the dtype of the arrays they meet.
    if isinstance(x, bool):
        return ("w", (), "|b1")
    if isinstance(x, int):
        if not _INT64[0] <= x <= _INT64[1]:
            raise ArgumentError(f"the Python integer {x} does not fit in int64")
        return ("w", (), "<i8")
    if isinstance(x, float):
        return ("w", (), "<f8")
    raise ArgumentError(f"unsupported argument of type {type(x).__name__}: graphc takes NumPy "
                        "arrays, Python/NumPy scalars, and tuples/lists/dicts/dataclasses of "
                        "them (and strings, which key the compiled entry); another value that "
                        "only steers the function can be a static argument (static_argnums) "
                        "or closed over")


def _leaf_path(tree: Any, k: int) -> str:
    """Where leaf ``k`` of the arguments described by ``tree`` is: ``args[2]['mode']``."""
    count = iter(range(k + 1))

    def find(d, path):
        if d == _LEAF:
            return path if next(count) == k else None
        tag = d[0]
        if tag in ("c", "s", "n"):  # (no leaves of the arguments)
            return None
        keys = d[1] if tag == "d" else d[2] if tag == "dc" else range(len(d))
        children = d[{"d": 2, "nt": 2, "dc": 3}.get(tag, 1):]
        for key, child in zip(keys, children):
            at = find(child, f"{path}.{key}" if tag == "dc" else f"{path}[{key!r}]")
            if at is not None:
                return at
        return None

    return find(tree, "args") or f"argument leaf {k}"


def _input_node(k: int, spec: tuple) -> Node:
    dtype = np.dtype(spec[2])
    if dtype not in _DTYPES:
        raise ArgumentError(f"argument leaf {k} has dtype {dtype}, which graphc does not support")
    return make_node("input", [], index=k, shape=spec[1], dtype=dtype, weak=spec[0] == "w")


def _fn_loc(fn: Callable) -> SourceLoc | None:
    code = getattr(fn, "__code__", None)
    return SourceLoc(code.co_filename, code.co_firstlineno, code.co_name) if code else None


def _generators(fn: Any, depth: int = 3, seen: set | None = None) -> list:
    """The random generators ``fn`` may draw from: NumPy's global one, and the Generators and
    RandomStates that ``fn`` (with the functions written inside it, and those it names, a few
    calls deep) finds in its globals or closure."""
    found = [np.random.mtrand._rand] if seen is None else []
    seen = set() if seen is None else seen
    fn = getattr(fn, "__wrapped__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen or depth == 0:
        return found
    seen.add(id(fn))
    scope = getattr(fn, "__globals__", {})
    values = [scope[n] for n in names_used(code) if n in scope]
    for cell in fn.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # a cell not filled yet
            pass
    for v in values:
        if isinstance(v, (np.random.Generator, np.random.RandomState)):
            found.append(v)
        elif callable(v) and not isinstance(v, type):
            found += _generators(v, depth - 1, seen)
    return found


def _fingerprint(state: Any) -> Any:
    if isinstance(state, dict):
        return tuple((k, _fingerprint(v)) for k, v in sorted(state.items()))
    if isinstance(state, (tuple, list)):
        return tuple(_fingerprint(v) for v in state)
    return state.tobytes() if isinstance(state, np.ndarray) else state


def _random_states(gens: list) -> list:
    return [_fingerprint(g.bit_generator.state if isinstance(g, np.random.Generator)
                         else g.get_state()) for g in gens]


# ------------------------------------------------------------------------ compiled entry
@dataclass
class Entry:
    """One compiled signature: the traced graph, its optimised form and the compiled code."""

    graph: Graph
    optimized: Graph
    steps: list  # the fused steps of ``optimized``, in order
    source: str
    run: Callable[[list[Any]], Sequence[Any]]  # flat argument leaves -> flat results
    out_tree: Any
    stats: dict = field(default_factory=dict)
    unpack: Callable[[Sequence[Any]], Any] | None = None  # flat results -> result structure
    key: Any = None  # the signature it was built for
    checks_only: int = 0  # leading results computed only for their checks (grad's value)

    def __post_init__(self):
        self.unpack = _unpacker(self.out_tree, [o.dtype for o in self.graph.outputs],
                                [o.ndim for o in self.graph.outputs], self.checks_only)


def _unpacker(tree: Any, dtypes: list[np.dtype], ndims: list[int], skip: int = 0
              ) -> Callable:
    """A function rebuilding the result structure from the flat results, compiled once per
    entry so that a call does no tree walking. 0-d results become NumPy scalars of their dtype.
    With ``skip``, ``tree`` is a pair whose first item, ``skip`` results, is left out."""
    names: dict[str, Any] = {d.name: d.type for d in dtypes}
    counter = iter(range(skip, len(dtypes)))
    if skip:
        tree = tree[2]

    def expr(d) -> str:
        if d == _LEAF:
            k = next(counter)
            return f"o[{k}]" if ndims[k] else f"{dtypes[k].name}(o[{k}])"
        tag = d[0]
        if tag == "t":
            return "(" + "".join(expr(x) + ", " for x in d[1:]) + ")"
        if tag == "nt":  # a named tuple: its class, by a name of its own
            names[f"_nt{len(names)}"] = d[1]
            return f"_nt{len(names) - 1}(" + ", ".join(expr(x) for x in d[2:]) + ")"
        if tag == "l":
            return "[" + ", ".join(expr(x) for x in d[1:]) + "]"
        if tag == "d":
            return "{" + ", ".join(f"{k!r}: {expr(x)}" for k, x in zip(d[1], d[2:])) + "}"
        if tag == "c":  # (0-d parts may come as Python floats: their dtype, named)
            k = next(counter), next(counter)
            return f"_complex(o[{k[0]}], o[{k[1]}], {dtypes[k[0]].name})"
        if tag == "s":
            names[f"_s{len(names)}"] = d[1]
            return f"_s{len(names) - 1}"
        if tag == "dc":
            names[f"_dc{len(names)}"] = d[1]
            return f"_dataclass(_dc{len(names) - 1}, {d[2]!r}, [" + ", ".join(
                expr(x) for x in d[3:]) + "])"
        return "None"

    return eval(f"lambda o: {expr(tree)}", {**names, "_complex": join_complex,
                                            "_dataclass": _dataclass})


def _as_c_array(x: Any) -> Any:
    """An argument leaf as the entry takes it: C-contiguous arrays, 0-d values as scalars."""
    if isinstance(x, np.ndarray):
        if type(x) is not np.ndarray:  # a subclass (np.memmap, ...): its plain array
            x = x.view(np.ndarray)
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
        if not x.ndim:
            return x[()]
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    return x


def _retrace_reason(old: Any, new: Any) -> str | None:
    """Why a new signature needs a new trace, in words: the first leaf that differs."""
    if old is None:
        return None
    if old[0] != new[0]:
        return "the structure of the arguments changed"
    for k, (a, b) in enumerate(zip(old[1], new[1])):
        if a[1] != b[1]:
            return f"argument leaf {k} shape changed {a[1]} -> {b[1]}"
        if a[2] != b[2]:
            return f"argument leaf {k} dtype changed {np.dtype(a[2])} -> {np.dtype(b[2])}"
    return "the kind of an argument changed (array, scalar or device array)"


def _from_user_frame(err: GraphcError) -> GraphcError:
    """``err`` with its traceback cut at the user's line it names, so the last frame shown is
    user code rather than graphc's internals."""
    loc = err.loc
    tb, keep = err.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if loc is not None and code.co_filename == loc.file and tb.tb_lineno == loc.line:
            keep = tb
        tb = tb.tb_next
    if keep is not None:
        keep.tb_next = None
    return err


def _build_cpu(graph: Graph, steps: list, name: str,
               specs: tuple) -> tuple[Callable, str, int]:
    from . import runtime
    from .codegen import cpu

    module = cpu.generate(graph, steps, name)
    fn = runtime.load(module.source).entry
    consts = [c.params["value"] for c in module.const_args]
    pool = runtime.Workspaces(module.workspace) if module.workspace.views else None
    return _runner(fn, consts, specs, pool), module.source, module.n_kernels


def _runner(fn: Callable, consts: list, specs: tuple, pool: Any) -> Callable:
    """``run(leaves)`` of one compiled CPU entry, written out for its signature so that a call
    does no per-leaf dispatch: array leaves go through ``_as_c_array``, scalars go to ``fn`` as
    they are, then the constants, then a workspace taken from ``pool`` (when there is one)."""
    names: dict[str, Any] = {"fn": fn, "c": _as_c_array}
    args = [f"c(x{k})" if s[0] == "a" else f"x{k}" for k, s in enumerate(specs)]
    for i, v in enumerate(consts):
        names[f"k{i}"] = v
        args.append(f"k{i}")
    lines = ["def run(leaves):"]
    if specs:
        lines.append("    " + "".join(f"x{k}, " for k in range(len(specs))) + "= leaves")
    if pool is None:
        lines.append(f"    return fn({', '.join(args)})")
    else:
        names.update(take=pool.take, give=pool.give)
        lines += ["    ws = take()", "    try:", f"        return fn({', '.join(args + ['ws'])})",
                  "    finally:", "        give(ws)"]
    exec("\n".join(lines), names)
    return names["run"]


def _check_graph(graph: Graph) -> None:
    """What NumPy refuses, and dtypes compiled code cannot hold, as errors before codegen:
    compiled code would return the reduction's identity or fail inside Numba instead."""
    for n in graph.nodes():
        if n.op == "scan":  # a tuple of results; its body is a graph of its own
            _check_graph(n.params["body"].graph)
            continue
        if n.dtype.newbyteorder("=") not in _DTYPES:
            raise UnsupportedError(f"{n.op} makes a value of dtype {n.dtype}, which graphc "
                                   "cannot compile (use float32 or float64)", n.loc)
        if n.op in ("max", "min") and any(n.inputs[0].shape[a] == 0 for a in n.params["axes"]):
            raise ShapeError(f"{n.op} of a zero-size array: the reduction has no identity "
                             f"(shape {n.inputs[0].shape}, axes {n.params['axes']})", n.loc)


def _weak_int_bounds(graph: Graph) -> list[tuple[int, int, int]]:
    """(leaf, low, high) for each Python int argument that meets a narrower integer array: the
    value must fit that dtype (NumPy raises OverflowError; compiled code would wrap around)."""
    out = []
    for n in graph.nodes():
        x = n.inputs[0] if n.op == "cast" else None
        if (x is not None and x.op == "input" and x.params.get("weak") and x.dtype.kind == "i"
                and n.dtype.kind in "iu"):
            info = np.iinfo(n.dtype)
            out.append((x.params["index"], int(info.min), int(info.max)))
    return out


def _checked(run: Callable, bounds: list[tuple[int, int, int]]) -> Callable:
    def checked(leaves: Sequence[Any]) -> Sequence[Any]:
        for k, lo, hi in bounds:
            if not lo <= leaves[k] <= hi:
                raise ArgumentError(f"argument leaf {k}: the Python integer {leaves[k]} is out "
                                    f"of bounds for the integer array it meets ({lo}..{hi})")
        return run(leaves)
    return checked


def _to_host(x: Any) -> np.ndarray:
    return x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)


class Function:
    """A graphc transform of a Python function (see ``grad``, ``value_and_grad``, ``jit``)."""

    def __init__(self, fn: Callable, mode: str, argnums: int | Sequence[int] = 0,
                 has_aux: bool = False, target: str = "cpu", max_entries: int | None = None,
                 device_results: bool | None = None, static_argnums: int | Sequence[int] = ()):
        if target not in ("cpu", "cuda"):
            raise ArgumentError(f"unknown target {target!r}: use 'cpu' or 'cuda'")
        if device_results not in (None, True, False):
            raise ArgumentError(f"device_results must be None, True or False, got "
                                f"{device_results!r}")
        if device_results and target != "cuda":
            raise ArgumentError("device_results=True needs target='cuda' (the cpu target's "
                                "results are NumPy arrays)")
        self.device_results = device_results
        if not isinstance(argnums, int) and not (
                isinstance(argnums, (tuple, list)) and all(isinstance(a, int) for a in argnums)):
            raise ArgumentError(f"argnums must be an int or a tuple of ints, got {argnums!r}")
        static = (static_argnums,) if isinstance(static_argnums, int) else static_argnums
        if not isinstance(static, (tuple, list)) or not all(isinstance(a, int) for a in static):
            raise ArgumentError(f"static_argnums must be an int or a tuple of ints, got "
                                f"{static_argnums!r}")
        self.fn, self.mode, self.argnums, self.has_aux, self.target = (
            fn, mode, argnums, has_aux, target)
        self.static_argnums = tuple(static)
        self._n_positional = _n_positional(fn) if static else 0
        if max_entries is not None and (not isinstance(max_entries, int) or max_entries < 1):
            raise ArgumentError(f"max_entries must be a positive int, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: OrderedDict[Any, Entry] = OrderedDict()  # least recently used first
        self._quick: dict[Any, Entry] = {}
        self._lock = threading.RLock()  # guards the two caches; compiled calls run unlocked
        functools.update_wrapper(self, fn, updated=())  # never adopt a wrapped Function's state

    # -- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = self._positional(args, kwargs)
        # Hot path: flat arguments (arrays, Python scalars) of a signature seen before.
        key = None if self.static_argnums else _quick_key(args)
        entry = self._quick.get(key) if key is not None else None
        if entry is not None and not _tracing.get():
            return entry.unpack(entry.run(args))
        leaves, tree = self._flatten(args)
        if _tracing.get() or any(isinstance(x, Tracer) for x in leaves):
            return self._transform(args, inline=True)
        entry = self._entry(leaves, tree)
        if key is not None:
            with self._lock:
                if key not in self._quick and entry is self._entries.get(entry.key):
                    self._quick[key] = entry
        if "first_call_s" not in entry.stats:  # Numba compiles (or loads its cache) here
            t0 = time.perf_counter()
            out = entry.run(leaves)
            entry.stats["first_call_s"] = time.perf_counter() - t0
            return entry.unpack(out)
        return entry.unpack(entry.run(leaves))

    def _entry(self, leaves: list[Any], tree: Any) -> Entry:
        specs = []
        for k, x in enumerate(leaves):
            try:
                specs.append(_leaf_spec(x))
            except ArgumentError as e:  # named by its place: args[1]['mode']
                raise ArgumentError(f"{_leaf_path(tree, k)}: {e}", _fn_loc(self.fn)) from None
        specs = tuple(specs)
        key = (tree, specs)
        with self._lock:  # one build per signature, however many threads ask at once
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            why = _retrace_reason(next(reversed(self._entries), None), key)
            try:
                entry = self._build(tree, specs)
            except GraphcError as e:  # (a TraceError keeps the user's exception as its cause)
                raise _from_user_frame(e) from e.__cause__
            entry.key = key
            entry.stats["retrace"] = why
            if why and os.environ.get("GRAPHC_DEBUG"):
                print(f"graphc: retracing {getattr(self.fn, '__name__', 'f')}: {why}")
            self._entries[key] = entry
            limit = self.max_entries or MAX_ENTRIES
            if len(self._entries) > limit:
                while len(self._entries) > limit:
                    self._entries.popitem(last=False)
                # Quick keys of evicted entries go too; live ones come back on their next call
                # (which also marks them recently used).
                self._quick = {}
        return entry

    @functools.cached_property
    def _signature(self) -> inspect.Signature:
        """The function's signature, read once: a call by name binds to it every time."""
        return inspect.signature(self.fn)

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """Arguments given by name, put in their places: argnums and static_argnums count
        the function's positional parameters."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except (TypeError, ValueError) as e:
            raise ArgumentError(f"{getattr(self.fn, '__name__', 'f')}: {e}",
                                _fn_loc(self.fn)) from None
        if bound.kwargs:
            raise ArgumentError(f"{getattr(self.fn, '__name__', 'f')}: keyword-only arguments "
                                f"({', '.join(bound.kwargs)}) are not supported: make them "
                                "positional, or close over them", _fn_loc(self.fn))
        return bound.args

    def _static(self, nargs: int) -> frozenset[int]:
        """The positions of the static arguments, for a call with ``nargs`` of them (one past
        them is a parameter left to its default)."""
        for a in self.static_argnums:
            if not -nargs <= a < max(nargs, self._n_positional):
                raise ArgumentError(f"static_argnums={self.static_argnums!r} is out of range "
                                    f"for {nargs} positional argument(s)", _fn_loc(self.fn))
        return frozenset(a % nargs for a in self.static_argnums if a < nargs)

    def _flatten(self, args: tuple) -> tuple[list[Any], Any]:
        return flatten(args, self._static(len(args)) if self.static_argnums else ())

    def _argnums(self, nargs: int) -> tuple[int, ...]:
        nums = (self.argnums,) if isinstance(self.argnums, int) else tuple(self.argnums)
        if self.mode != "jit" and self._static(nargs) & {a % nargs for a in nums
                                                          if -nargs <= a < nargs}:
            raise ArgumentError(f"argnums={self.argnums!r} names a static argument "
                                f"(static_argnums={self.static_argnums!r})", _fn_loc(self.fn))
        if len(set(a % nargs for a in nums if -nargs <= a < nargs)) != len(nums) and all(
                -nargs <= a < nargs for a in nums):
            raise ArgumentError(f"argnums={self.argnums!r} names an argument twice",
                                _fn_loc(self.fn))
        for a in nums:
            if not -nargs <= a < nargs:
                raise ArgumentError(f"argnums={self.argnums!r} is out of range for "
                                    f"{nargs} positional argument(s)", _fn_loc(self.fn))
        return tuple(a % nargs for a in nums)

    def _transform(self, args: tuple, inline: bool, keep_value: bool = False) -> Any:
        """Run the user's function on tracers and, for gradients, build the adjoint nodes.
        ``keep_value``: grad's result comes as (value, result)."""
        # Nested in an enclosing trace, only the nodes this call makes may roll (``since``):
        # rebuilding older ones would cut the value off from ``wrt`` (a zero gradient).
        if self.mode == "jit":
            since = next_id() if inline else 0
            return _rolled(in_trace(self.fn)(*args), since)
        nums = self._argnums(len(args))
        args = list(args)
        wrt: list[Node] = []
        wrt_trees = []
        for a in nums:
            leaves, tree = flatten(args[a])
            if not leaves:
                raise ArgumentError(f"argnums={self.argnums!r}: argument {a} holds no array or "
                                    "number to differentiate", _fn_loc(self.fn))
            nodes = []
            for x in leaves:
                t = as_tracer(x)
                if t.dtype.kind != "f":
                    raise ArgumentError(
                        f"argnums={self.argnums!r}: argument {a} has dtype {t.dtype}; integer "
                        "and boolean arrays are data and have no gradient", _fn_loc(self.fn))
                # Inside an outer trace, differentiate w.r.t. a fresh copy so that other uses
                # of the same outer value are constants to this derivative.
                nodes.append(adjoint.fresh(t.node) if inline else t.node)
            wrt += nodes
            wrt_trees.append(tree)
            args[a] = unflatten(tree, [Tracer(n) for n in nodes])
        since = next_id() if inline else 0  # (after the fresh copies of wrt)
        out = _rolled(in_trace(self.fn)(*args), since)
        aux = None
        if self.has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ArgumentError("has_aux=True: the function must return (value, aux)",
                                    _fn_loc(self.fn))
            out, aux = out
        if isinstance(out, (tuple, list, dict)):
            raise ArgumentError(
                f"grad needs a function returning one float scalar; {self.fn.__name__} returned "
                f"a {type(out).__name__} of {len(out)}"
                + (" (a function returning (value, aux) needs has_aux=True)"
                   if len(out) == 2 and not self.has_aux else ""), _fn_loc(self.fn))
        value = as_tracer(out)
        if value.size != 1 or value.dtype.kind != "f":
            raise ArgumentError(
                f"grad needs a function returning one float scalar; {self.fn.__name__} returned "
                f"shape {value.shape} dtype {value.dtype} (reduce it, e.g. with .sum())",
                _fn_loc(self.fn))
        value = value.reshape(())
        cts = adjoint.vjp([value.node], [adjoint.seed(value.node)], wrt)
        grads, k = [], 0
        for tree in wrt_trees:
            n = _count(tree)
            grads.append(unflatten(tree, [Tracer(c) for c in cts[k:k + n]]))
            k += n
        g = grads[0] if isinstance(self.argnums, int) else tuple(grads)
        if self.mode == "grad":
            out = (g, aux) if self.has_aux else g
            return (value, out) if keep_value else out
        return ((value, aux) if self.has_aux else value), g

    def _build(self, tree: Any, specs: tuple) -> Entry:
        if self.target == "cpu" and any(s[0] == "d" for s in specs):
            raise ArgumentError("an argument is a CUDA device array; use target='cuda', or copy "
                                "it to the host first", _fn_loc(self.fn))
        if tree[0] == "t":  # a wrong number of arguments is the caller's error, not a trace's
            try:
                inspect.signature(self.fn).bind(*tree[1:])
            except TypeError as e:
                raise ArgumentError(f"{getattr(self.fn, '__name__', 'f')}: {e}",
                                    _fn_loc(self.fn)) from None
            except ValueError:  # no signature to check against (a builtin)
                pass
        t0 = time.perf_counter()
        inputs = [_input_node(k, s) for k, s in enumerate(specs)]
        args = unflatten(tree, [Tracer(n) for n in inputs])
        token = _tracing.set(True)
        gens = _generators(self.fn)
        before = _random_states(gens)
        try:
            # grad computes the value too, so that the checks made on the way to it (an index
            # out of range, the max of nothing, a singular matrix) raise as in NumPy even
            # where the gradient does not need them
            result = self._transform(args, inline=False, keep_value=self.mode == "grad")
            if _random_states(gens) != before:
                raise UnsupportedError(
                    f"{getattr(self.fn, '__name__', 'f')} drew random numbers while traced "
                    "(np.random or a Generator): graphc traces once, so they would be constants, "
                    "the same on every call, where NumPy draws new ones. Draw them outside and "
                    "pass them in, e.g. f(w, x, mask) with mask = rng.random(x.shape) < p",
                    _fn_loc(self.fn))
        except GraphcError:
            raise
        except Exception as e:  # the user's code, on arguments it did not expect
            kinds = ", ".join(f"{np.dtype(s[2]).name}{list(s[1])}" for s in specs)
            hint = ""
            if "array element with a sequence" in str(e):  # NumPy, storing a Tracer
                hint = (" (a traced value stored into a NumPy array: make that array traced "
                        "too; np.zeros and the like do, written in the traced function, or "
                        "a = np.zeros_like(x, shape=...))")
            raise TraceError(f"{getattr(self.fn, '__name__', 'f')} raised {type(e).__name__}: "
                             f"{e}{hint} while traced with argument leaves ({kinds})",
                             raised_at(e.__traceback__) or _fn_loc(self.fn)) from e
        finally:
            _tracing.reset(token)
        out_leaves, out_tree = flatten(result)
        try:
            outputs = [as_tracer(x).node for x in out_leaves]
        except OverflowError as e:  # a Python int past int64
            raise ArgumentError(f"{getattr(self.fn, '__name__', 'f')} returned a number that no "
                                f"compiled dtype holds ({e})", _fn_loc(self.fn)) from None
        graph = Graph(inputs, outputs, name=getattr(self.fn, "__name__", "f"))
        _check_graph(graph)
        t1 = time.perf_counter()
        optimized, steps, stats = optimize(graph)
        t2 = time.perf_counter()
        if self.target == "cuda":
            from .codegen import cuda

            run, source, stats["kernels"] = cuda.build(optimized, steps, graph.name,
                                                       self.device_results)
        else:
            run, source, stats["kernels"] = _build_cpu(optimized, steps, graph.name, specs)
        bounds = _weak_int_bounds(graph)
        if bounds:
            run = _checked(run, bounds)
        stats.update(trace_s=t1 - t0, optimize_s=t2 - t1, codegen_s=time.perf_counter() - t2)
        entry = Entry(graph, optimized, steps, source, run, out_tree, stats,
                      checks_only=1 if self.mode == "grad" else 0)
        if os.environ.get("GRAPHC_DEBUG"):
            print(optimized.text(), source, stats, sep="\n")
        return entry

    # -- inspection
    def _lookup(self, args: tuple) -> Entry:
        return self._entry(*self._flatten(args))

    def ir(self, *args: Any) -> str:
        """The joint forward+backward graph for these arguments, before and after the passes."""
        e = self._lookup(args)
        s = e.stats
        return (f"# traced: {s['nodes_before']} nodes; after passes: {s['nodes_after']} nodes, "
                f"{s['groups']} fusion groups\n" + e.graph.text() + "\n\n# optimised\n"
                + e.optimized.text())

    def source(self, *args: Any) -> str:
        """The generated Numba source for these arguments."""
        return self._lookup(args).source

    def draw(self, *args: Any, path: str = "graph.svg", optimized: bool = True) -> str:
        """Picture of the joint graph for these arguments (see ``graphc.draw``)."""
        from .draw import draw

        return draw(self, *args, path=path, optimized=optimized)

    def stats(self, *args: Any) -> dict:
        """Node counts, fusion groups, kernels and timings of the entry for these arguments."""
        return dict(self._lookup(args).stats)

    def reference(self, *args: Any) -> Any:
        """The same result computed by the NumPy reference interpreter (the tests' oracle)."""
        leaves, tree = self._flatten(args)
        e = self._entry(leaves, tree)
        outs = reference.evaluate(e.graph, [_to_host(x) for x in leaves])
        return e.unpack(outs)


def _n_positional(fn: Callable) -> int:
    """How many parameters ``fn`` can take by position (0 when it has no signature)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _count(tree: Any) -> int:
    """Number of leaves in a treedef."""
    if tree == _LEAF:
        return 1
    skip = {"d": 2, "nt": 2, "dc": 3}.get(tree[0], 1)  # the tag, then keys, class, names
    return {"c": 2, "s": 0}.get(tree[0]) or sum(_count(c) for c in tree[skip:])


# ------------------------------------------------------------------------ public API
def _decorator(mode: str):
    def transform(fn: Callable | None = None, *, argnums: int | Sequence[int] = 0,
                  has_aux: bool = False, target: str = "cpu", max_entries: int | None = None,
                  device_results: bool | None = None, static_argnums: int | Sequence[int] = ()):
        def make(f: Callable) -> Function:
            return Function(f, mode, argnums, has_aux, target, max_entries, device_results,
                            static_argnums)

        if fn is None:
            return make
        if not callable(fn):
            raise ArgumentError(f"graphc.{mode} expects a function, got {type(fn).__name__}")
        return make(fn)
    return transform


grad = _decorator("grad")
grad.__doc__ = """Gradient of a scalar-valued function w.r.t. argument(s) ``argnums``.

``graphc.grad(f)(*args)`` returns the gradient in the structure of ``args[argnums]`` (a tuple
of them when ``argnums`` is a tuple). Forward and backward run in one compiled call.
``max_entries`` bounds the compiled signatures kept in memory (default ``MAX_ENTRIES``, 64,
or ``$GRAPHC_MAX_ENTRIES``); the least recently used is dropped first. With
``target="cuda"``, results are device arrays when any argument is one and NumPy arrays
otherwise; ``device_results=True`` always leaves them on the device, ``False`` always copies
them back (0-d results are NumPy scalars either way). ``static_argnums`` names arguments
that are not traced: the function gets their values as they are (a stride, a layer count, a
string, a dict of settings), each new value compiles a new entry, and they must be hashable
or dicts, lists and tuples of hashable values."""
value_and_grad = _decorator("value_and_grad")
value_and_grad.__doc__ = """Like ``grad`` but returns ``(value, gradient)``; with
``has_aux=True`` the function returns ``(value, aux)`` and this returns ``((value, aux), grad)``."""
jit = _decorator("jit")
jit.__doc__ = """Compile ``f`` itself (forward only); its result keeps ``f``'s structure."""
