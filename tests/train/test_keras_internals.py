"""Every private Keras attribute ktbert reads, in `ktbert.model.keras_internals` only.

If a Keras upgrade renames one, these tests fail first and name what to mend, instead of
freezing silently losing the compile arguments or the weight-decay exclusions, the first step
tracing twice, or a run under a strategy drawing an extra batch.
"""

import ast
import inspect
import os

import keras
import numpy as np
import pytest

from helpers import PROJECT
from ktbert.model.compiling import NO_DECAY
from ktbert.model import keras_internals
from ktbert.train.hyperparameters import recompile_with_fresh_optimizer


def private_reads(path: str) -> list:
    """`(line, name)` of every `x._name` (not on self or cls) and `getattr(x, "_name")` in a module."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append((node.lineno, node.attr))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr")
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_") and not str(node.args[1].value).startswith("__")):
            found.append((node.lineno, node.args[1].value))
    return found


def test_no_module_but_keras_internals_reads_a_private_attribute():
    package = os.path.join(PROJECT, "ktbert")
    reads = {}
    for root, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                if private_reads(path):
                    reads[os.path.relpath(path, package)] = private_reads(path)
    assert list(reads) == [os.path.join("model", "keras_internals.py")]
    names = {name for _, name in reads[os.path.join("model", "keras_internals.py")]}
    assert names == {"_compile_config", "_distribute_strategy", "_exclude_from_weight_decay_pattern", "_symbolic_build",
                     "_apply_weight_decay", "_flatten_layers", "_built", "_build", "_use_weight_decay",
                     "_compute_attention", "_apply_op_helper"}


def test_keras_keeps_the_weight_decay_hook_ktbert_extends():
    """`ktbert.model.optimizer.AdamW` overrides `_apply_weight_decay` (to skip a decay of 0): a
    Keras that renamed the hook would call its own decay and never ktbert's."""
    assert callable(getattr(keras.optimizers.AdamW, "_apply_weight_decay", None))
    variable = keras.Variable(np.full((2,), 4.0, "float32"))
    optimizer = keras.optimizers.AdamW(learning_rate=0.5, weight_decay=0.25)
    optimizer.build([variable])
    keras_internals.keras_weight_decay(optimizer, [variable])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [3.5, 3.5])  # 4 - 4 * 0.25 * 0.5


def test_keras_keeps_the_compile_arguments_where_ktbert_reads_them(learner):
    assert set(keras_internals.compile_arguments(learner.model)) >= {"optimizer", "loss", "metrics"}


def test_keras_keeps_the_weight_decay_exclusions_where_ktbert_reads_them(learner):
    pattern = keras_internals.weight_decay_exclusions(learner.model.optimizer)
    assert pattern is not None and all(name in pattern.pattern for name in NO_DECAY)
    assert keras_internals.weight_decay_exclusions(keras.optimizers.AdamW()) is None


def test_keras_tells_which_variables_its_weight_decay_spares(learner):
    """`uses_weight_decay` asks `optimizer._use_weight_decay`, the test Keras' decay step applies."""
    optimizer = learner.model.optimizer
    spared = {v.path: not keras_internals.uses_weight_decay(optimizer, v) for v in learner.model.weights}
    assert spared["classifier/kernel"] is False and spared["classifier/bias"] is True
    assert all(spared[path] for path in spared if path.endswith(("/gamma", "/beta", "/embeddings")))
    plain = keras.optimizers.AdamW(weight_decay=0.1)  # no exclusions: every variable decays
    assert keras_internals.uses_weight_decay(plain, learner.model.get_layer("classifier").bias)


def test_keras_builds_the_optimizer_and_metrics_from_an_element_spec(make_toy_split, make_learner):
    learner = make_learner(make_toy_split(seed=5), batch_size=8)
    model = learner.model
    assert not model.optimizer.built
    assert hasattr(model, "_symbolic_build"), "Keras renamed Model._symbolic_build: mend keras_internals.build_from_spec"
    keras_internals.build_from_spec(model, learner._epoch_dataset()[0].element_spec)
    assert model.optimizer.built and len(model.optimizer.variables) > 1


def test_keras_keeps_the_models_own_strategy_where_ktbert_clears_it(learner):
    before = learner.model._distribute_strategy
    with keras_internals.without_own_strategy(learner.model):
        assert learner.model._distribute_strategy is None
    assert learner.model._distribute_strategy is before


def test_recompiling_keeps_loss_metrics_settings_and_exclusions(learner):
    learner.set_weight_decay(0.02)
    old = learner.model.optimizer
    recompile_with_fresh_optimizer(learner.model)
    new = learner.model.optimizer
    assert new is not old and isinstance(new, keras.optimizers.AdamW)
    assert float(keras.ops.convert_to_numpy(new.weight_decay)) == pytest.approx(0.02)
    assert (keras_internals.weight_decay_exclusions(new).pattern
            == keras_internals.weight_decay_exclusions(old).pattern)
    assert keras_internals.compile_arguments(learner.model)["loss"] is not None
    history = learner.fit(1e-3, 1, verbose=0)
    assert {"accuracy", "val_macro_f1"} <= set(history.history) and "macro_f1" not in history.history


def test_keras_keeps_the_layer_walk_and_the_f1_counters_ktbert_reads():
    """`nested_layers` walks with `Layer._flatten_layers`; `build_f1_counters` creates an
    F1Score's counters with `FBetaScore._build`; `GeluDense` relies on Keras passing `training`
    to `Dense.call` (it computes as Keras does while training)."""
    inner = keras.layers.Dense(2, name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner])
    assert inner in keras_internals.nested_layers(outer) and outer not in keras_internals.nested_layers(outer)
    metric = keras.metrics.F1Score(average=None)
    keras_internals.build_f1_counters(metric, 4)
    assert tuple(metric.true_positives.shape) == (4,) and float(keras.ops.sum(metric.result())) == 0.0
    keras_internals.build_f1_counters(metric, 4)  # built once
    assert len(metric.variables) == 4
    assert "training" in inspect.signature(keras.layers.Dense.call).parameters


def test_tensorflow_builds_an_op_by_its_name_and_refuses_one_it_lacks():
    # `graph_op` builds ops with no Python wrapper (oneDNN's fused int8 product, ktbert.model.int8)
    import tensorflow as tf

    step = tf.function(lambda a, b: keras_internals.graph_op("AddV2", x=a, y=b, name="add")[0])
    assert float(step(tf.constant(2.0), tf.constant(0.5))) == 2.5
    with pytest.raises(RuntimeError, match="_NoSuchOp"):
        tf.function(lambda: keras_internals.graph_op("_NoSuchOp", name="none"))()
