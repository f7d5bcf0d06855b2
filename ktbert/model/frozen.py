"""A model's inference with the weights of its encoder blocks' dense products and layer norms as
constants of the traced graph: faster to predict with, and a snapshot, so only for a model
nobody trains any more (a predictor loaded from a folder). The embeddings and the head still
read their variables.

Why it is faster:
- oneDNN runs a 2-D dense product (`ktbert.model.feedforward`, `ktbert.model.projections`:
  matmul + bias, with GELU where the layer has it, in one kernel) on its plain `gemm` when the
  weights come from variables, and on AMX `brgemm` when they are constants. With constants it
  reorders them once into the layout that kernel wants and keeps them, and the graph optimizer
  folds their bfloat16 casts.
- a layer norm with constant weights is one oneDNN kernel (`ktbert.model.layer_norm`).

The projections and layer norms were added later; `docs/benchmarks/fast_layers.md` measures
them. The figures below are the feed-forward GELU layers' alone.

Measured on SST-2's dev set (Xeon with AMX, mixed bfloat16, one process, best of five):
- the model's pass took 1.05 s with variables and 0.89 s with these constants, with identical
  probabilities;
- with every weight a constant it took 0.84 s, but the process grew by 440 MB instead of
  145 MB (the graph keeps several copies of each constant).
`benchmarks/frozen_weights.py` measures it.

`weights_version(model)` counts the weight changes made through Keras' `set_weights` and
`load_weights` on a `TextClassifier`, and through ktbert's own weights reader: a frozen call
made at an older version must be rebuilt. Other writes (a variable's `assign`, training) are
not counted: only a model that is no longer trained may be frozen.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

from ktbert.model.feedforward import GeluDense
from ktbert.model.int8 import int8_products
from ktbert.model.keras_internals import nested_layers
from ktbert.model.layer_norm import FusableLayerNorm, frozen_norms
from ktbert.model.projections import FlatEinsumDense


_VERSIONS = weakref.WeakKeyDictionary()  # model -> how many times its weights were replaced


def weights_version(model) -> int:
    """How many times `model`'s weights were replaced through `set_weights` or `load_weights`."""
    return _VERSIONS.get(model, 0)


def mark_weights_changed(model) -> None:
    """Records that `model`'s weights were replaced (see `weights_version`)."""
    _VERSIONS[model] = weights_version(model) + 1


def frozen_call(model, int8: bool = False):
    """A function `call(inputs)` returning `model(inputs, training=False)`, computed with the
    weights of its `GeluDense`, `FlatEinsumDense` and `FusableLayerNorm` layers as they are now,
    held as constants of the graph `call` is traced in (the layer norms traced in their fusable
    form); every other weight is read from its variable. With `int8`, the attention projections
    and feed-forward GELU layers but the first block's multiply in 8-bit integers
    (`ktbert.model.int8`).

    Meant to be traced once (a `tf.function` with an input signature): the weights are copied
    when this is made and released once traced, and a second trace is refused.
    """
    import tensorflow as tf

    ref = weakref.ref(model)
    frozen_kinds = (GeluDense, FlatEinsumDense, FusableLayerNorm)
    fused = {id(w) for layer in nested_layers(model) if isinstance(layer, frozen_kinds) for w in layer.weights}
    kept = lambda v: np.array(v.numpy(), copy=True) if id(v) in fused else v  # noqa: E731
    snapshot = {"trainable": [kept(v) for v in model.trainable_variables],
                "non_trainable": [kept(v) for v in model.non_trainable_variables]}

    def call(inputs):
        if not snapshot:
            raise RuntimeError("A frozen model call is traced once; make a new one with `frozen_call(model)`.")
        value = lambda v: tf.constant(v) if isinstance(v, np.ndarray) else v.value  # noqa: E731
        trainable = [value(v) for v in snapshot.pop("trainable")]
        non_trainable = [value(v) for v in snapshot.pop("non_trainable")]
        with frozen_norms(), (int8_products() if int8 else contextlib.nullcontext()):
            outputs, _ = ref().stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs

    return call
