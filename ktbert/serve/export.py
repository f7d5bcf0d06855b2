"""Exports a predictor as a TensorFlow SavedModel that takes raw strings.

The graph is built from the predictor's own objects, not from a copy of their rules: a text
pipeline of its preprocessor (`TextPipeline.inputs`: the character cap, the saved clean-up, the keras-hub
tokenizer, truncation, packing and padding) feeds the model, and its `Decisions` calibrate and
decide with `tf.experimental.numpy` as their array namespace. `tf.saved_model.load` (after
`import tensorflow_text`, which registers the tokenizer's ops) or TensorFlow Serving runs it
with no ktbert and no Python preprocessing.
"""

from __future__ import annotations

import os

from ktbert.checks import check_choice
from ktbert.saving import manifest

EXPORT_FORMAT = "ktbert-export"
SIGNATURE = "serving_default"
INPUT_NAME = "texts"
PAIRS_SIGNATURE = "serving_pairs"
PAIR_INPUTS = ("text_a", "text_b")
FORMATS = ("savedmodel", "onnx")


def export_predictor(predictor, folder: str, format: str = "savedmodel") -> str:  # noqa: A002
    """`export_saved_model` or, with `format="onnx"`, `ktbert.serve.onnx_export.export_onnx`."""
    if check_choice(format, FORMATS, "format") == "onnx":
        from ktbert.serve.onnx_export import export_onnx

        return export_onnx(predictor, folder)
    return export_saved_model(predictor, folder)


def export_saved_model(predictor, folder: str) -> str:
    """Writes `predictor` as a SavedModel into `folder` (atomically; an earlier export there is
    replaced, any other content refused) and returns the folder's absolute path.

    The `serving_default` signature takes `texts`, a string tensor of shape `(n,)` (UTF-8), and
    returns `probabilities` (float32 `(n, classes)`, after temperature scaling, as
    `predictor.predict(texts, return_proba=True)`), `decisions` (int32 `(n, classes)`, 1 where
    a class is decided: the thresholds applied), `classes` (the class names, string
    `(n, classes)`, the same on every row) and, for single-label models, `label` (string `(n,)`).

    A model of text pairs takes `text_a` and `text_b` (two string tensors `(n,)`) instead, in
    a signature named `serving_pairs`, which is also its `serving_default` (a SavedModel
    signature cannot have an optional input, so single texts and pairs cannot share one).

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
    pipeline = preproc.new_pipeline()
    pipeline.tokenizer(tf.constant(["built"]))  # Keras exports built layers only
    archive = keras.export.ExportArchive()
    archive.track(predictor.model)
    archive.track(pipeline.tokenizer)
    if preproc.pairs:
        serve = _serving_function(predictor, lambda a, b: pipeline.pair_inputs(a, b), tf)
        specs = [tf.TensorSpec([None], tf.string, name=name) for name in PAIR_INPUTS]
        archive.add_endpoint(PAIRS_SIGNATURE, serve, input_signature=specs)
        archive.add_endpoint(SIGNATURE, serve, input_signature=specs)
    else:
        serve = _serving_function(predictor, lambda texts: pipeline.inputs(texts), tf)
        archive.add_endpoint(SIGNATURE, serve, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    content = {
        "signature": PAIRS_SIGNATURE if preproc.pairs else SIGNATURE,
        "input": list(PAIR_INPUTS) if preproc.pairs else INPUT_NAME,
        "outputs": ["probabilities", "decisions", "classes"] + ([] if preproc.multilabel else ["label"]),
        "class_names": preproc.get_classes(),
        "preprocessor": preproc.get_config(),
        "decisions": predictor.decision_config(),
        "needs": "tensorflow and tensorflow-text (import tensorflow_text before loading)",
    }
    manifest.write_folder(folder, lambda tmp: archive.write_out(tmp, verbose=False), content, fmt=EXPORT_FORMAT)
    return os.path.abspath(folder)


def _serving_function(predictor, inputs, tf):
    """The graph function from a batch of raw strings (one tensor, or two for pairs) to the
    outputs `export_saved_model` lists; `inputs` turns the strings into the model's inputs."""
    import tensorflow.experimental.numpy as tnp

    decisions, model = predictor.decisions, predictor.model
    class_names = tf.constant(predictor.get_classes())
    n_classes = len(predictor.get_classes())

    def serve(*texts):
        texts = [tf.reshape(t, [-1]) for t in texts]
        proba = tf.cast(model(inputs(*texts), training=False), tf.float32)
        proba = tf.convert_to_tensor(decisions.calibrate(proba, tnp))
        decided = tf.convert_to_tensor(decisions.decide(proba, tnp))
        if not decisions.multilabel:  # class indices -> 0/1 rows, as multi-label decisions are
            decided = tf.one_hot(decided, n_classes, dtype=tf.int64)
        out = {
            "probabilities": proba,
            "decisions": tf.cast(decided, tf.int32),
            "classes": tf.tile(class_names[None, :], [tf.shape(texts[0])[0], 1]),
        }
        if not decisions.multilabel:
            out["label"] = tf.gather(class_names, tf.argmax(decided, axis=1, output_type=tf.int32))
        return out

    return serve
