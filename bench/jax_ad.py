"""Candidate: JAX, jax.jit(jax.value_and_grad(loss)).

The losses are the plain-NumPy ones from workloads.py with `np` rebound to `jax.numpy` (the same
source graphc traces), except the RNN, which a JAX user writes with lax.scan.
"""
import types

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

jax.config.update("jax_enable_x64", True)      # float64 workloads stay float64; f32 stays f32


def with_jnp(f):
    """The same function with the global name `np` bound to jax.numpy."""
    return types.FunctionType(f.__code__, {**f.__globals__, "np": jnp}, f.__name__,
                              f.__defaults__, f.__closure__)


def rnn_scan_loss(Wx, Wh, b, Wy, by, xs, targets):
    def step(h, xt_tt):
        xt, tt = xt_tt
        h = jnp.tanh(xt @ Wx + h @ Wh + b)
        return h, ((h @ Wy + by - tt) ** 2).mean()
    h0 = jnp.zeros((xs.shape[1], Wh.shape[0]), xs.dtype)
    _, errs = lax.scan(step, h0, (xs, targets))
    return errs.mean()


def make(data):
    loss = rnn_scan_loss if data.name == "rnn" else with_jnp(data.loss)
    vg = jax.jit(jax.value_and_grad(loss, argnums=data.argnums))
    args = tuple(jax.device_put(a) if isinstance(a, np.ndarray) else a for a in data.args)
    return lambda: jax.block_until_ready(vg(*args))


def versions():
    import jaxlib
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
