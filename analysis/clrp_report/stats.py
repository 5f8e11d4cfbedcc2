"""Percentile bootstrap confidence intervals and Wilson score intervals
(written here, not taken from a library, so that the tests can check them on
data with a known answer)."""
from __future__ import annotations

import numpy as np


def bootstrap_ci(values, stat=np.mean, resamples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """The `level` percentile-bootstrap interval of `stat` over `values`.

    Cases are resampled with replacement `resamples` times (one seeded generator,
    so a report is reproducible); the interval is the (1-level)/2 and
    (1+level)/2 quantiles of the resampled statistics. NaN for no values; a
    single value gives a zero-width interval.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    stats = stat(x[idx], axis=1)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def wilson_ci(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (95 % by default); NaN for n = 0.
    The same formula as the store's aggregate (src/store/evaluation_aggregate.cpp)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
