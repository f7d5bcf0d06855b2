"""From checked texts and encoded labels to `(train, val, preproc)`: the loaders' common end.

The encoder decides the vocabulary and the longest input; the preprocessor built on them
tokenizes both splits with its text pipeline. When no validation texts are given, a stratified
share of the training rows is held out first.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ktbert.checks import check_fraction, check_seed, is_pairs
from ktbert.data.labels import EncodedLabels
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.data.splitting import split_indices, subset_labels
from ktbert.data.texts import TextData
from ktbert.defaults import MAXLEN, TRUNCATION
from ktbert.model.encoders import DEFAULT_ENCODER, load_encoder_settings


@dataclasses.dataclass(frozen=True)
class TextOptions:
    """What every loader passes on to the preprocessor, as the loaders take them.

    Args:
        maxlen: int. tokens kept per text, [CLS] and [SEP] included.
        encoder: str. the encoder whose vocabulary tokenizes.
        clean: dict, TextCleaner or None. the clean-up before tokenizing.
        truncation: str. "head" or "head+tail".
        verbose: int. 1 prints classes, sizes and truncation.
    """

    maxlen: int = MAXLEN
    encoder: str = DEFAULT_ENCODER
    clean: object = None
    truncation: str = TRUNCATION
    verbose: int = 1


def split_and_build(texts, labels: EncodedLabels, val_pct, random_state, options: TextOptions):
    """Holds out `val_pct` of the rows (stratified), then tokenizes both parts."""
    trn_idx, val_idx = split_indices(labels, check_fraction(val_pct, "val_pct"), check_seed(random_state, "random_state"))
    return build(
        [texts[i] for i in trn_idx], subset_labels(labels, trn_idx),
        [texts[i] for i in val_idx], subset_labels(labels, val_idx), options,
    )


def new_preprocessor(labels: EncodedLabels, options: TextOptions, settings=None, pairs: bool = False
                     ) -> TextPreprocessor:
    """The preprocessor of `options.encoder` (its `EncoderSettings`, read unless given) for the
    classes of `labels`, of single texts or of text pairs."""
    settings = load_encoder_settings(options.encoder) if settings is None else settings
    return TextPreprocessor(
        vocabulary=settings.vocabulary,
        merges=settings.merges,
        proto=settings.proto,
        family=settings.family,
        maxlen=options.maxlen,
        class_names=labels.class_names,
        multilabel=labels.multilabel,
        lowercase=settings.lowercase,
        strip_accents=settings.strip_accents,
        encoder=settings.spec,
        clean=options.clean,
        truncation=options.truncation,
        max_sequence_length=settings.max_sequence_length,
        pairs=pairs,
    )


def build(train_texts, train_labels: EncodedLabels, val_texts, val_labels, options: TextOptions):
    """Tokenizes both splits with a preprocessor for the encoder; returns `(train, val, preproc)`."""
    preproc = new_preprocessor(train_labels, options, pairs=is_pairs(train_texts))
    train = TextData(preproc.preprocess(train_texts), train_labels.y)
    val = None
    if val_texts is not None:
        val = TextData(preproc.preprocess(val_texts), val_labels.y)
    if options.verbose:
        report(train, val, preproc)
    return train, val, preproc


def report(train: TextData, val, preproc: TextPreprocessor) -> None:
    """Prints the classes and their counts, the sizes, and how many texts `maxlen` cuts."""
    names = preproc.get_classes()
    if train.multilabel:
        counts = train.y.sum(axis=0).astype(int)
    else:
        counts = np.bincount(train.y, minlength=len(names))
    per_class = ", ".join(f"{c}: {k}" for c, k in zip(names, counts))
    print(f"classes ({'multi-label' if preproc.multilabel else 'single-label'}): {per_class}")
    print(f"train: {len(train.x)} texts" + (f", validation: {len(val.x)} texts" if val else ""))
    full = float(np.mean(train.x.lengths >= preproc.maxlen))
    print(
        f"maxlen {preproc.maxlen}: {100 * full:.1f}% of training texts reach it (truncated or "
        f"exactly that long); median length {int(np.median(train.x.lengths))} tokens"
    )
