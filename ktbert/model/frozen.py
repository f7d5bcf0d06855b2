"""A model's inference with its weights as constants of the traced graph: faster to predict with,
and a snapshot, so only for a model nobody trains any more (a predictor loaded from a folder).

Why it is faster: with the weights read from variables, TensorFlow's oneDNN kernels must take
them as they are. The fused feed-forward product (`ktbert.model.feedforward`) then runs on
oneDNN's plain `gemm` instead of its AMX `brgemm`, and every call casts each weight to
bfloat16 again. With constants, the graph optimizer folds those casts. oneDNN also reorders
each weight once into the layout its fastest kernel wants, and keeps it. On SST-2's dev set
(Xeon with AMX, mixed bfloat16) the model's pass went from about 2.1 s to 1.4 s, with equal
probabilities; `benchmarks/frozen_weights.py` measures it.

The token embedding table is only gathered from, never multiplied, so it stays a variable:
leaving it out halves what the graph holds, and with it the trace's time and memory.

`weights_version(model)` counts the weight changes made through Keras' `set_weights` and
`load_weights` on a `TextClassifier`, and through ktbert's own weights reader: a frozen call
made at an older version must be rebuilt. Other writes (a variable's `assign`, training) are
not counted: only a model that is no longer trained may be frozen.
"""

from __future__ import annotations

import weakref

import numpy as np

LARGE = 4_000_000  # elements: a variable this large (the token embedding table) stays a variable


def weights_version(model) -> int:
    """How many times `model`'s weights were replaced through `set_weights` or `load_weights`."""
    return getattr(model, "_ktbert_weights_version", 0)


def mark_weights_changed(model) -> None:
    """Records that `model`'s weights were replaced (see `weights_version`)."""
    model._ktbert_weights_version = weights_version(model) + 1


def frozen_call(model):
    """A function `call(inputs)` returning `model(inputs, training=False)`, computed with the
    weights as they are now, held as constants of the graph `call` is traced in.

    Meant to be traced once (a `tf.function` with an input signature): the weights are copied
    when this is made and released once traced, and a second trace is refused.
    """
    import tensorflow as tf

    ref = weakref.ref(model)
    snapshot = {"trainable": [_kept(v) for v in model.trainable_variables],
                "non_trainable": [_kept(v) for v in model.non_trainable_variables]}

    def call(inputs):
        if not snapshot:
            raise RuntimeError("A frozen model call is traced once; make a new one with `frozen_call(model)`.")
        trainable = [_value(tf, v) for v in snapshot.pop("trainable")]
        non_trainable = [_value(tf, v) for v in snapshot.pop("non_trainable")]
        outputs, _ = ref().stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs

    return call


def _kept(variable):
    """What the frozen graph holds for `variable`: a copy of its value, or the variable itself
    when it is large."""
    if int(np.prod(variable.shape)) > LARGE:
        return variable
    return np.array(variable.numpy(), copy=True)


def _value(tf, kept):
    """A constant of the graph being traced (a NumPy value), or the variable's current value."""
    return tf.constant(kept) if isinstance(kept, np.ndarray) else kept.value
