"""Comparing clrp's last-position logits with a transformers model, prompt by prompt."""
from __future__ import annotations

import numpy as np
import torch


def compare_last_position(ref, id_lists, got: np.ndarray) -> tuple[float, list[int]]:
    """Max |clrp − transformers| over all prompts' last-position logits, and the prompts whose
    top-1 differs. `got` holds clrp's logits, one row per prompt."""
    worst, mismatched = 0.0, []
    for i, seq in enumerate(id_lists):
        with torch.no_grad():
            want = ref(torch.tensor([seq]), logits_to_keep=1).logits[0, -1].float().numpy()
        worst = max(worst, float(np.abs(got[i] - want).max()))
        if int(got[i].argmax()) != int(want.argmax()):
            mismatched.append(i)
    return worst, mismatched
