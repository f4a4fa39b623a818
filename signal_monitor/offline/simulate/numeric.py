"""Small numeric helpers of the generators: mean-reverting paths, bridges through anchors, calm tails, percentiles."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping, Sequence


def _ou(rng: random.Random, n: int, sd: float, theta: float) -> list[float]:
    """Return a stationary AR(1) path of length ``n`` with marginal sd ``sd`` and mean reversion ``theta``."""
    keep = 1.0 - theta
    step = sd * math.sqrt(1.0 - keep * keep)
    x = rng.gauss(0.0, sd)
    out = []
    for _ in range(n):
        out.append(x)
        x = keep * x + rng.gauss(0.0, step)
    return out


def _interp(xs: Sequence[float], anchors: Mapping[float, float]) -> list[float]:
    """Return the piecewise-linear interpolation of ``anchors`` (x -> y) at ``xs`` (flat outside)."""
    keys = sorted(anchors)
    out = []
    for x in xs:
        j = bisect.bisect_left(keys, x)
        if j < len(keys) and keys[j] == x:
            out.append(anchors[x])
        elif j == 0:
            out.append(anchors[keys[0]])
        elif j == len(keys):
            out.append(anchors[keys[-1]])
        else:
            x0, x1 = keys[j - 1], keys[j]
            out.append(anchors[x0] + (anchors[x1] - anchors[x0]) * (x - x0) / (x1 - x0))
    return out


def _bridged(xs: Sequence[float], anchors: Mapping[float, float], noise: Sequence[float]) -> list[float]:
    """Return interpolated anchors plus ``noise`` pinned to zero at the anchors (a bridge)."""
    base = _interp(xs, anchors)
    at = {x: n for x, n in zip(xs, noise) if x in anchors}
    pin = _interp(xs, at) if at else [0.0] * len(xs)
    return [b + n - p for b, n, p in zip(base, noise, pin)]


def _percentile(window: Sequence[float], current: float) -> float:
    return 100.0 * sum(1 for v in window if v <= current) / len(window)


def _calm(rng: random.Random, center: float, n: int, amplitude: float, sign: float = 0.0) -> list[float]:
    """Return ``n`` values around ``center`` whose deviations alternate in sign and shrink (no streaks, no new extremes).

    ``sign`` fixes the sign of the first deviation (random when 0).
    """
    if not sign:
        sign = 1.0 if rng.random() < 0.5 else -1.0
    return [center * (1.0 + sign * (-1) ** j * amplitude * 0.82**j) for j in range(n)]


def _fmt(value: float, digits: int = 2) -> str:
    text = f"{value:.{digits}f}"
    return "0.00" if text in ("-0.00", "-0.0") else text
