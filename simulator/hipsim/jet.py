"""Functions of time carried with their exact first and second time derivatives.

A :class:`Jet` holds samples of ``f(t)``, ``df/dt`` and ``d2f/dt2`` at the same instants.
Arithmetic and ``sin``/``cos`` apply the product and chain rules, so any smooth expression
built from keyframe tracks gives exact velocities and accelerations without finite
differences (second-order forward-mode differentiation).
"""

from __future__ import annotations

import numpy as np

from hipsense.types import FloatArray


class Jet:
    """Samples of a scalar function of time and of its first two derivatives.

    Parameters
    ----------
    value : (N,) function values (any unit ``u``).
    d1 : (N,) first derivative, ``u/s``.
    d2 : (N,) second derivative, ``u/s^2``.
    """

    __slots__ = ("d1", "d2", "value")

    def __init__(self, value: FloatArray, d1: FloatArray, d2: FloatArray) -> None:
        self.value = value
        self.d1 = d1
        self.d2 = d2

    @classmethod
    def constant(cls, value: float, n: int) -> Jet:
        """A constant function sampled ``n`` times (zero derivatives)."""
        return cls(np.full(n, float(value)), np.zeros(n), np.zeros(n))

    def __add__(self, other: Jet | float) -> Jet:
        if isinstance(other, Jet):
            return Jet(self.value + other.value, self.d1 + other.d1, self.d2 + other.d2)
        return Jet(self.value + other, self.d1, self.d2)

    __radd__ = __add__

    def __neg__(self) -> Jet:
        return Jet(-self.value, -self.d1, -self.d2)

    def __sub__(self, other: Jet | float) -> Jet:
        return self + (-other)

    def __rsub__(self, other: float) -> Jet:
        return (-self) + other

    def __mul__(self, other: Jet | float) -> Jet:
        if isinstance(other, Jet):
            return Jet(
                self.value * other.value,
                self.d1 * other.value + self.value * other.d1,
                self.d2 * other.value + 2.0 * self.d1 * other.d1 + self.value * other.d2,
            )
        return Jet(self.value * other, self.d1 * other, self.d2 * other)

    __rmul__ = __mul__

    def slice(self, start: int, stop: int) -> Jet:
        """Samples ``start:stop`` (views)."""
        return Jet(self.value[start:stop], self.d1[start:stop], self.d2[start:stop])

    def add_at(self, start: int, other: Jet) -> None:
        """Add ``other`` in place to samples ``start:start + len(other)``."""
        stop = start + len(other.value)
        self.value[start:stop] += other.value
        self.d1[start:stop] += other.d1
        self.d2[start:stop] += other.d2


def jet_sin(x: Jet) -> Jet:
    """``sin`` of a jet (chain rule up to the second derivative)."""
    s, c = np.sin(x.value), np.cos(x.value)
    return Jet(s, c * x.d1, c * x.d2 - s * x.d1**2)


def jet_cos(x: Jet) -> Jet:
    """``cos`` of a jet (chain rule up to the second derivative)."""
    s, c = np.sin(x.value), np.cos(x.value)
    return Jet(c, -s * x.d1, -s * x.d2 - c * x.d1**2)
