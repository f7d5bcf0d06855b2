"""Exports a predictor as an ONNX model plus what it takes to feed it without TensorFlow or ktbert.

The folder holds:
- `model.onnx`: token ids, padding mask (the attention mask) and, for a model of text pairs,
  segment ids (int64, `(batch, width)`, any batch and width up to `maxlen`) ->
  `probabilities` (float32 `(batch, classes)`, the temperature applied). It is a float32 copy of
  the model (a model trained in mixed precision computes in float32 here), converted by tf2onnx.
- `tokenizer.json`: the WordPiece tokenizer in Hugging Face `tokenizers` form
  (`ktbert.serve.hf_tokenizer`).
- `ktbert.json`, the manifest: the classes, thresholds, `maxlen`, truncation and everything the
  text pipeline does before tokenizing (the character cap, the clean-up as Python regular
  expressions), with the checksums of the files.
docs/serving.md has the example that predicts with `onnxruntime` and `tokenizers` alone.
"""

from __future__ import annotations

import json
import os
import types

from ktbert.data.pipeline import CHARS_PER_TOKEN
from ktbert.model.families import WORDPIECE, family_named
from ktbert.saving import manifest
from ktbert.saving.saved_config import rebuild_classifier
from ktbert.serve import hf_tokenizer

ONNX_FORMAT = "ktbert-onnx"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
OPSET = 17
INPUTS = ("token_ids", "padding_mask", "segment_ids")
INSTALL = "pip install 'ktbert[onnx]'"


def export_onnx(predictor, folder: str) -> str:
    """Writes `predictor` as ONNX into `folder` (atomically; an earlier ONNX export there is
    replaced, any other content refused) and returns the folder's absolute path.

    Args:
        predictor: Predictor. the predictor to export: single texts or pairs, a WordPiece
            encoder (BERT, DistilBERT, ELECTRA), long texts truncated.
        folder: str. the destination folder.

    Examples:
    ```python
    predictor.export("sentiment-onnx", format="onnx")
    ```
    """
    _check_exportable(predictor)
    tf2onnx = _require("tf2onnx")
    import tensorflow as tf

    model = _float32_copy(predictor.model)
    names = [name for name in INPUTS if name in model.input]  # segment ids: models of pairs only
    decisions, arrays = predictor.decisions, _tf_arrays(tf)

    def probabilities(*inputs):
        feed = {name: tf.cast(x, tf.int32) for name, x in zip(names, inputs)}
        return {"probabilities": decisions.calibrate(tf.cast(model(feed, training=False), tf.float32), arrays)}

    specs = [tf.TensorSpec([None, None], tf.int64, name=name) for name in names]
    function = tf.function(probabilities, input_signature=specs, autograph=False)

    def write(tmp):
        tf2onnx.convert.from_function(function, input_signature=specs, opset=OPSET,
                                      output_path=os.path.join(tmp, MODEL_FILE))
        preproc = predictor.preproc
        tokenizer = hf_tokenizer.wordpiece_tokenizer(preproc.vocabulary, preproc.lowercase, preproc.strip_accents)
        tokenizer.save(os.path.join(tmp, TOKENIZER_FILE))

    manifest.write_folder(folder, write, onnx_config(predictor, names), fmt=ONNX_FORMAT)
    return os.path.abspath(folder)


def onnx_config(predictor, inputs: list) -> dict:
    """The manifest's content: how to turn raw texts into the ONNX model's inputs, and its
    probabilities into answers (JSON-safe)."""
    return json.loads(json.dumps({
        "model": MODEL_FILE, "tokenizer": TOKENIZER_FILE, "inputs": inputs, "output": "probabilities",
        "class_names": predictor.get_classes(), "decisions": predictor.decision_config(),
        **text_config(predictor.preproc), "needs": "onnxruntime and tokenizers (docs/serving.md: ONNX)",
    }))


def text_config(preproc) -> dict:
    """What the text pipeline of `preproc` does before and around the tokenizer, as values a
    program without TensorFlow applies (examples/onnx_predict.py reads them)."""
    pipeline = preproc.pipeline
    return {
        "maxlen": preproc.maxlen, "truncation": preproc.truncation, "multilabel": preproc.multilabel,
        "pairs": preproc.pairs,
        "max_chars": pipeline.budget * CHARS_PER_TOKEN,  # per end with head+tail, for texts over twice that
        "head_tokens": pipeline.head,  # of the `maxlen - 2` ids beside [CLS] and [SEP], kept from the start
        "clean": [list(rule) for rule in preproc.clean.python_rules()],
        "lowercase": preproc.lowercase, "strip_accents": preproc.strip_accents,
        "max_bytes_per_word": hf_tokenizer.MAX_BYTES_PER_WORD,
        "special_ids": {t: preproc.vocabulary.index(t) for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]")},
        "preprocessor": preproc.get_config(),
    }


def _check_exportable(predictor) -> None:
    if predictor.long_texts != "truncate":
        raise ValueError(
            "`export` reads every text as `long_texts='truncate'` does; this predictor reads long "
            f"texts with long_texts={predictor.long_texts!r} (sliding windows pooled in Python), "
            "which the exported model does not do. Set `predictor.long_texts = 'truncate'` to "
            "export (long texts are then cut as in training), or serve it with `ktbert serve`."
        )
    family = predictor.preproc.family
    if family_named(family).assets != WORDPIECE:
        raise ValueError(
            f"`format='onnx'` writes a WordPiece tokenizer.json (BERT, DistilBERT, ELECTRA encoders); this "
            f"predictor's encoder is of the {family} family. Export it as a SavedModel (`format='savedmodel'`), "
            "which carries its own tokenizer."
        )


def _float32_copy(model):
    """A float32 TextClassifier with `model`'s weights (Keras' ONNX path needs float32)."""
    import numpy as np

    copy = rebuild_classifier(json.loads(json.dumps(model.get_config())), precision="float32")
    copy.set_weights([np.asarray(w, dtype=np.float32) if np.asarray(w).dtype.kind == "f" else np.asarray(w)
                      for w in model.get_weights()])
    return copy


def _tf_arrays(tf):
    """The array functions `Decisions.calibrate` calls, as plain TensorFlow ops: the temperature
    is applied by the same code as in `predict`, in ops tf2onnx converts (`tf.experimental.numpy`'s
    `clip` broadcasts through `BroadcastArgs`, which it cannot)."""
    def asarray(x, dtype=None):
        return tf.convert_to_tensor(x) if dtype is None else tf.cast(x, dtype)

    return types.SimpleNamespace(
        float32=tf.float32, float64=tf.float64, asarray=asarray, clip=tf.clip_by_value, log=tf.math.log,
        exp=tf.math.exp, max=lambda x, axis=None, keepdims=False: tf.reduce_max(x, axis=axis, keepdims=keepdims),
        sum=lambda x, axis=None, keepdims=False: tf.reduce_sum(x, axis=axis, keepdims=keepdims))


def _require(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(f"`format='onnx'` needs {name}, which is not installed. Install it with: {INSTALL}") from err
