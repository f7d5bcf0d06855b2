"""Exports a predictor as a TensorFlow SavedModel that takes raw strings.

Everything between a raw string and its answer runs inside the graph: the character cap, the
saved clean-up (as RE2 rules), WordPiece tokenization (the keras-hub tokenizer's TensorFlow
ops), truncation ("head" or "head+tail"), [CLS]/[SEP] packing, the model, the temperature and
the decision thresholds. `tf.saved_model.load` (after `import tensorflow_text`, which registers
the tokenizer's ops) or TensorFlow Serving runs it with no ktbert and no Python preprocessing.
"""

from __future__ import annotations

import os

from ktbert.data.batching import PAD_MULTIPLE
from ktbert.data.preprocessor import CHARS_PER_TOKEN, HEAD_SHARE
from ktbert.evaluate.metrics import EPS
from ktbert.serve import saving

EXPORT_FORMAT = "ktbert-export"
SIGNATURE = "serving_default"
INPUT_NAME = "texts"


def export_saved_model(predictor, folder: str) -> str:
    """Writes `predictor` as a SavedModel into `folder` (atomically; an earlier export there is
    replaced, any other content refused) and returns the folder's absolute path.

    The `serving_default` signature takes `texts`, a string tensor of shape `(n,)` (UTF-8), and
    returns `probabilities` (float32 `(n, classes)`, after temperature scaling, as
    `predictor.predict(texts, return_proba=True)`), `decisions` (int32 `(n, classes)`, 1 where
    a class is decided: the thresholds applied), `classes` (the class names, string
    `(n, classes)`, the same on every row) and, for single-label models, `label` (string `(n,)`).

    Args:
        predictor: Predictor. the predictor to export.
        folder: str. the destination folder.

    Examples:
    ```python
    predictor.export("sentiment-savedmodel")
    # in any TensorFlow process:
    import tensorflow as tf, tensorflow_text  # noqa: F401 (registers the tokenizer's ops)
    serve = tf.saved_model.load("sentiment-savedmodel").signatures["serving_default"]
    serve(texts=tf.constant(["what a film!"]))["probabilities"]
    ```
    """
    import keras
    import tensorflow as tf

    if predictor.long_texts != "truncate":
        raise ValueError(
            "`export` reads every text as `long_texts='truncate'` does; this predictor reads long "
            f"texts with long_texts={predictor.long_texts!r} (sliding windows pooled in Python), "
            "which the exported graph does not do. Set `predictor.long_texts = 'truncate'` to "
            "export (long texts are then cut as in training), or serve it with `ktbert serve`."
        )
    preproc = predictor.preproc
    tokenizer = preproc.wordpiece_tokenizer()
    tokenizer(tf.constant(["built"]))  # Keras exports built layers only
    serve = _serving_function(predictor, tokenizer, tf)
    archive = keras.export.ExportArchive()
    archive.track(predictor.model)
    archive.track(tokenizer)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    manifest = {
        "signature": SIGNATURE,
        "input": INPUT_NAME,
        "outputs": ["probabilities", "decisions", "classes"] + ([] if preproc.multilabel else ["label"]),
        "class_names": preproc.get_classes(),
        "preprocessor": preproc.get_config(),
        "decisions": predictor.decision_config(),
        "needs": "tensorflow and tensorflow-text (import tensorflow_text before loading)",
    }
    saving.write_folder(folder, lambda tmp: archive.write_out(tmp, verbose=False), manifest, fmt=EXPORT_FORMAT)
    return os.path.abspath(folder)


def _serving_function(predictor, tokenizer, tf):
    """The graph function from a batch of raw strings to the outputs `export_saved_model` lists."""
    preproc, decisions, model = predictor.preproc, predictor.decisions, predictor.model
    budget = preproc.maxlen - 2
    head = max(1, int(budget * HEAD_SHARE))
    cap = budget * CHARS_PER_TOKEN
    head_tail = preproc.truncation == "head+tail"
    rules = preproc.clean.graph_rules()
    vocab = preproc.vocabulary
    cls_id, sep_id, pad_id = vocab.index("[CLS]"), vocab.index("[SEP]"), vocab.index("[PAD]")
    class_names = tf.constant(preproc.get_classes())
    multilabel = preproc.multilabel

    def serve(texts):
        texts = tf.reshape(texts, [-1])
        n = tf.shape(texts)[0]
        texts = _capped(tf, texts, cap, head_tail)
        for pattern, rewrite in rules:  # after the cap, as `TextPreprocessor._bodies` does
            texts = tf.strings.regex_replace(texts, pattern, rewrite)
        ids = tf.cast(tokenizer(texts), tf.int32)
        body = _truncated(tf, ids, budget, head if head_tail else budget)
        edge = lambda token: tf.RaggedTensor.from_tensor(tf.fill([n, 1], tf.constant(token, tf.int32)))
        framed = tf.concat([edge(cls_id), body, edge(sep_id)], axis=1)
        lengths = tf.cast(framed.row_lengths(), tf.int32)
        width = (tf.reduce_max(tf.concat([lengths, [2]], 0)) + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE
        token_ids = framed.to_tensor(default_value=pad_id, shape=tf.stack([tf.cast(n, tf.int64), tf.cast(width, tf.int64)]))
        mask = tf.sequence_mask(lengths, width, dtype=tf.int32)
        proba = tf.cast(model({"token_ids": token_ids, "padding_mask": mask}, training=False), tf.float32)
        proba = _calibrated(tf, proba, decisions.temperature, multilabel)
        decided = _decided(tf, proba, decisions, multilabel)
        out = {
            "probabilities": proba,
            "decisions": decided,
            "classes": tf.tile(class_names[None, :], [n, 1]),
        }
        if not multilabel:
            out["label"] = tf.gather(class_names, tf.argmax(decided, axis=1, output_type=tf.int32))
        return out

    return serve


def _capped(tf, texts, cap: int, head_tail: bool):
    """Each text cut to `cap` characters (code points), or with `head_tail` its first and last
    `cap` joined by a space when it is over twice as long: `TextPreprocessor._bodies`' cap."""
    chars = tf.strings.length(texts, unit="UTF8_CHAR")
    head = tf.strings.substr(texts, 0, cap, unit="UTF8_CHAR")
    if not head_tail:
        return head
    tail = tf.strings.substr(texts, tf.maximum(chars - cap, 0), tf.fill(tf.shape(chars), cap), unit="UTF8_CHAR")
    return tf.where(chars > 2 * cap, tf.strings.join([head, tail], separator=" "), head)


def _truncated(tf, ids, budget: int, head: int):
    """Each row of the ragged `ids` cut to `budget` ids: its first `head` ids and its last
    `budget - head` (with `head == budget`, simply its first `budget`)."""
    lengths = ids.row_lengths()
    keep = tf.minimum(lengths, budget)
    positions = tf.ragged.range(keep)
    row = positions.value_rowids()
    skipped = tf.gather(lengths - keep, row)  # ids dropped from the middle of each long row
    source = positions.flat_values + tf.where(positions.flat_values >= head, skipped, tf.zeros_like(skipped))
    flat = tf.gather(ids.flat_values, source + tf.gather(ids.row_starts(), row))
    return positions.with_flat_values(flat)


def _calibrated(tf, proba, temperature: float, multilabel: bool):
    """`ktbert.evaluate.calibration.apply_temperature` in the graph (float64, as there)."""
    if temperature == 1.0:
        return proba
    p = tf.clip_by_value(tf.cast(proba, tf.float64), EPS, 1 - EPS)
    if multilabel:
        return tf.cast(tf.sigmoid(tf.math.log(p / (1 - p)) / temperature), tf.float32)
    return tf.cast(tf.nn.softmax(tf.math.log(p) / temperature, axis=1), tf.float32)


def _decided(tf, proba, decisions, multilabel: bool):
    """`Decisions.decide` in the graph, as 0/1 rows `(n, classes)`."""
    # Compared as NumPy compares in `predicted_classes`: the thresholds' float64 array against
    # float32 probabilities in float64, one Python float against them in float32.
    if multilabel:
        cut = 0.5 if decisions.thresholds is None else tf.constant(decisions.thresholds, tf.float64)[None, :]
        return tf.cast(tf.cast(proba, tf.float64) >= cut, tf.int32)
    if decisions.threshold is not None:
        chosen = tf.cast(proba[:, 1] >= tf.constant(decisions.threshold, tf.float32), tf.int32)
    else:
        chosen = tf.argmax(proba, axis=1, output_type=tf.int32)
    return tf.one_hot(chosen, tf.shape(proba)[1], dtype=tf.int32)
