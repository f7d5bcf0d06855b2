"""The learning-rate range test: a fixed number of steps at exponentially growing rates.

The loss of every step is smoothed (exponential moving average, bias-corrected); the run stops
once the smoothed loss exceeds `stop_factor` times its minimum or turns NaN. The caller restores
the model afterwards (see `Learner.lr_find`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras

from ktbert.train import distribute
from ktbert.train.lr_suggestions import SUGGESTIONS
from ktbert.train.schedules import exponential_rates


@dataclass
class LRFindResult:
    """What one `lr_find` run measured.

    Args:
        lrs: list of float. the rate of every step run.
        losses: list of float. the raw loss of every step.
        smoothed: list of float. the bias-corrected moving average of the losses.
        stop_reason: str. why it stopped: "completed", "diverged" or "nan".
        suggestions: dict. name -> suggested rate (see `ktbert.train.lr_suggestions`).
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


class RangeTest(keras.callbacks.Callback):
    """Records every step's own loss at its rate and stops the run on divergence.

    Keras' `logs["loss"]` is a running mean over the epoch; resetting the model's metrics
    before each step makes it the step's own loss.
    """

    def __init__(self, rates, stop_factor: float, beta: float, verbose: int):
        super().__init__()
        self.rates = rates
        self.stop_factor = stop_factor
        self.smoother = Smoother(beta)
        self.bar = keras.utils.Progbar(len(rates), unit_name="step") if verbose else None
        self.lrs, self.losses, self.smoothed = [], [], []
        self.best, self.reason = math.inf, "completed"

    def on_train_batch_begin(self, batch, logs=None):
        for metric in self.model.metrics:
            metric.reset_state()
        self.model.optimizer.learning_rate = self.rates[batch]

    def on_train_batch_end(self, batch, logs=None):
        loss = float(logs["loss"])
        value = self.smoother.update(loss)
        self.lrs.append(self.rates[batch])
        self.losses.append(loss)
        self.smoothed.append(value)
        if self.bar is not None:
            self.bar.update(batch + 1, [("lr", self.rates[batch]), ("loss", value)])
        if math.isnan(value):
            self.reason = "nan"
        else:
            self.best = min(self.best, value)
            if value > self.stop_factor * self.best:
                self.reason = "diverged"
        if self.reason != "completed":
            self.model.stop_training = True


def run_range_test(model, dataset, start_lr: float, end_lr: float, num_it: int,
                   stop_factor: float = 4.0, beta: float = 0.98, verbose: int = 1,
                   strategy=None, loop: str = "auto") -> LRFindResult:
    """Trains `model` one batch per rate and records the losses; does not restore the model.

    Args:
        model: keras.Model. compiled.
        dataset: tf.data.Dataset of `(x, y)` batches; repeated as needed.
        start_lr, end_lr: float. the first and last rate.
        num_it: int. steps at most.
        stop_factor: float. stop when the smoothed loss exceeds this times its minimum.
        beta: float. smoothing factor.
        verbose: int. 1 shows a progress bar.
        strategy: tf.distribute.Strategy or None. the strategy the model was built under.
        loop: str. which training loop runs under `strategy` (`ktbert.train.distribute.fit`).
    """
    test = RangeTest(exponential_rates(start_lr, end_lr, num_it), stop_factor, beta, verbose)
    distribute.fit(model, dataset.repeat(), strategy, loop, steps_per_epoch=num_it, epochs=1, callbacks=[test],
                   verbose=0)
    if test.bar is not None and test.reason != "completed":
        why = "became NaN" if test.reason == "nan" else f"exceeded {stop_factor:g} x its minimum"
        print(f"\nstopped after {len(test.lrs)} steps: the smoothed loss {why}")
    result = LRFindResult(test.lrs, test.losses, test.smoothed, test.reason)
    finite = [(lr, v) for lr, v in zip(test.lrs, test.smoothed) if math.isfinite(v)]
    if finite:
        result.suggestions = suggest([f[0] for f in finite], [f[1] for f in finite])
    return result


__all__ = ["LRFindResult", "RangeTest", "run_range_test", "smooth", "suggest"]
