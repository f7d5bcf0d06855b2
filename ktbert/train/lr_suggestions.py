"""Learning rates suggested from a learning-rate finder's curve.

Every function takes the rates and the smoothed losses of one `lr_find` run (same length,
rates increasing) and returns one learning rate; `SUGGESTIONS` names them all.
"""

from __future__ import annotations

import numpy as np


def minimum(lrs, losses) -> float:
    """A tenth of the rate at the lowest loss: the last rate before the loss climbs, made safe."""
    return float(np.asarray(lrs)[int(np.argmin(losses))] / 10)


def steep(lrs, losses) -> float:
    """The rate where the loss falls fastest against log(rate)."""
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    slopes = np.gradient(losses, np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def valley(lrs, losses) -> float:
    """A rate two thirds of the way down the longest stretch of falling loss.

    The stretch is the longest decreasing subsequence of the losses; its first and last points
    bound the valley, and the rate two thirds of the way from the first to the last is
    returned: far enough down to learn fast, short of the bottom where the loss turns.
    """
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    run = np.ones(n, dtype=int)
    for i in range(1, n):
        earlier = losses[:i] > losses[i]
        if earlier.any():
            run[i] = run[:i][earlier].max() + 1
    end = int(np.argmax(run))
    start = end - int(run[end]) + 1
    index = start + (end - start) * 2 // 3
    return float(np.asarray(lrs)[index])


SUGGESTIONS = {"valley": valley, "steep": steep, "minimum": minimum}
