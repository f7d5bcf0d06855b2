"""Prediction over tokenized texts: the batch plan, a traced step per model that pads each
batch itself, and the rows put back in the caller's order.

How a float32 model's batches are cut (`cheapest_batches`): a prediction step costs a fixed
part, whatever its size, plus a part per padded token (and a little per token and width, the
attention). Measured with `python benchmarks/prediction_plans.py` on a 2-core AVX-512 Xeon
without bf16 instructions, all-MiniLM-L6-v2 in float32: the fixed part is what 100-185 padded
tokens cost (fits over two runs and three datasets; `STEP_OVERHEAD` is the first run's median),
the attention adds about 0.085% per token of width (`ATTENTION_SHARE`, the first run's median;
the fit is noisy), and a width not rounded to 8 costs no more per token than one that is. So
texts sorted by length are cut where that total is least: few, large batches, but not at the
price of padding short texts to a much longer one's width. On SST-2's dev set this pads 23,255
tokens in 11 steps, against 27,496 in 7 for `token_budget_batches` with widths rounded to 8,
and a whole pass was 1.14-1.15x faster (AG News 1.05-1.06x, IMDB 0.99-1.08x).

A model computing in bfloat16 predicts in the same plan, its widths unrounded too, though its
training batches are rounded to 8 (`width_multiple`): measured on a CPU with `avx512_bf16` and
no AMX (`docs/benchmarks/bf16_without_amx/prediction_plans.md`), not on AMX. A float16 model
(a GPU's) keeps token-budget batches with widths rounded up to `PAD_MULTIPLE`
(`prediction_multiple`).
"""

from __future__ import annotations

import weakref

import numpy as np

from ktbert.checks import check_count
from ktbert.data.batching import batch_plan, length_order, make_array_dataset, ragged_batch, token_budget_batches
from ktbert.data.pipeline import PAD_MULTIPLE, pad_batch
from ktbert.data.texts import TokenizedTexts
from ktbert.defaults import BATCH_SIZE
from ktbert.model.frozen import frozen_call, weights_version


def predict_in_order(model, x, batch_size: int = BATCH_SIZE, bucketing: bool = True,
                     frozen: bool = False, int8: bool = False) -> np.ndarray:
    """The model's outputs for texts or arrays `x`, rows in the caller's order whatever the batching.

    Tokenized texts are predicted by a step traced once for every batch width (Keras' own
    `predict` traces up to three times as widths change), which pads each batch itself
    (`pad_batch`), in the batches of `prediction_plan`, with widths rounded up to
    `prediction_multiple` (none for float32 and bfloat16 models); arrays go through
    `model.predict`.

    Args:
        model: keras.Model. takes the batches' inputs.
        x: TokenizedTexts, or arrays as `make_array_dataset` takes.
        batch_size: int. texts per prediction step at `maxlen` tokens (bucketed batches of
            shorter texts may hold more of them, up to as many as fit in `batch_size * maxlen`
            tokens).
        bucketing: bool. length-bucketed batches for TokenizedTexts (arrays are never bucketed).
        frozen: bool. predict tokenized texts with the weights as constants of the step's graph
            (`ktbert.model.frozen`: faster, and a snapshot, rebuilt when `set_weights` or
            `load_weights` change them); only for a model that is no longer trained.
        int8: bool. with `frozen`, the step multiplies in 8-bit integers (`ktbert.model.int8`).
    """
    if int8 and (not frozen or not isinstance(x, TokenizedTexts)):
        raise ValueError("int8 products exist only in the frozen prediction step of tokenized texts: pass "
                         f"`frozen=True` and TokenizedTexts with `int8=True`. Received: frozen={frozen}, "
                         f"x of type {type(x).__name__}")
    if not isinstance(x, TokenizedTexts):
        return model.predict(make_array_dataset(x, batch_size=batch_size), verbose=0)
    if len(x) == 0:
        raise ValueError("`x` holds no texts to predict: pass at least one text.")
    batch_size = check_count(batch_size, "batch_size")
    multiple = prediction_multiple(x, bucketing, model)
    plan = prediction_plan(x, batch_size, bucketing, multiple)
    # Batches are fed straight to the step, not through tf.data: a pipeline takes a noticeable time to
    # build, which a service predicting a few texts per call would pay on every call.
    step = _predict_step(model, pairs=x.firsts is not None, frozen=frozen, int8=int8)
    out = np.concatenate([np.asarray(step(*ragged_batch(x, indices), x.maxlen, x.pad_id, multiple))
                          for indices in plan])
    restored = np.empty_like(out)
    restored[np.concatenate(plan)] = out
    return restored


# A prediction step's fixed cost, in padded tokens: float32's (the module's docstring). bfloat16 steps measured
# 233-270 (docs/benchmarks/bf16_without_amx/prediction_plans.md, whose `cheapest` plan was cut at 175).
STEP_OVERHEAD = 175
ATTENTION_SHARE = 8.5e-4  # a padded token's extra cost per token of its batch's width, in tokens


def prediction_multiple(x: TokenizedTexts, bucketing: bool, model=None) -> int:
    """What a prediction batch's width is rounded up to: `maxlen` without bucketing (every
    batch padded to it), `PAD_MULTIPLE` for a model computing in float16 (it or a layer: a
    GPU's tensor cores, not measured unrounded), else 1, each batch as wide as its longest text
    (float32 and bfloat16, the module's docstring)."""
    if not bucketing:
        return x.maxlen
    layers = [] if model is None else [model, *getattr(model, "layers", ())]
    return PAD_MULTIPLE if any(getattr(layer, "compute_dtype", None) == "float16" for layer in layers) else 1


def prediction_plan(x: TokenizedTexts, batch_size: int, bucketing: bool = True, multiple: int = 1) -> list:
    """The batches texts are predicted in. Bucketed, with widths rounded up to `multiple`
    (`prediction_multiple`): `cheapest_batches` when nothing is rounded (`multiple=1`), else
    `token_budget_batches` (short texts in large batches: fewer, fuller steps). Without
    bucketing, `batch_size` texts in input order."""
    if not bucketing:
        return batch_plan(x.lengths, batch_size, bucketing=False)
    if multiple == 1:
        return cheapest_batches(x.lengths, batch_size, x.maxlen)
    return token_budget_batches(x.lengths, batch_size, x.maxlen, multiple)


def cheapest_batches(lengths, batch_size: int, maxlen: int, overhead: float = STEP_OVERHEAD,
                     attention: float = ATTENTION_SHARE) -> list:
    """Index arrays of texts sorted by length, longest first, cut where the steps' estimated
    cost is least: each step costs `overhead` plus, per padded token, `1 + attention * width`,
    every text padded to its batch's longest. No batch holds more than `batch_size * maxlen`
    padded tokens, or `batch_size` texts if that is more (as `token_budget_batches`).

    Found exactly by dynamic programming from the shortest texts back: the cheapest cost of
    the texts from position i on is, over every batch size k that fits, one step of k texts at
    the i-th text's width plus the cheapest cost from i + k on (ties: the smaller batch).

    Args:
        lengths: int array. the token length of each text.
        batch_size: int. texts per batch at `maxlen` tokens.
        maxlen: int. the longest a text can be.
        overhead: float. a step's fixed cost, in padded tokens.
        attention: float. a padded token's extra cost per token of width.

    Examples:
    ```python
    batches = cheapest_batches(x.lengths, 32, x.maxlen)
    ```
    """
    lengths = np.asarray(lengths)
    order = length_order(lengths)
    widths = np.minimum(np.maximum(lengths[order], 1), maxlen).astype(np.float64)
    count, budget = len(order), batch_size * maxlen
    cost, ends = np.zeros(count + 1), np.zeros(count, dtype=np.int64)
    for i in range(count - 1, -1, -1):
        sizes = np.arange(1, min(max(batch_size, budget // int(widths[i])), count - i) + 1)
        totals = cost[i + sizes] + overhead + sizes * widths[i] * (1 + attention * widths[i])
        best = int(np.argmin(totals))
        cost[i], ends[i] = totals[best], i + sizes[best]
    batches, start = [], 0
    while start < count:
        batches.append(order[start:ends[start]])
        start = int(ends[start])
    return batches


_PREDICT_STEPS = weakref.WeakKeyDictionary()  # model -> its traced prediction steps, by pairs or not


def _predict_step(model, pairs: bool = False, frozen: bool = False, int8: bool = False):
    """Pads a batch and runs `model` on it, as a `tf.function` traced once per model: the
    width, `maxlen`, the padding id and the width multiple are all tensors. A `frozen` step
    holds the weights as constants (`ktbert.model.frozen`, in int8 products with `int8`) and is
    made again when the model's `weights_version` moves on.

    Kept beside the model, not on it (a `tf.function` attribute would be exported with it),
    and holding it weakly, so a model that is dropped is freed.
    """
    steps = _PREDICT_STEPS.setdefault(model, {})
    key = (pairs, weights_version(model), int8) if frozen else (pairs, None, False)
    if key not in steps:
        import tensorflow as tf

        if frozen:  # an older snapshot is dropped with its constants
            for old in [k for k in steps if k[0] == pairs and k[1] not in (None, key[1])]:
                del steps[old]
            call = frozen_call(model, int8)
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
