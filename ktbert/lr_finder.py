"""The learning-rate range test: a fixed number of steps at exponentially growing rates.

The loss of every step is smoothed (exponential moving average, bias-corrected); the run stops
once the smoothed loss exceeds `stop_factor` times its minimum or turns NaN. The caller restores
the model afterwards (see `Learner.lr_find`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras

from ktbert.lr_suggestions import SUGGESTIONS
from ktbert.schedules import exponential_rates


@dataclass
class LRFindResult:
    """What one `lr_find` run measured.

    Args:
        lrs: list of float. the rate of every step run.
        losses: list of float. the raw loss of every step.
        smoothed: list of float. the bias-corrected moving average of the losses.
        stop_reason: str. why it stopped: "completed", "diverged" or "nan".
        suggestions: dict. name -> suggested rate (see `ktbert.lr_suggestions`).
    """

    lrs: list
    losses: list
    smoothed: list
    stop_reason: str
    suggestions: dict = field(default_factory=dict)


class Smoother:
    """`avg_i = beta * avg_{i-1} + (1 - beta) * loss_i`, reported as `avg_i / (1 - beta**(i+1))`."""

    def __init__(self, beta: float = 0.98):
        self.beta, self.avg, self.count = beta, 0.0, 0

    def update(self, loss: float) -> float:
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        return self.avg / (1 - self.beta**self.count)


def smooth(losses, beta: float = 0.98) -> list:
    """The smoothed curve of a list of losses."""
    smoother = Smoother(beta)
    return [smoother.update(loss) for loss in losses]


def suggest(lrs, smoothed) -> dict:
    """Every suggestion function applied to a run's curve; {} when there are too few points."""
    if len(lrs) < 3:
        return {}
    return {name: fn(lrs, smoothed) for name, fn in SUGGESTIONS.items()}


def run_range_test(model, batches, start_lr: float, end_lr: float, num_it: int,
                   stop_factor: float = 4.0, beta: float = 0.98, verbose: int = 1) -> LRFindResult:
    """Trains `model` one batch per rate and records the losses; does not restore the model.

    Args:
        model: keras.Model. compiled.
        batches: iterator of `(x, y)` batches (repeats as needed).
        start_lr, end_lr: float. the first and last rate.
        num_it: int. steps at most.
        stop_factor: float. stop when the smoothed loss exceeds this times its minimum.
        beta: float. smoothing factor.
        verbose: int. 1 shows a progress bar.
    """
    rates = exponential_rates(start_lr, end_lr, num_it)
    bar = keras.utils.Progbar(num_it, unit_name="step") if verbose else None
    lrs, losses, smoothed = [], [], []
    smoother, best, reason = Smoother(beta), math.inf, "completed"
    for i, lr in enumerate(rates):
        x, y = next(batches)
        model.optimizer.learning_rate = lr
        loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        lrs.append(lr)
        losses.append(loss)
        value = smoother.update(loss)
        smoothed.append(value)
        if bar is not None:
            bar.update(i + 1, [("lr", lr), ("loss", value)])
        if math.isnan(value):
            reason = "nan"
            break
        best = min(best, value)
        if value > stop_factor * best:
            reason = "diverged"
            break
    if bar is not None and reason != "completed":
        print(f"\nstopped after {len(lrs)} steps: the smoothed loss "
              f"{'became NaN' if reason == 'nan' else f'exceeded {stop_factor:g} x its minimum'}")
    finite = [(lr, s) for lr, s in zip(lrs, smoothed) if math.isfinite(s)]
    result = LRFindResult(lrs, losses, smoothed, reason)
    if finite:
        result.suggestions = suggest([f[0] for f in finite], [f[1] for f in finite])
    return result


def batch_iterator(dataset):
    """Endless `(x, y)` numpy batches from a finite `tf.data` dataset."""
    return iter(dataset.repeat().as_numpy_iterator())


__all__ = ["LRFindResult", "run_range_test", "smooth", "suggest", "batch_iterator"]
