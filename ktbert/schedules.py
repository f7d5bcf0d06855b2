"""Learning-rate schedules as small pure functions of training progress.

Each `*_schedule` takes the step count of a run and returns a function of the step index
(0-based) giving the learning rate for that step; policies are compositions of the annealing
functions below over progress `pos` in [0, 1].
"""

from __future__ import annotations

import math


def annealing_cos(start: float, end: float, pos: float) -> float:
    """Cosine from `start` (pos=0) to `end` (pos=1)."""
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pos))


def annealing_linear(start: float, end: float, pos: float) -> float:
    """Straight line from `start` (pos=0) to `end` (pos=1)."""
    return start + (end - start) * pos


def constant_schedule(lr: float):
    """The same rate at every step."""
    return lambda step: float(lr)


def one_cycle_schedule(lr_max: float, total_steps: int, pct_start: float = 0.25,
                       div: float = 25.0, div_final: float = 1e5):
    """One-cycle policy (Smith 2018, in fastai's cosine form).

    For step `i` of `n`, with `pos = i / (n - 1)` and `w = pct_start`:
    - warm-up, `pos < w`: `lr = cos_anneal(lr_max / div, lr_max, pos / w)`;
    - annealing, `pos >= w`: `lr = cos_anneal(lr_max, lr_max / div_final, (pos - w) / (1 - w))`;
    where `cos_anneal(a, b, p) = b + (a - b) / 2 * (1 + cos(pi * p))`. The first step runs at
    `lr_max / div` and the last at `lr_max / div_final`.

    Args:
        lr_max: float. the peak learning rate.
        total_steps: int. the steps of the whole run.
        pct_start: float. the share of steps spent warming up, in [0, 1).
        div: float. the first rate is `lr_max / div`.
        div_final: float. the last rate is `lr_max / div_final`.
    """
    if not 0.0 <= pct_start < 1.0:
        raise ValueError(f"`pct_start` must be in [0, 1). Received: pct_start={pct_start}")
    if total_steps < 1:
        raise ValueError(f"`total_steps` must be at least 1. Received: total_steps={total_steps}")
    last = max(total_steps - 1, 1)

    def schedule(step: int) -> float:
        pos = step / last
        if pos < pct_start:
            return annealing_cos(lr_max / div, lr_max, pos / pct_start)
        return annealing_cos(lr_max, lr_max / div_final, (pos - pct_start) / (1 - pct_start))

    return schedule
