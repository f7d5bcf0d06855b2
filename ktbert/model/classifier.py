"""The text classifier: a BERT encoder, masked mean pooling, dropout and a dense head.

`text_classifier` is ktrain's entry point; `TextClassifier` is the Keras model it builds.
The head is plain Keras on purpose: keras-hub's stock `BertTextClassifier` (a [CLS] head) stayed
at chance on this encoder, which was trained with mean pooling, while this head learned.
"""

from __future__ import annotations

import keras
from keras import ops

from ktbert.checks import check_choice, check_dropout, check_seed, echo
from ktbert.model.compiling import compile_classifier, validation_metrics_paused
from ktbert.defaults import DROPOUT
from ktbert.model.encoders import load_backbone
from ktbert.model.fast_layers import use_fast_layers
from ktbert.model.frozen import mark_weights_changed
from ktbert.model.precision import resolve_precision
from ktbert.model.training_record import TrainingRecord

POOLINGS = ("mean", "cls")
MODEL_NAMES = ("bert", "distilbert")  # ktrain's names `text_classifier` offers


@keras.saving.register_keras_serializable(package="ktbert")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the token vectors where `padding_mask` is 1; the pooling all-MiniLM was trained with."""

    def call(self, sequence, padding_mask):
        mask = ops.cast(ops.expand_dims(padding_mask, -1), sequence.dtype)
        total = ops.sum(sequence * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])


def check_pooling(pooling: str) -> str:
    """Returns `pooling` if it is one of POOLINGS; raises naming them."""
    return check_choice(pooling, POOLINGS, "pooling")


def _text_inputs():
    """The two inputs every ktbert model takes: `token_ids` and `padding_mask`, any length."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    return token_ids, padding_mask


def takes_segments(backbone) -> bool:
    """Whether a keras-hub backbone takes `segment_ids` (BERT, ALBERT, ELECTRA do)."""
    return isinstance(backbone.input, dict) and "segment_ids" in backbone.input


def backbone_vocabulary_size(backbone) -> int:
    """The rows of a keras-hub backbone's token embedding table."""
    return int(getattr(backbone, "vocabulary_size", None) or backbone.vocab_size)


def _pooled(backbone, token_ids, padding_mask, pooling_layer=None, segment_ids=None):
    """The encoder's text vector: masked mean of token vectors, or, when `pooling_layer` is None,
    the first token's vector (through the backbone's pooler where it has one). `segment_ids`
    (text pairs) reach a backbone that takes them; single texts are all segment 0."""
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if takes_segments(backbone):
        inputs["segment_ids"] = ops.zeros_like(token_ids) if segment_ids is None else segment_ids
    encoded = backbone(inputs)
    sequence = encoded["sequence_output"] if isinstance(encoded, dict) else encoded
    if pooling_layer is None:
        return encoded["pooled_output"] if isinstance(encoded, dict) and "pooled_output" in encoded else sequence[:, 0]
    return pooling_layer(sequence, padding_mask)


def sentence_embedder(backbone) -> keras.Model:
    """A model giving the masked-mean-pooled text vector of `backbone`, as all-MiniLM was trained.

    Examples:
    ```python
    embedder = sentence_embedder(load_backbone("default"))
    ids, mask = preproc.preprocess(texts).padded()
    vectors = embedder.predict({"token_ids": ids, "padding_mask": mask.astype("int32")})
    ```
    """
    token_ids, padding_mask = _text_inputs()
    pooled = _pooled(backbone, token_ids, padding_mask, MaskedMeanPooling(name="pooling"))
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, pooled, name="sentence_embedder")


def _freeze_cls_dense(backbone) -> None:
    try:
        backbone.get_layer("pooled_dense").trainable = False
    except ValueError:
        pass


@keras.saving.register_keras_serializable(package="ktbert")
class TextClassifier(keras.Model):
    """A BERT encoder with a classification head.

    Args:
        backbone: keras_hub.models.BertBackbone. the encoder; its attention, dense and layer-norm
            layers are switched in place to faster forms (`ktbert.model.fast_layers`).
        num_classes: int. the number of outputs.
        multilabel: bool. sigmoid outputs (several classes per text) instead of softmax.
        pooling: str. "mean" (masked mean of token vectors) or "cls" (the encoder's pooled
            [CLS] output).
        dropout: float. dropout rate before the head, in [0, 1).
        class_names: list of str or None. the classes, in output order (kept for reports).
        segments: bool. the model classifies text pairs and takes a third input, `segment_ids`
            (only for families whose backbone has a segment embedding: BERT, ALBERT, ELECTRA).

    Attributes:
        training_record: TrainingRecord. the seeds the model was built and trained with and
            the learner's decisions; not part of the config (a save keeps it in its manifest).

    Examples:
    ```python
    model = ktbert.text_classifier("bert", trn, preproc)
    model.summary()
    ```
    """

    def __init__(self, backbone, num_classes: int, multilabel: bool = False,
                 pooling: str = "mean", dropout: float = DROPOUT, class_names=None, segments: bool = False,
                 **kwargs):
        check_pooling(pooling)
        dropout = check_dropout(dropout)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}")
        # === Layers ===
        use_fast_layers(backbone)  # same weights and config, faster kernels (ktbert.model.fast_layers)
        self.backbone = backbone
        self.pooling_layer = MaskedMeanPooling(name="pooling") if pooling == "mean" else None
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            num_classes, activation="sigmoid" if multilabel else "softmax", name="classifier",
            dtype="float32",  # probabilities in float32 under a mixed-precision policy too
        )
        # === Functional model ===
        token_ids, padding_mask = _text_inputs()
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        segments = bool(segments)
        if segments and not takes_segments(backbone):
            raise ValueError(f"`segments=True` needs a backbone with segment ids; a {type(backbone).__name__} has "
                             "none (its text pairs are told apart by their separators alone).")
        if segments:
            inputs["segment_ids"] = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        if pooling == "mean":
            # The encoder's [CLS] dense layer is unused under mean pooling: freezing it keeps
            # the optimizer from tracking (and warning about) variables that get no gradient.
            _freeze_cls_dense(backbone)
        pooled = _pooled(backbone, token_ids, padding_mask, self.pooling_layer, inputs.get("segment_ids"))
        outputs = self.output_dense(self.output_dropout(pooled))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self.num_classes = num_classes
        self.multilabel = bool(multilabel)
        self.pooling = pooling
        self.dropout = dropout
        self.segments = segments
        self.training_record = TrainingRecord()
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        if self.class_names is not None and len(self.class_names) != num_classes:
            raise ValueError(
                f"`class_names` has {len(self.class_names)} names for {num_classes} classes."
            )

    # === Training step ===
    def train_step(self, data):
        """Keras' training step, without the validation-only metrics (macro-F1): they are
        neither updated nor logged while training, and `val_macro_f1` still comes from each
        validation pass."""
        with validation_metrics_paused() as paused:
            logs = super().train_step(data)
        return {name: value for name, value in logs.items() if name not in paused}

    # === Weights ===
    # Counted, so a prediction step holding the weights as constants (`ktbert.model.frozen`)
    # knows it is out of date.
    def set_weights(self, weights):
        super().set_weights(weights)
        mark_weights_changed(self)

    def load_weights(self, filepath, *args, **kwargs):
        try:
            return super().load_weights(filepath, *args, **kwargs)
        finally:
            mark_weights_changed(self)

    # === Config ===
    def get_config(self) -> dict:
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
            "pooling": self.pooling,
            "dropout": self.dropout,
            "class_names": self.class_names,
            "segments": self.segments,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> "TextClassifier":
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"], safe_mode=True)
        return cls(**config)


def text_classifier(name: str = "bert", train_data=None, preproc=None, multilabel=None,
                    metrics=None, verbose: int = 1, pooling: str = "mean", dropout: float = DROPOUT,
                    seed: int | None = None, precision: str | None = None) -> TextClassifier:
    """Builds and compiles a BERT classifier for the data; ktrain's `text.text_classifier`.

    The encoder is the one `preproc` was made for (its vocabulary must match): the default
    all-MiniLM-L6-v2, or the folder or preset given to the loader's `encoder=`.

    Args:
        name: str. "bert" (ktrain's name: the encoder `preproc` was made for, of any family)
            or "distilbert" (the same, checked to be a DistilBERT encoder).
        train_data: TextData. the training data from a loader; checked against `preproc`.
        preproc: TextPreprocessor. the preprocessor the loader returned.
        multilabel: bool or None. None takes it from the data.
        metrics: list or None. Keras metrics; None gives accuracy and macro-F1.
        verbose: int. 1 prints what was built.
        pooling: str. "mean" (default; how all-MiniLM was trained) or "cls".
        dropout: float. dropout before the head.
        seed: int or None. seed of the head's initial weights.
        precision: str or None. "auto" (mixed_float16 where a GPU is visible, else
            mixed_bfloat16 where the CPU has bf16 instructions, else float32), "float32",
            "mixed_bfloat16" (the encoder computes in bfloat16, weights and head stay float32:
            faster on CPUs with AVX-512 bf16 or AMX, far slower on others) or
            "mixed_float16" (float16 on a GPU's tensor cores, the loss scaled). None:
            `KTBERT_PRECISION` from the environment, else "auto". Saved with the model.

    Examples:
    ```python
    trn, val, preproc = ktbert.texts_from_df(df, "Reviews", label_columns="Sentiment")
    model = ktbert.text_classifier("bert", trn, preproc)
    ```
    """
    check_choice(name, MODEL_NAMES, "name", "To use another encoder, pass `encoder=` (a keras-hub preset folder "
                 "or a Hugging Face checkpoint folder) to the data loader")
    if preproc is None:
        raise ValueError(
            "`preproc` is required: pass the preprocessor the data loader returned, as in "
            "`trn, val, preproc = texts_from_df(...); text_classifier('bert', trn, preproc)`."
        )
    if not all(hasattr(preproc, a) for a in ("get_classes", "vocabulary_size", "multilabel", "encoder")):
        raise TypeError(f"`preproc` must be the TextPreprocessor the data loader returned. Received: "
                        f"{echo(preproc)}. Use `trn, val, preproc = ktbert.texts_from_df(...)`.")
    if name == "distilbert" and getattr(preproc, "family", None) != "distil_bert":
        raise ValueError(
            f"`name='distilbert'` needs the preprocessor of a DistilBERT encoder; `preproc` is of a "
            f"{getattr(preproc, 'family', 'bert')} encoder ({preproc.encoder!r}). Load the data with encoder= a "
            "DistilBERT folder, or use name='bert', which fine-tunes whichever encoder `preproc` was made for."
        )
    if train_data is not None and not (isinstance(train_data, tuple) and len(train_data) == 2
                                       and hasattr(train_data[1], "ndim")):
        raise TypeError(f"`train_data` must be the `(x, y)` training data a loader returned. Received: "
                        f"{echo(train_data)}.")
    dropout = check_dropout(dropout)
    if multilabel is None:
        multilabel = preproc.multilabel
    num_classes = len(preproc.get_classes())
    if train_data is not None:
        y = train_data[1]
        width = y.shape[1] if y.ndim == 2 else int(y.max()) + 1
        if (y.ndim == 2) != preproc.multilabel or width > num_classes:
            raise ValueError(
                "`train_data` does not match `preproc`: pass the training data and the "
                "preprocessor returned by the same loader call."
            )
    dtype = resolve_precision(precision)
    seed = check_seed(seed)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    backbone = load_backbone(preproc.encoder, dtype=dtype)
    if backbone_vocabulary_size(backbone) != preproc.vocabulary_size:
        raise ValueError(
            f"the encoder's vocabulary has {backbone_vocabulary_size(backbone)} tokens but `preproc`'s has "
            f"{preproc.vocabulary_size}: they do not belong together."
        )
    segments = bool(getattr(preproc, "pairs", False)) and takes_segments(backbone)
    model = TextClassifier(backbone, num_classes, multilabel=multilabel, pooling=pooling, dropout=dropout,
                           class_names=preproc.get_classes(), segments=segments)
    compile_classifier(model, metrics=metrics)
    model.training_record = TrainingRecord(seed=seed)
    if verbose:
        kind = "multi-label (sigmoid)" if multilabel else "single-label (softmax)"
        print(f"built a {kind} {type(backbone).__name__} classifier: {num_classes} classes, "
              f"{model.count_params():,} parameters, {pooling} pooling, encoder {preproc.encoder!r}, {dtype}")
    return model
