"""Optimizer hyperparameters that schedules change between steps: rate, momentum, weight decay.

Keras 3 optimizers keep `beta_1` and `weight_decay` as Python floats, which a traced training
step freezes in. `make_schedulable` swaps them for variables once, so a callback's assignment
reaches the compiled step (tests read it back step by step).
"""

from __future__ import annotations

import keras

from ktbert.model import keras_internals


def _is_variable(value) -> bool:
    return isinstance(value, keras.Variable)


def base_optimizer(optimizer):
    """The optimizer holding the hyperparameters: the one a `LossScaleOptimizer` (mixed_float16)
    wraps, else `optimizer` itself."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def make_schedulable(model) -> None:
    """Turns the optimizer's `beta_1` (Adam family) and `weight_decay` into variables."""
    optimizer = base_optimizer(model.optimizer)
    changed = False
    with model.distribute_strategy.scope():  # a tf.distribute strategy's variables are made in its scope
        if hasattr(optimizer, "beta_1") and not _is_variable(optimizer.beta_1) and not callable(optimizer.beta_1):
            optimizer.beta_1 = keras.Variable(float(optimizer.beta_1), trainable=False, name="beta_1", dtype="float32")
            changed = True
        if not _is_variable(optimizer.weight_decay):
            value = 0.0 if optimizer.weight_decay is None else float(optimizer.weight_decay)
            optimizer.weight_decay = keras.Variable(value, trainable=False, name="weight_decay", dtype="float32")
            changed = True
    if changed:
        # A step traced before the swap still holds the floats; trace it again on next use.
        model.train_function = None


def get_momentum(optimizer):
    """Adam's `beta_1` as a float, or None for optimizers without it."""
    value = getattr(base_optimizer(optimizer), "beta_1", None)
    if _is_variable(value):
        return float(keras.ops.convert_to_numpy(value))
    if isinstance(value, (int, float)):
        return float(value)
    return None  # no beta_1, or a callable one


def set_momentum(optimizer, value: float) -> None:
    base_optimizer(optimizer).beta_1.assign(value)


def get_weight_decay(optimizer) -> float:
    value = base_optimizer(optimizer).weight_decay
    if value is None:
        return 0.0
    return float(keras.ops.convert_to_numpy(value)) if _is_variable(value) else float(value)


def set_weight_decay(optimizer, value: float) -> None:
    base_optimizer(optimizer).weight_decay.assign(value)


def layer_weight_decay(optimizer, layer) -> float:
    """The decoupled weight decay `layer`'s weights get: the optimizer's where it decays one of
    them, 0.0 where it decays none (biases, LayerNorm and embeddings are spared)."""
    base = base_optimizer(optimizer)
    decayed = any(keras_internals.uses_weight_decay(base, w) for w in layer.weights)
    return get_weight_decay(optimizer) if decayed else 0.0


def plain_config(optimizer) -> dict:
    """The optimizer's config with variables read back as floats, to build a fresh copy."""
    config = optimizer.get_config()
    for key in ("beta_1", "weight_decay"):
        if key in config and _is_variable(config[key]):
            config[key] = float(keras.ops.convert_to_numpy(config[key]))
    return config


def recompile_with_fresh_optimizer(model, source=None) -> None:
    """Compiles `model` again as it was (or as `source` was), with a new optimizer of the same settings.

    Freezing changes the trainable variables, and a Keras optimizer keeps slots for the ones it
    was built with, so it must be replaced. A model rebuilt under a tf.distribute strategy
    (`ktbert.train.distribute.place_model`) is compiled as its `source` was, with new metrics of
    the same settings too, all made under the strategy's scope. The compile arguments and the
    weight-decay exclusions come from `ktbert.model.keras_internals` (Keras keeps them private).
    """
    source = model if source is None else source
    old = base_optimizer(source.optimizer)
    with model.distribute_strategy.scope():
        new = type(old).from_config(plain_config(old))
        pattern = keras_internals.weight_decay_exclusions(old)
        if pattern is not None:
            new.exclude_from_weight_decay(var_names=[pattern.pattern])
        if old is not source.optimizer:  # wrapped for mixed_float16: the new one is too
            scaler = source.optimizer
            new = type(scaler)(new, initial_scale=scaler.initial_scale,
                               dynamic_growth_steps=scaler.dynamic_growth_steps)
        config = keras_internals.compile_arguments(source)
        config["optimizer"] = new
        if source is not model:  # metrics hold variables: the source's belong to the source
            for key in ("metrics", "weighted_metrics"):
                config[key] = keras.tree.map_structure(_fresh_metric, config.get(key))
        model.compile(**config)
    make_schedulable(model)


def _fresh_metric(metric):
    """A new metric of `metric`'s settings; names of metrics ("accuracy") stay names."""
    return type(metric).from_config(metric.get_config()) if isinstance(metric, keras.metrics.Metric) else metric


def build_for_training(model, dataset) -> None:
    """Creates the optimizer's and the compiled metrics' variables before the first step, so the
    first step of a new model is traced once, not twice (`keras_internals.build_from_spec`)."""
    keras_internals.build_from_spec(model, dataset.element_spec)
