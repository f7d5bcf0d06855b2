"""When a predictor predicts with its fused feed-forward weights frozen into the step's graph
(`ktbert.model.frozen`): freezing costs about half a second, once, so it waits until it pays."""

from __future__ import annotations

import numpy as np

FREEZE_MIN_TOKENS = 65_536  # tokens predicted from which freezing the weights has paid for itself


class FreezePolicy:
    """Decides, call by call, whether a predictor freezes its weights.

    Args:
        enabled: bool. the predictor's `freeze_weights`.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.ready = False  # set by `warm_up`, or once enough tokens were predicted to pay for it
        self.tokens_seen = 0

    def frozen(self, model, x) -> bool:
        """Whether to predict the tokenized texts `x` with frozen weights: when enabled (until
        something compiles `model` to train it; then it reads its variables again), once
        `warm_up` ran or the calls, this one included, held `FREEZE_MIN_TOKENS` tokens in all
        (a few short calls would not earn the freezing back; a long run of them, as `ktbert
        predict` makes chunk by chunk, does)."""
        if not self.enabled or getattr(model, "optimizer", None) is not None:
            return False
        self.tokens_seen += int(np.sum(x.lengths))
        self.ready = self.ready or self.tokens_seen >= FREEZE_MIN_TOKENS
        return self.ready

    def warm_up(self) -> None:
        """Freezes from the next call on, when enabled."""
        self.ready = self.enabled
