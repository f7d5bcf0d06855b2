"""Training: the learner, schedules, the learning-rate finder, checkpoints and the training recipe.

The top room: may import every room below it.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Learner": "ktbert.train.learner:Learner",
    "TrainingRun": "ktbert.train.recipe:TrainingRun",
    "TrainingSettings": "ktbert.train.recipe:TrainingSettings",
    "get_learner": "ktbert.train.learner:get_learner",
    "train_classifier": "ktbert.train.recipe:train_classifier",
})
