"""The recipe's training step: the learner's fit method that `TrainingSettings.schedule` names,
called with the settings' epochs, early stopping and class weights.

The schedules are the learner's own (`ktbert.train.fitting`); this module only picks one.
"""

from __future__ import annotations

# "onecycle": `fit_onecycle`; "autofit": ktrain's triangular policy (`autofit`); "constant": `fit`
# at one rate; "sgdr": `fit` with `cycle_len=1`, a cosine from the peak down to 0 every epoch.
SCHEDULES = ("onecycle", "autofit", "constant", "sgdr")
# One-cycle plans its rate over every epoch asked for, so it neither stops early nor lowers its peak.
STOPPING_SCHEDULES = ("autofit", "constant", "sgdr")


def fit_learner(learner, settings, lr: float):
    """Trains `learner` at the peak rate `lr` with the schedule and extras `settings` name.

    Args:
        learner: Learner. the recipe's learner.
        settings: TrainingSettings. `schedule`, `epochs`, `early_stopping`, `monitor`,
            `reduce_on_plateau`, `class_weight`, `verbose`, `checkpoint_folder`,
            `checkpoint_every` and `resume` are read.
        lr: float. the peak learning rate.

    Returns:
        keras.callbacks.History, as the fit method returns it.
    """
    s = settings
    common = {"class_weight": s.class_weight, "verbose": s.verbose, "checkpoint_folder": s.checkpoint_folder,
              "checkpoint_every": s.checkpoint_every, "resume": s.resume}
    if s.schedule == "onecycle":
        return learner.fit_onecycle(lr, s.epochs, **common)
    stopping = {"early_stopping": s.early_stopping, "monitor": s.monitor}
    if s.schedule == "autofit":
        return learner.autofit(lr, s.epochs, reduce_on_plateau=s.reduce_on_plateau, **stopping, **common)
    return learner.fit(lr, s.epochs, cycle_len=1 if s.schedule == "sgdr" else None, **stopping, **common)
