"""Training: the learner, its loop and schedules, the learning-rate finder and checkpoints.

A sibling of `ktbert.serve` on top of evaluate, saving, data and model: it never imports the
serving room (it saves through `ktbert.saving`). The training recipe is `ktbert.recipe`.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Learner": "ktbert.train.learner:Learner",
    "get_learner": "ktbert.train.learner:get_learner",
})
