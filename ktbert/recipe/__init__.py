"""The training recipe: load, build, train, decide, score and save in one call.

The top room: it trains with `ktbert.train` and ships with `ktbert.serve`, which never import
each other; the command line's `ktbert train` runs it.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "TrainingRun": "ktbert.recipe.training_run:TrainingRun",
    "TrainingSettings": "ktbert.recipe.settings:TrainingSettings",
    "build_learner": "ktbert.recipe.training_run:build_learner",
    "train_classifier": "ktbert.recipe.training_run:train_classifier",
})
