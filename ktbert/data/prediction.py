"""Prediction over tokenized texts: the batch plan, a traced step per model that pads each
batch itself, and the rows put back in the caller's order (the batches themselves are planned
in `ktbert.data.batching`)."""

from __future__ import annotations

import weakref

import numpy as np

from ktbert.checks import check_count
from ktbert.data.batching import batch_plan, make_array_dataset, ragged_batch, token_budget_batches, width_multiple
from ktbert.data.pipeline import pad_batch
from ktbert.data.texts import TokenizedTexts
from ktbert.defaults import BATCH_SIZE
from ktbert.model.frozen import frozen_call, weights_version


def predict_in_order(model, x, batch_size: int = BATCH_SIZE, bucketing: bool = True,
                     frozen: bool = False) -> np.ndarray:
    """The model's outputs for texts or arrays `x`, rows in the caller's order whatever the batching.

    Tokenized texts are predicted by a step traced once for every batch width (Keras' own
    `predict` traces up to three times as widths change), which pads each batch itself
    (`pad_batch`), in the batches of `prediction_plan`; arrays go through `model.predict`.

    Args:
        model: keras.Model. takes the batches' inputs.
        x: TokenizedTexts, or arrays as `make_array_dataset` takes.
        batch_size: int. texts per prediction step at `maxlen` tokens (bucketed batches of
            shorter texts hold more of them, as many as fit in `batch_size * maxlen` tokens).
        bucketing: bool. length-bucketed batches for TokenizedTexts (arrays are never bucketed).
        frozen: bool. predict tokenized texts with the weights as constants of the step's graph
            (`ktbert.model.frozen`: faster, and a snapshot, rebuilt when `set_weights` or
            `load_weights` change them); only for a model that is no longer trained.
    """
    if not isinstance(x, TokenizedTexts):
        return model.predict(make_array_dataset(x, batch_size=batch_size), verbose=0)
    if len(x) == 0:
        raise ValueError("`x` holds no texts to predict: pass at least one text.")
    batch_size = check_count(batch_size, "batch_size")
    plan = prediction_plan(x, batch_size, bucketing)
    multiple = width_multiple(x, bucketing)
    # Batches are fed straight to the step, not through tf.data: a pipeline takes a noticeable time to
    # build, which a service predicting a few texts per call would pay on every call.
    step = _predict_step(model, pairs=x.firsts is not None, frozen=frozen)
    out = np.concatenate([np.asarray(step(*ragged_batch(x, indices), x.maxlen, x.pad_id, multiple))
                          for indices in plan])
    restored = np.empty_like(out)
    restored[np.concatenate(plan)] = out
    return restored


def prediction_plan(x: TokenizedTexts, batch_size: int, bucketing: bool = True) -> list:
    """The batches texts are predicted in: bucketed, `token_budget_batches` (short texts in
    large batches: fewer, fuller steps); without bucketing, `batch_size` texts in input order."""
    if bucketing:
        return token_budget_batches(x.lengths, batch_size, x.maxlen, width_multiple(x, bucketing))
    return batch_plan(x.lengths, batch_size, bucketing=False)


_PREDICT_STEPS = weakref.WeakKeyDictionary()  # model -> its traced prediction steps, by pairs or not


def _predict_step(model, pairs: bool = False, frozen: bool = False):
    """Pads a batch and runs `model` on it, as a `tf.function` traced once per model: the
    width, `maxlen`, the padding id and the width multiple are all tensors. A `frozen` step
    holds the weights as constants (`ktbert.model.frozen`) and is made again when the model's
    `weights_version` moves on.

    Kept beside the model, not on it (a `tf.function` attribute would be exported with it),
    and holding it weakly, so a model that is dropped is freed.
    """
    steps = _PREDICT_STEPS.setdefault(model, {})
    key = (pairs, weights_version(model)) if frozen else (pairs, None)
    if key not in steps:
        import tensorflow as tf

        if frozen:  # an older snapshot is dropped with its constants
            for old in [k for k in steps if k[0] == pairs and k[1] is not None]:
                del steps[old]
            call = frozen_call(model)
        else:
            ref = weakref.ref(model)
            call = lambda inputs: ref()(inputs, training=False)  # noqa: E731
        flat, scalar = tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32)
        if pairs:
            steps[key] = tf.function(
                lambda values, lengths, firsts, maxlen, pad_id, multiple: call(
                    pad_batch(values, lengths, maxlen, pad_id, multiple, firsts)),
                input_signature=[flat, flat, flat, scalar, scalar, scalar])
        else:
            steps[key] = tf.function(
                lambda values, lengths, maxlen, pad_id, multiple: call(
                    pad_batch(values, lengths, maxlen, pad_id, multiple)),
                input_signature=[flat, flat, scalar, scalar, scalar])
    return steps[key]
