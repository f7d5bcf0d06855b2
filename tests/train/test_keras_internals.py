"""The two private Keras attributes ktbert reads, in `recompile_with_fresh_optimizer` only.

If a Keras upgrade renames them, these tests fail first and name what to mend, instead of
freezing silently losing the compile arguments or the weight-decay exclusions.
"""

import keras
import pytest

from ktbert.model.compiling import NO_DECAY
from ktbert.train.hyperparameters import recompile_with_fresh_optimizer


def test_keras_keeps_the_compile_arguments_where_ktbert_reads_them(learner):
    config = learner.model._compile_config.config
    assert set(config) >= {"optimizer", "loss", "metrics"}


def test_keras_keeps_the_weight_decay_exclusions_where_ktbert_reads_them(learner):
    pattern = learner.model.optimizer._exclude_from_weight_decay_pattern
    assert all(name in pattern.pattern for name in NO_DECAY)


def test_recompiling_keeps_loss_metrics_settings_and_exclusions(learner):
    learner.set_weight_decay(0.02)
    old = learner.model.optimizer
    recompile_with_fresh_optimizer(learner.model)
    new = learner.model.optimizer
    assert new is not old and isinstance(new, keras.optimizers.AdamW)
    assert float(keras.ops.convert_to_numpy(new.weight_decay)) == pytest.approx(0.02)
    assert new._exclude_from_weight_decay_pattern.pattern == old._exclude_from_weight_decay_pattern.pattern
    assert learner.model._compile_config.config["loss"] is not None
    history = learner.fit(1e-3, 1, verbose=0)
    assert {"accuracy", "macro_f1", "val_macro_f1"} <= set(history.history)
