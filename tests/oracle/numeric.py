"""Numeric comparisons shared by the oracle tests."""
from __future__ import annotations

import numpy as np


def rel_l2(a, b) -> float:
    """‖a − b‖ / ‖b‖ in float64 (b all zero: ‖a − b‖ / 1e-30)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
