"""When a predictor predicts with its fused feed-forward weights frozen into the step's graph
(`ktbert.model.frozen`): freezing costs about half a second, once, so it waits until it pays,
unless the predictor's int8 products (`ktbert.model.int8`) need it from the first call."""

from __future__ import annotations

import numpy as np

FREEZE_MIN_TOKENS = 65_536  # tokens predicted from which freezing the weights has paid for itself


def check_freezing(enabled: bool, required: bool) -> None:
    """Refuses int8 products (`required`) without frozen weights (`enabled`)."""
    if required and not enabled:
        raise ValueError('quantize="int8" predicts from the weights frozen into the prediction step: it needs '
                         "`freeze_weights=True`, for a model nothing trains any more (`Predictor.load` sets it). "
                         "Received: freeze_weights=False")


class FreezePolicy:
    """Decides, call by call, whether a predictor freezes its weights.

    Args:
        enabled: bool. the predictor's `freeze_weights`.
        required: bool. freeze from the first call, and refuse a model compiled for training
            (a predictor with `quantize="int8"`: its int8 products exist only in a frozen step).
        model: the predictor's model, refused now if `required` and compiled for training.
    """

    def __init__(self, enabled: bool, required: bool = False, model=None):
        check_freezing(enabled, required)
        self.enabled = enabled
        self.required = required
        self.ready = required  # else set by `warm_up`, or once enough tokens were predicted to pay for it
        self.tokens_seen = 0
        self.refuse_training(model)

    def refuse_training(self, model) -> None:
        """Refuses a model compiled for training when freezing is required."""
        if self.required and getattr(model, "optimizer", None) is not None:
            raise ValueError('quantize="int8" predicts from a snapshot of the weights, and this model is compiled '
                             "for training, so they may still change: save the predictor and load it with "
                             '`ktbert.Predictor.load(folder, quantize="int8")`.')

    def frozen(self, model, x) -> bool:
        """Whether to predict the tokenized texts `x` with frozen weights: when enabled (until
        something compiles `model` to train it; then it reads its variables again), once
        `warm_up` ran or the calls, this one included, held `FREEZE_MIN_TOKENS` tokens in all
        (a few short calls would not earn the freezing back; a long run of them, as `ktbert
        predict` makes chunk by chunk, does)."""
        self.refuse_training(model)
        if not self.enabled or getattr(model, "optimizer", None) is not None:
            return False
        self.tokens_seen += int(np.sum(x.lengths))
        self.ready = self.ready or self.tokens_seen >= FREEZE_MIN_TOKENS
        return self.ready

    def warm_up(self) -> None:
        """Freezes from the next call on, when enabled."""
        self.ready = self.enabled
