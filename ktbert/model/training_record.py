"""What a classifier carries from its training beside its weights: seeds and decisions.

One documented field, `TextClassifier.training_record`, instead of loose attributes: the
learner writes its shuffle seed and decisions there, so `get_predictor(learner.model, preproc)`
finds what `get_predictor(learner, preproc)` finds, and a save records how the model was made.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class TrainingRecord:
    """A classifier's seeds and decisions.

    Args:
        seed: int or None. the seed the classifier was built with (`text_classifier(seed=)`);
            the learner shuffles with it unless given its own. Saved as `training.seed`.
        shuffle_seed: int or None. the seed the learner shuffled with. Saved as
            `training.shuffle_seed`.
        decisions: Decisions or None. the learner's temperature and thresholds
            (`ktbert.evaluate.decisions.Decisions`), which a predictor made from the model
            takes over; None until a learner holds the model.

    Examples:
    ```python
    model = ktbert.text_classifier("bert", trn, preproc, seed=0)
    model.training_record.seed  # 0
    ```
    """

    seed: int | None = None
    shuffle_seed: int | None = None
    decisions: object = None

    def training_config(self) -> dict:
        """The seeds, as a save's manifest holds them under `training`."""
        return {"seed": self.seed, "shuffle_seed": self.shuffle_seed}
