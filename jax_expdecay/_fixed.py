"""Fixed-point numbers in 12-bit digits (int32): the arithmetic of the accurate path.

A number is a list of ``L = 13`` int32 arrays ``d_0 .. d_12`` with value
``sum d_i 2^(-12 i)``: ``d_0`` the (signed) integer part, the others in [0, 4096) once
normalised (floor digits: a negative number has ``d_0 < 0`` and positive fractional
digits). Products of two digits are below 2^24 and exact in int32, a column sums at most
13 of them (< 2^28), and a carry pass with an arithmetic shift normalises: no rounding
anywhere, the same bits on every backend, and nothing an FMA can change. The only
errors are the dropped low-order products of ``mul`` (bounded there).

``exp2`` gives ``2^(t/64)`` for ``t = whole + F`` (``whole`` an int32, ``F`` in [0, 1)
as fractional digits): ``2^m * 2^(j/64) * exp(F ln2/64)`` with ``whole = 64 m + j``,
within 2^-124 (relative) of the exact value.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

L = 13  # digits: the integer part and 12 fractional digits (weights down to 2^-144)
DEGREE = 14  # exp(r) for r < 0.01083: remainder < 0.01083^15/15! < 2^-138


def normalise(cols: list[jax.Array]) -> list[jax.Array]:
    """One carry pass, least significant first: every column but the first in [0, 4096)."""
    cols = list(cols)
    for i in range(len(cols) - 1, 0, -1):
        carry = cols[i] >> 12  # arithmetic shift: a floor, also for negative columns
        cols[i] = cols[i] & 4095
        cols[i - 1] = cols[i - 1] + carry
    return cols


def mul(a: list[jax.Array], b: list[jax.Array]) -> list[jax.Array]:
    """``a * b`` truncated to ``L`` digits (normalised inputs, ``|a_0|, |b_0| < 2^7``).

    Dropped: the products ``a_i b_j`` with ``i + j >= L`` (``i, j >= 1``: both factors in
    [0, 4096)), ``sum_{s >= L} (s - 1) 2^24 2^(-12 s) < 2^-128`` — a floor: the result is
    at most 2^-128 below the exact product."""
    cols = [a[0] * b[i] for i in range(L)]
    for i in range(1, L):
        for j in range(L - i):
            cols[i + j] = cols[i + j] + a[i] * b[j]
    return normalise(cols)


def const(row: np.ndarray, shape: tuple[int, ...]) -> list[jax.Array]:
    return [jnp.broadcast_to(jnp.int32(int(x)), shape) for x in row]


def _digits(x_scaled: int) -> list[int]:
    """Floor digits of ``x_scaled / 2^(12 (L - 1))``."""
    out = []
    for _ in range(L - 1):
        x_scaled, r = divmod(x_scaled, 4096)
        out.append(r)
    out.append(x_scaled)
    return out[::-1]


@functools.cache
def tables() -> dict[str, np.ndarray]:
    """``ln2/64``, ``64/ln2``, ``1/k!`` (k = 0..DEGREE) and ``2^(j/64)`` (j = 0..63) as
    floor digits (within 2^-144), from 60-digit ``decimal`` and ``fractions``."""
    import decimal
    from fractions import Fraction

    ctx = decimal.Context(prec=60)
    scale = 2 ** (12 * (L - 1))

    def floor_scaled(x: decimal.Decimal) -> int:
        y = ctx.multiply(x, scale)
        return int(y.to_integral_value(rounding=decimal.ROUND_FLOOR, context=ctx))

    ln2 = ctx.ln(decimal.Decimal(2))
    two = [
        _digits(floor_scaled(ctx.power(decimal.Decimal(2), ctx.divide(decimal.Decimal(j), 64))))
        for j in range(64)
    ]
    return {
        "ln2_64": np.asarray(_digits(floor_scaled(ctx.divide(ln2, 64))), np.int32),
        "inv_ln2_64": np.asarray(_digits(floor_scaled(ctx.divide(64, ln2))), np.int32),
        "coef": np.asarray(
            [_digits(int(Fraction(scale, math.factorial(k)))) for k in range(DEGREE + 1)],
            np.int32,
        ),
        "two": np.asarray(two, np.int32),
    }


def exp2(whole: jax.Array, frac: list[jax.Array]) -> tuple[jax.Array, list[jax.Array]]:
    """``2^((whole + F)/64) = 2^m Y``: returns ``m`` and ``Y`` in [1, 2] as digits.

    ``F = sum frac_i 2^(-12 i)`` (up to ``L - 1`` digits, in [0, 1)). Errors on ``Y``:
    ``r = F ln2/64`` is one truncated product (< 2^-128) with a floored constant
    (2^-144); ``exp(r)`` by Horner from ``1/DEGREE!``, one truncated product per step
    (14 x 2^-128) plus floored coefficients (15 x 2^-144) and the remainder (2^-138);
    times the floored ``2^(j/64)`` (2^-144) in one more truncated product: ``Y`` is
    below the exact value by less than 2^-123 (and never above it: every error is a
    floor, and all quantities are non-negative)."""
    tab = tables()
    shape = whole.shape
    f = [jnp.zeros_like(whole), *frac] + [jnp.zeros_like(whole)] * (L - 1 - len(frac))
    r = mul(f, const(tab["ln2_64"], shape))
    coef = jnp.asarray(tab["coef"])

    def horner(i, acc):
        k = DEGREE - 1 - i
        prod = mul(r, list(acc))
        return tuple(normalise([prod[d] + coef[k, d] for d in range(L)]))

    init = tuple(jnp.broadcast_to(coef[DEGREE, d], shape) for d in range(L))
    e = list(jax.lax.fori_loop(0, DEGREE, horner, init))
    j = whole & jnp.int32(63)
    two = jnp.asarray(tab["two"])
    t_j = [jnp.take(two[:, d], j, mode="clip") for d in range(L)]
    return whole >> 6, mul(t_j, e)
