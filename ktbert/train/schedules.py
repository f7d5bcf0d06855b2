"""Learning-rate schedules as small pure functions of training progress.

Each `*_schedule` takes the step count of a run and returns a function of the step index
(0-based) giving the learning rate for that step; policies are compositions of the annealing
functions below over progress `pos` in [0, 1]. Progress is clamped: a step past the planned
last one gets the last step's value, so a run that iterates more batches than planned never
climbs again. The triangular policy repeats every epoch by design and needs no end.
"""

from __future__ import annotations

import math


def annealing_cos(start: float, end: float, pos: float) -> float:
    """Cosine from `start` (pos=0) to `end` (pos=1), both ends returned exactly."""
    weight = (1 + math.cos(math.pi * pos)) / 2  # of `start`: 1 at pos=0, 0 at pos=1
    return start if weight == 1 else end + (start - end) * weight


def combined_cos(pct: float, start: float, middle: float, end: float):
    """Cosine from `start` to `middle` over the first `pct` of progress, then to `end`.

    Returns a function of `pos` in [0, 1]; one-cycle's rate and momentum are both this shape.
    """

    def at(pos: float) -> float:
        if pos < pct:
            return annealing_cos(start, middle, pos / pct)
        return annealing_cos(middle, end, (pos - pct) / (1 - pct))

    return at


def progress(step: int, total_steps: int) -> float:
    """`step / (total_steps - 1)` in [0, 1]; a step past the planned last one counts as the last."""
    last = max(total_steps - 1, 0)
    return min(max(step, 0), last) / max(last, 1)


def constant_schedule(lr: float):
    """The same rate at every step."""
    return lambda step: float(lr)


def warmup_share(pct_start: float, total_steps: int) -> float:
    """`pct_start` moved to the nearest step, so one step sits exactly at the peak.

    The warm-up ends at step `w = floor(pct_start * (n - 1) + 0.5)` (at most `n - 2`), and
    the share is `w / (n - 1)`; ktrain's one-cycle also reaches its peak rate exactly.
    """
    if not 0.0 <= pct_start < 1.0:
        raise ValueError(f"`pct_start` must be in [0, 1). Received: pct_start={pct_start}")
    if total_steps < 1:
        raise ValueError(f"`total_steps` must be at least 1. Received: total_steps={total_steps}")
    if total_steps < 3:
        return 0.0
    last = total_steps - 1
    return min(math.floor(pct_start * last + 0.5), last - 1) / last


def one_cycle_schedule(lr_max: float, total_steps: int, pct_start: float = 0.25,
                       div: float = 25.0, div_final: float = 1e5):
    """One-cycle policy (Smith 2018, in fastai's cosine form).

    For step `i` of `n`, with `pos = i / (n - 1)` and `w = warmup_share(pct_start, n)`
    (`pct_start` moved to the nearest step):
    - warm-up, `pos < w`: `lr = cos_anneal(lr_max / div, lr_max, pos / w)`;
    - annealing, `pos >= w`: `lr = cos_anneal(lr_max, lr_max / div_final, (pos - w) / (1 - w))`;
    where `cos_anneal(a, b, p) = b + (a - b) * (1 + cos(pi * p)) / 2`. The first step runs at
    `lr_max / div`, step `w * (n - 1)` at exactly `lr_max`, the last at `lr_max / div_final`;
    `pos` is clamped to [0, 1], so steps past the planned last one keep its rate.

    Args:
        lr_max: float. the peak learning rate.
        total_steps: int. the steps of the whole run.
        pct_start: float. the share of steps spent warming up, in [0, 1).
        div: float. the first rate is `lr_max / div`.
        div_final: float. the last rate is `lr_max / div_final`.
    """
    at = combined_cos(warmup_share(pct_start, total_steps), lr_max / div, lr_max, lr_max / div_final)
    return lambda step: at(progress(step, total_steps))


def one_cycle_momentum(total_steps: int, pct_start: float = 0.25, moms=(0.95, 0.85, 0.95)):
    """Momentum (Adam's `beta_1`) for the one-cycle policy, moving against the rate.

    Falls from `moms[0]` to `moms[1]` along a half cosine while the rate warms up, then rises
    to `moms[2]` while it anneals; same `pos` and phases as `one_cycle_schedule`.
    """
    at = combined_cos(warmup_share(pct_start, total_steps), *moms)
    return lambda step: at(progress(step, total_steps))


def triangular(step: int, base: float, peak: float, half_cycle: int) -> float:
    """Smith's triangular cyclical value: `base` at the start of every cycle, `peak` half-way.

    With `cycle = floor(1 + step / (2 * half_cycle))` and
    `x = |step / half_cycle - 2 * cycle + 1|`, the value is `base + (peak - base) * max(0, 1 - x)`.
    """
    cycle = math.floor(1 + step / (2 * half_cycle))
    x = abs(step / half_cycle - 2 * cycle + 1)
    return base + (peak - base) * max(0.0, 1 - x)


def sgdr_schedule(lr_max: float, steps_per_epoch: int, n_cycles: int, cycle_len: int = 1,
                  cycle_mult: int = 1, lr_decay: float = 1.0, lr_min: float = 0.0):
    """SGDR: cosine annealing with warm restarts (Loshchilov & Hutter, 2017).

    Cycle `c` (0-based) lasts `cycle_len * cycle_mult**c` epochs and starts at
    `lr_max * lr_decay**c`; within it, at step `t` of `T` steps,
    `lr = lr_min + (peak - lr_min) / 2 * (1 + cos(pi * t / T))`.

    Returns:
        `(schedule, epochs)`: the step function and the total number of epochs.
    """
    bounds, start = [], 0
    for c in range(n_cycles):
        length = cycle_len * cycle_mult**c * steps_per_epoch
        bounds.append((start, length, lr_max * lr_decay**c))
        start += length
    epochs = sum(cycle_len * cycle_mult**c for c in range(n_cycles))

    def schedule(step: int) -> float:
        step = min(max(step, 0), start - 1)  # past the planned last step, keep its rate
        for first, length, peak in bounds:
            if step < first + length:
                return lr_min + (peak - lr_min) / 2 * (1 + math.cos(math.pi * (step - first) / length))

    return schedule, epochs


def exponential_rates(start_lr: float, end_lr: float, num_it: int):
    """The learning-rate finder's rates: `start_lr * (end_lr / start_lr) ** (i / (num_it - 1))`."""
    if not 0 < start_lr < end_lr:
        raise ValueError(
            f"`start_lr` must be positive and below `end_lr`. Received: start_lr={start_lr}, end_lr={end_lr}"
        )
    if num_it < 2:
        raise ValueError(f"`num_it` must be at least 2. Received: num_it={num_it}")
    return [start_lr * (end_lr / start_lr) ** (i / (num_it - 1)) for i in range(num_it)]
