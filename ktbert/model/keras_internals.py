"""Every private Keras (and TensorFlow) attribute ktbert reads or sets, in this one module.

Keras 3 exposes neither a model's compile arguments, an optimizer's weight-decay exclusions
(nor which variables they spare), a way to build the optimizer and metrics before the first
step, a way to keep `fit` from drawing a batch under a strategy, its optimizers' weight-decay
step as a public method, a walk over every layer nested in a layer, nor a way to create an F1
metric's counters before its first update, nor a hook to compute attention differently; and
TensorFlow has no public way to build an op without a Python wrapper, such as oneDNN's fused
int8 product (`ktbert.model.int8`).
These functions reach for the private attributes that do; tests/train/test_keras_internals.py
checks each one against the installed Keras, so an upgrade that renames one fails there first,
naming what to mend. The model room holds it, the lowest that needs it (the optimizer), so
training can use it too.
"""

from __future__ import annotations

import contextlib

import keras


def compile_arguments(model) -> dict:
    """The arguments `model` was compiled with (`model._compile_config`)."""
    return dict(model._compile_config.config)


def weight_decay_exclusions(optimizer):
    """The compiled pattern of variable names `optimizer` does not decay, or None when no
    exclusions were given (`optimizer._exclude_from_weight_decay_pattern`)."""
    return getattr(optimizer, "_exclude_from_weight_decay_pattern", None)


def uses_weight_decay(optimizer, variable) -> bool:
    """Whether `optimizer` decays `variable`: not when its name matches the exclusions
    (`optimizer._use_weight_decay`, the test Keras' own decay step applies)."""
    return bool(optimizer._use_weight_decay(variable))


def build_from_spec(model, element_spec) -> None:
    """Creates the optimizer's and the compiled metrics' variables from a dataset's element
    spec, without running a batch (`model._symbolic_build`; it builds only what is not built).

    Keras defers this to the first trace of the training step when no strategy is set, and a
    step that creates variables is traced twice."""
    build = getattr(model, "_symbolic_build", None)
    if build is not None:
        with model.distribute_strategy.scope():
            build(data_batch=element_spec)


@contextlib.contextmanager
def without_own_strategy(model):
    """`model` holding no strategy of its own for the block (`model._distribute_strategy`), so
    Keras' `fit` takes the enclosing scope's and skips the batch it draws to build the model."""
    saved = model._distribute_strategy
    model._distribute_strategy = None
    try:
        yield
    finally:
        model._distribute_strategy = saved


def keras_weight_decay(optimizer, variables) -> None:
    """Keras' own decoupled weight decay of `variables` by `optimizer` (`AdamW._apply_weight_decay`,
    the hook `apply` calls before the update; under a tf.distribute strategy it is the
    cross-replica update)."""
    keras.optimizers.AdamW._apply_weight_decay(optimizer, variables)


def keras_attention(layer, query, key, value, attention_mask, training, return_attention_scores,
                    use_causal_mask=False):
    """Keras' own attention of a `MultiHeadAttention` layer on projected query, key and value
    (`MultiHeadAttention._compute_attention`, the hook its `call` computes attention with, which
    `ktbert.model.attention.FastAttention` overrides and falls back to)."""
    return keras.layers.MultiHeadAttention._compute_attention(
        layer, query, key, value, attention_mask, training, return_attention_scores, use_causal_mask=use_causal_mask)


def nested_layers(layer) -> list:
    """Every layer inside `layer`, at any depth (`Layer._flatten_layers`), itself excluded."""
    return list(layer._flatten_layers(include_self=False, recursive=True))


def switch_layers(layer, keras_class, new_class, when=None) -> int:
    """Switches every layer inside `layer` whose class is exactly `keras_class` (and for which
    `when(layer)` holds, if given) to `new_class`, a subclass computing the same with the same
    weights and config, in place; returns how many."""
    count = 0
    for inner in nested_layers(layer):
        if type(inner) is keras_class and (when is None or when(inner)):
            inner.__class__ = new_class
            count += 1
    return count


def build_f1_counters(metric, num_classes: int) -> None:
    """Creates a `keras.metrics.F1Score`'s counters (`FBetaScore._build`) unless it has them:
    Keras makes them in the first `update_state`, and reads them in every `result()`."""
    if not metric._built:
        metric._build((None, num_classes), (None, num_classes))


def graph_op(op_type: str, **arguments) -> list:
    """The outputs of TensorFlow op `op_type` built in the graph being traced, from `arguments`:
    its inputs and every one of its attributes, by name (`op_def_library._apply_op_helper`,
    which raises RuntimeError for an op this TensorFlow does not have)."""
    from tensorflow.python.framework import op_def_library

    _, _, op, _ = op_def_library._apply_op_helper(op_type, **arguments)
    return op.outputs
